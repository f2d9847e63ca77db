import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as tf from "@tensorflow/tfjs-core";
import { beforeEach, describe, expect, it } from "vitest";
import { loadArtifacts, saveArtifacts, specBytes } from "./file-io.js";

const specs: tf.io.WeightsManifestEntry[] = [
  { name: "a/kernel", shape: [2, 3], dtype: "float32" },
  { name: "a/q", shape: [5], dtype: "float32", quantization: { dtype: "uint8", min: 0, scale: 1 } },
];
const data = new Uint8Array(6 * 4 + 5).map((_, i) => i);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "cnnkit-io-"));
  await saveArtifacts(dir, {
    modelTopology: { class_name: "Model" },
    weightSpecs: specs,
    weightData: data.buffer.slice(0),
  });
});

describe("saveArtifacts / loadArtifacts", () => {
  it("round-trips topology, specs and weight bytes", async () => {
    expect(specBytes(specs[1] as tf.io.WeightsManifestEntry)).toBe(5);
    const a = await loadArtifacts(join(dir, "model.json"));
    expect(a.modelTopology).toEqual({ class_name: "Model" });
    expect(a.weightSpecs).toEqual(specs);
    expect(new Uint8Array(a.weightData as ArrayBuffer)).toEqual(data);
    const json = JSON.parse(await readFile(join(dir, "model.json"), "utf8"));
    expect(json.weightsManifest[0].paths).toEqual(["group1-shard1of1.bin"]);
  });

  it("names model.json when it is missing or corrupt", async () => {
    await expect(loadArtifacts(join(dir, "nope.json"))).rejects.toMatchObject({
      code: "missing_file",
      message: expect.stringContaining(join(dir, "nope.json")),
    });
    await writeFile(join(dir, "model.json"), '{"modelTopology": ');
    await expect(loadArtifacts(join(dir, "model.json"))).rejects.toMatchObject({
      code: "corrupt_model_json",
      message: expect.stringMatching(/model\.json: expected tfjs model JSON/),
    });
    await writeFile(join(dir, "model.json"), "[1, 2]");
    await expect(loadArtifacts(join(dir, "model.json"))).rejects.toMatchObject({
      code: "corrupt_model_json",
    });
  });

  it("names a missing shard", async () => {
    await rm(join(dir, "group1-shard1of1.bin"));
    await expect(loadArtifacts(join(dir, "model.json"))).rejects.toMatchObject({
      code: "missing_shard",
      message: expect.stringMatching(
        /group1-shard1of1\.bin: weight shard listed in model\.json is missing \(ENOENT\)/,
      ),
    });
  });

  it("names a shard of the wrong size with expected and received bytes", async () => {
    await truncate(join(dir, "group1-shard1of1.bin"), 20);
    await expect(loadArtifacts(join(dir, "model.json"))).rejects.toMatchObject({
      code: "shard_size",
      message: expect.stringMatching(
        /group1-shard1of1\.bin: expected 29 bytes of weights for 2 tensors in model\.json, got 20/,
      ),
    });
  });

  it("refuses weight paths that leave the model directory", async () => {
    const json = JSON.parse(await readFile(join(dir, "model.json"), "utf8"));
    json.weightsManifest[0].paths = ["../../etc/passwd"];
    await writeFile(join(dir, "model.json"), JSON.stringify(json));
    await expect(loadArtifacts(join(dir, "model.json"))).rejects.toThrow(
      /leaves the model directory/,
    );
  });
});
