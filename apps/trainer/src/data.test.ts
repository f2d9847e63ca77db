import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "./config.js";
import {
  augmentations,
  balancedSubset,
  loadDataset,
  normalizeStats,
  selectRunData,
} from "./data.js";
import { syntheticSplit } from "./test-helpers.js";

function counts(labels: Uint8Array): number[] {
  const c = new Array(10).fill(0);
  for (const l of labels) c[l]++;
  return c;
}

describe("data", () => {
  it("takes a class-balanced, seeded, copied subset", () => {
    const split = syntheticSplit(200, 3);
    const a = balancedSubset(split, 43, 5);
    expect(a.length).toBe(43);
    expect(a.images.length).toBe(43 * 3072);
    expect(counts(a.labels)).toEqual([5, 5, 5, 4, 4, 4, 4, 4, 4, 4]);
    // Same seed, same subset; another seed, another one.
    expect(balancedSubset(split, 43, 5).images).toEqual(a.images);
    expect(balancedSubset(split, 43, 6).images).not.toEqual(a.images);
    // Each picked image is a real image of the split with its own label.
    const first = a.images.subarray(0, 3072);
    let found = -1;
    for (let i = 0; i < split.length && found < 0; i++) {
      if (split.images.subarray(i * 3072, (i + 1) * 3072).every((v, j) => v === first[j]))
        found = i;
    }
    expect(split.labels[found]).toBe(a.labels[0]);
    expect(balancedSubset(split, 500, 5)).toBe(split);
  });

  it("applies the config's subsets: balanced train, first N test images", () => {
    const data = { train: syntheticSplit(100, 1), test: syntheticSplit(50, 2), classNames: ["a"] };
    const run = selectRunData(data, { trainSubset: 20, testSubset: 7, seed: 0 });
    expect(counts(run.train.labels)).toEqual(new Array(10).fill(2));
    expect(run.test.labels).toEqual(data.test.labels.subarray(0, 7));
    expect(run.test.images).toEqual(data.test.images.subarray(0, 7 * 3072));
    expect(selectRunData(data, { trainSubset: null, testSubset: null, seed: 0 }).train).toBe(
      data.train,
    );
  });

  it("maps the config to augmentations and normalisation", () => {
    expect(augmentations(resolveConfig("seed"))).toHaveLength(2);
    expect(augmentations(resolveConfig("seed", { augment: { cutout: 8 } }))).toHaveLength(3);
    // The fast recipe: translate by 2 (reflect padding), then the alternating flip.
    expect(augmentations(resolveConfig("cpu")).map((a) => a.name)).toEqual([
      expect.stringMatching(/^randomCrop\(padding=2, reflect\)$/),
      "alternatingFlip",
    ]);
    expect(augmentations(resolveConfig("seed", { augment: { crop: false, flip: false } }))).toEqual(
      [],
    );
    expect(normalizeStats(resolveConfig("seed", { normalize: "none" }))).toBe(false);
    expect(normalizeStats(resolveConfig("seed"))).toMatchObject({ mean: [0.4914, 0.4822, 0.4465] });
  });

  it("says in one line how to point at a local copy when the download fails", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cnnkit-offline-"));
    const error = await loadDataset({
      dataDir: dir,
      dataUrl: "http://127.0.0.1:9/cifar-10-binary.tar.gz",
    }).catch((e: unknown) => e as Error & { code: string });
    expect(error).toBeInstanceOf(Error);
    expect((error as { code: string }).code).toBe("data_unavailable");
    const message = (error as Error).message;
    expect(message).not.toContain("\n");
    expect(message).toMatch(
      /^CIFAR-10 could not be downloaded \(.+\)\. Point at a local copy with --data-dir DIR/,
    );
    expect(message).toContain("--data-url URL");
    expect(message).toContain("CNNKIT_DATA_DIR");
  });
});
