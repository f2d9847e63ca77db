import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  findArtifact,
  MANIFEST_FORMAT_VERSION,
  type Manifest,
  readManifest,
  validateManifest,
} from "./manifest.js";

const good: Manifest = {
  formatVersion: MANIFEST_FORMAT_VERSION,
  createdAt: "2026-01-01T00:00:00.000Z",
  classNames: ["a", "b"],
  input: { shape: [32, 32, 3], layout: "NHWC", dtype: "float32", channelOrder: "RGB" },
  output: { kind: "logits", classes: 2 },
  normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  preprocessing: { resize: "stretch", filter: "area-bilinear", pixelScale: 255, steps: [] },
  metrics: {},
  versions: {},
  model: { name: "m", parameters: 1 },
  artifacts: [
    { name: "tfjs", format: "tfjs-layers", path: "model.json", bytes: 1, weights: "float32" },
  ],
};

describe("manifest", () => {
  it("accepts a valid manifest", () => {
    expect(validateManifest(structuredClone(good), "manifest.json")).toEqual(good);
  });

  it("refuses a manifest from a newer format, naming the file and both versions", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cnnkit-manifest-"));
    await writeFile(
      join(dir, "manifest.json"),
      JSON.stringify({ ...good, formatVersion: MANIFEST_FORMAT_VERSION + 1 }),
    );
    await expect(readManifest(dir)).rejects.toMatchObject({
      code: "manifest_too_new",
      message: expect.stringMatching(
        new RegExp(
          `manifest\\.json: formatVersion ${MANIFEST_FORMAT_VERSION + 1} is newer .*\\(up to ${MANIFEST_FORMAT_VERSION}`,
        ),
      ),
    });
  });

  it("names the file when it is missing or not JSON", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cnnkit-manifest-"));
    await expect(readManifest(dir)).rejects.toMatchObject({
      code: "missing_file",
      message: expect.stringContaining(join(dir, "manifest.json")),
    });
    await writeFile(join(dir, "manifest.json"), "{ not json");
    await expect(readManifest(dir)).rejects.toMatchObject({
      code: "invalid_manifest",
      message: expect.stringContaining("expected JSON"),
    });
  });

  it("refuses statistics that do not match the channels", () => {
    const bad = { ...structuredClone(good), normalization: { mean: [0.5], std: [0.25] } };
    expect(() => validateManifest(bad, "x/manifest.json")).toThrow(
      /x\/manifest\.json: expected normalization\.mean and \.std with 3 numbers each/,
    );
    const zero = { ...structuredClone(good), normalization: { mean: [0, 0, 0], std: [1, 0, 1] } };
    expect(() => validateManifest(zero, "m.json")).toThrow(/std > 0/);
  });

  it("lists what an export holds when an artifact is missing", () => {
    expect(() => findArtifact(good, "onnx", "/exp")).toThrow(
      '/exp/manifest.json: expected an artifact "onnx", the export holds "tfjs"',
    );
  });
});
