// The README's example, run as written (only its import of @cnnkit/train pointed at src).
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it, vi } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));

describe("README", () => {
  it("the example trains: six scheduled steps, the loss falls, nothing left behind", async () => {
    const readme = await fs.readFile(path.join(here, "..", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Example"));
    const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code).toContain("trainStep(");
    const file = path.join(here, "..", ".vitest", "readme-example.ts");
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
    const losses = lines.map(([line]) => Number(/loss ([\d.]+)/.exec(String(line))?.[1]));
    expect(losses).toHaveLength(6);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[5]!).toBeLessThan(losses[0]!);
    expect(String(lines[0]![0])).toMatch(
      /^step 0: loss \d\.\d{4}, \d+\/16 correct, norm \d+\.\d\d$/,
    );
    expect(tf.getBackend()).toBe("cpu");
  }, 60_000);
});
