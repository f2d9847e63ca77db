// Shared by the experiment tests (not part of the app): tiny options, and checks that an
// experiment's outputs exist and parse.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { listEventFiles, readEvents } from "@cnnkit/tensorboard";
import { decodePNG } from "@cnnkit/viz";
import { expect } from "vitest";
import { Progress } from "../progress.js";
import { runPaths } from "../run-dir.js";
import { syntheticData } from "../test-helpers.js";
import type { ExperimentOptions } from "./options.js";
import type { ExperimentResult } from "./summary.js";

/** The smallest experiment: 16 synthetic training images, batch 8, narrow widths. */
export function tinyExperiment(out: string, extra: ExperimentOptions = {}): ExperimentOptions {
  return {
    out,
    data: syntheticData(16, 8),
    patch: { widths: [2, 4, 8], batchSize: 8, epochs: 2, backend: "cpu" },
    progress: () => new Progress({ stream: { write: () => true }, live: false, every: 1000 }),
    log: () => {},
    ...extra,
  };
}

/** Every picture decodes, summary.md states every number of summary.json, each arm's events read back. */
export async function expectOutputs(result: ExperimentResult, arms: string[]): Promise<void> {
  expect(result.pictures.length).toBeGreaterThan(0);
  for (const path of result.pictures) {
    const image = decodePNG(new Uint8Array(await readFile(path)));
    expect(image.width).toBeGreaterThan(10);
    expect(image.height).toBeGreaterThan(10);
  }
  const markdown = await readFile(result.summary, "utf8");
  expect(markdown).toMatch(/^# /);
  const numbers = JSON.parse(await readFile(join(result.dir, "summary.json"), "utf8"));
  expect(numbers).toEqual(result.numbers);
  for (const arm of arms) {
    const files = await listEventFiles(runPaths(join(result.dir, arm)).tensorboard);
    expect(files.length).toBeGreaterThan(0);
    const tags = new Set<string>();
    for (const f of files) {
      const { events, truncated } = await readEvents(f);
      expect(truncated).toBeNull();
      for (const e of events) for (const v of e.summary ?? []) tags.add(v.tag);
    }
    expect(tags).toContain("train/loss");
    expect(tags).toContain("test/acc");
    expect((await stat(join(result.dir, arm, "metrics.json"))).isFile()).toBe(true);
  }
}
