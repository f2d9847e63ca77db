import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { expectedImage, py2Batch, py2Meta, record } from "../test/helpers.js";
import { CIFAR10_CLASS_NAMES } from "./constants.js";
import { decodePyBatch, decodePyMeta } from "./decode-py.js";
import { Cifar10Error } from "./errors.js";
import { readPickle } from "./read-pickle.js";

function planar(ids: number[]): { data: Uint8Array; labels: number[] } {
  const data = new Uint8Array(ids.length * 3072);
  const labels: number[] = [];
  ids.forEach((id, r) => {
    const rec = record(id);
    data.set(rec.subarray(1), r * 3072);
    labels.push(rec[0]!);
  });
  return { data, labels };
}

function decode(bytes: Uint8Array, n: number) {
  const images = new Uint8Array(n * 3072);
  const labels = new Uint8Array(n);
  decodePyBatch(bytes, "data_batch_1", n, images, labels, 0);
  return { images, labels };
}

describe("decodePyBatch", () => {
  it("reads a batch pickled the way Python 2's cPickle wrote cifar-10-batches-py", () => {
    const { data, labels } = planar([0, 1, 2]);
    const out = decode(py2Batch(data, labels), 3);
    expect([...out.labels]).toEqual(labels);
    for (let i = 0; i < 3; i++) {
      expect([...out.images.subarray(i * 3072, (i + 1) * 3072)]).toEqual([...expectedImage(i)]);
    }
  });

  it.each([3, 4])("reads a batch pickled by Python 3 + numpy with protocol %i", (protocol) => {
    const bytes = readFileSync(
      new URL(`./__fixtures__/py3-protocol${protocol}-batch.pkl`, import.meta.url),
    );
    const out = decode(bytes, 2);
    expect([...out.labels]).toEqual([3, 7]);
    expect([...out.images.subarray(0, 3072)]).toEqual([...expectedImage(0)]);
    expect([...out.images.subarray(3072)]).toEqual([...expectedImage(1)]);
  });

  it("reads the class names of batches.meta", () => {
    expect(decodePyMeta(py2Meta(), "batches.meta")).toEqual([...CIFAR10_CLASS_NAMES]);
  });

  it("rejects a label above 9, naming the file and record", () => {
    const { data } = planar([0, 1]);
    expect(() => decode(py2Batch(data, [1, 12]), 2)).toThrow(
      /data_batch_1: record 1 has label 12, expected 0–9/,
    );
  });

  it("rejects arrays of the wrong shape or dtype, and too few labels", () => {
    const { data, labels } = planar([0, 1]);
    expect(() => decode(py2Batch(data, labels), 3)).toThrow(
      /expected "data" to be a C-order uint8 array of 3×3072, got u1 2×3072/,
    );
    expect(() => decode(py2Batch(data, [1]), 2)).toThrow(/data_batch_1: expected 2 labels, got 1/);
    expect(() => decode(py2Batch(data, labels, { dtype: "f4" }), 2)).toThrow(
      /expected "data" to be a C-order uint8 array of 2×3072, got f4 2×3072/,
    );
  });
});

describe("readPickle", () => {
  const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

  it("refuses any global but numpy's array reconstructors, and calls nothing", () => {
    // The classic payload: os.system("echo pwned").
    const evil = enc("\x80\x02cos\nsystem\nq\x00U\x0aecho pwned\x85R.");
    expect(() => readPickle(evil, "data_batch_1")).toThrow(
      /data_batch_1: refused global "os.system" \(only numpy arrays are accepted\) at byte/,
    );
    const builtins = enc("\x80\x02c__builtin__\neval\n.");
    expect(() => readPickle(builtins, "x")).toThrow(Cifar10Error);
  });

  it("refuses opcodes outside the batches' vocabulary and truncated input", () => {
    expect(() => readPickle(enc("\x80\x02I42\n."), "f")).toThrow(
      /f: unsupported pickle opcode 0x49 at byte 2/,
    );
    expect(() => readPickle(enc("\x80\x02}q\x00(U\x04da"), "f")).toThrow(
      /expected 4 more bytes, file ends/,
    );
    expect(() => readPickle(enc("\x80\x05}."), "f")).toThrow(/unsupported pickle protocol/);
  });

  it("builds plain dicts, lists and tuples", () => {
    const value = readPickle(
      enc("\x80\x02}q\x00(U\x01a]q\x01(K\x01K\x02M\x00\x01eU\x01bK\x03K\x04\x86u."),
      "f",
    );
    expect(value).toEqual(
      new Map<string, unknown>([
        ["a", [1, 2, 256]],
        ["b", { kind: "tuple", items: [3, 4] }],
      ]),
    );
  });
});
