// The README's examples, run as written (only their import of @cnnkit/train pointed at src).
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it, vi } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));

/** Runs the first ts block after `heading` in the README as `.vitest/<name>`; returns what it logged. */
async function runReadmeBlock(heading: string, name: string): Promise<unknown[][]> {
  const readme = await fs.readFile(path.join(here, "..", "README.md"), "utf8");
  const section = readme.slice(readme.indexOf(heading));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(code).toContain("trainStep(");
  const file = path.join(here, "..", ".vitest", name);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(
    file,
    code!.replace('"@cnnkit/train"', JSON.stringify(path.join(here, "index.ts"))),
  );
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  let lines: unknown[][];
  try {
    await import(file);
  } finally {
    lines = [...log.mock.calls]; // (mockRestore forgets them)
    log.mockRestore();
  }
  return lines;
}

describe("README", () => {
  it("the example trains: six scheduled steps, the loss falls, nothing left behind", async () => {
    const lines = await runReadmeBlock("## Example", "readme-example.ts");
    const losses = lines.map(([line]) => Number(/loss ([\d.]+)/.exec(String(line))?.[1]));
    expect(losses).toHaveLength(6);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[5]!).toBeLessThan(losses[0]!);
    expect(String(lines[0]![0])).toMatch(
      /^step 0: loss \d\.\d{4}, \d+\/16 correct, norm \d+\.\d\d$/,
    );
    expect(tf.getBackend()).toBe("cpu");
  }, 60_000);

  it("the mixed-precision example: gradients flush to zero without loss scaling, not with it", async () => {
    const lines = (await runReadmeBlock("### Mixed precision", "readme-float16.ts")).map(([l]) =>
      String(l),
    );
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^no loss scaling: loss \d\.\d{4}, scale 1, /);
    expect(lines[1]).toMatch(/^dynamic loss scaling: loss \d\.\d{4}, scale 65536, /);
    const lost = lines.map((l) => Number(/([\d.]+)% of activation gradients/.exec(l)?.[1]));
    expect(lost[0]).toBeGreaterThan(0);
    expect(lost[1]).toBe(0);
  }, 120_000);
});
