import { describe, expect, it } from "vitest";
import { fixtureBytes } from "../test/helpers.js";
import { encodeSafetensors, parseSafetensors, ResNetError, safetensorsToFloat32 } from "./index.js";

/** Hand-built file: header JSON (unpadded) then data. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe("safetensors", () => {
  it("round-trips float32 and int32 tensors with metadata", () => {
    const bytes = encodeSafetensors(
      {
        w: { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, 1e-7, -0]) },
        n: { shape: [2], data: new Int32Array([7, -1]) },
      },
      { format: "pt" },
    );
    // The header is padded so the data starts 8-byte aligned, as the reference writer does.
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    const file = parseSafetensors(bytes);
    expect(file.metadata).toEqual({ format: "pt" });
    expect([...file.tensors.keys()]).toEqual(["w", "n"]);
    expect(file.tensors.get("w")).toMatchObject({ dtype: "F32", shape: [2, 3] });
    expect(Array.from(safetensorsToFloat32(file.tensors.get("w")!, "w"))).toEqual([
      1,
      -2,
      3.5,
      0,
      Math.fround(1e-7),
      -0,
    ]);
    expect(file.tensors.get("n")).toMatchObject({ dtype: "I32", shape: [2] });
  });

  it("reads the PyTorch-written fixture, int64 counters included", () => {
    const file = parseSafetensors(fixtureBytes("resnet20-w4.safetensors"));
    expect(file.tensors.get("conv1.weight")).toMatchObject({ dtype: "F32", shape: [4, 3, 3, 3] });
    expect(file.tensors.get("bn1.num_batches_tracked")).toMatchObject({ dtype: "I64", shape: [] });
    expect(file.tensors.get("linear.weight")).toMatchObject({ dtype: "F32", shape: [10, 16] });
  });

  it.each([
    [
      "a file shorter than 8 bytes",
      new Uint8Array(3),
      "f.safetensors: expected at least 8 bytes (the header length), got 3",
    ],
    [
      "a header longer than the file",
      (() => {
        const b = rawFile({});
        new DataView(b.buffer).setBigUint64(0, 1000n, true);
        return b;
      })(),
      "f.safetensors: header length 1000 does not fit in a 10-byte file (truncated, or not safetensors?)",
    ],
    [
      "a header that is not JSON",
      rawFile("x").map((v, i) => (i === 8 ? 0x7b : v)),
      "the header is not valid UTF-8 JSON",
    ],
    [
      "an unknown dtype",
      rawFile({ t: { dtype: "F12", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
      'tensor "t": unknown dtype "F12"',
    ],
    [
      "truncated data",
      rawFile({ t: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)),
      'tensor "t": data_offsets [0,16] outside the 8 data bytes (truncated file?)',
    ],
    [
      "a size that does not match the shape",
      rawFile({ t: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      'tensor "t": expected 12 bytes for F32[3], got 8',
    ],
    [
      "overlapping tensors",
      rawFile(
        {
          a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
        },
        new Uint8Array(8),
      ),
      'tensors "a" and "b" overlap',
    ],
  ])("refuses %s", (_what, bytes, message) => {
    const call = () => parseSafetensors(bytes, { source: "f.safetensors" });
    expect(call).toThrow(ResNetError);
    expect(call).toThrow(message);
  });

  it("refuses to read a non-F32 tensor as float32, naming it", () => {
    const file = parseSafetensors(
      rawFile({ h: { dtype: "F16", shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)),
    );
    expect(() => safetensorsToFloat32(file.tensors.get("h")!, "h")).toThrow(
      'tensor "h": expected dtype F32, got F16 (convert with .float() in PyTorch before saving)',
    );
  });

  it("refuses to encode data that does not fill the shape", () => {
    expect(() => encodeSafetensors({ t: { shape: [2, 2], data: new Float32Array(3) } })).toThrow(
      'tensor "t": shape [2, 2] holds 4 elements, got 3',
    );
  });
});
