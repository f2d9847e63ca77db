// The README's fast-recipe example, run as written (only its import of @cnnkit/optim pointed at src).
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it, vi } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));

describe("README", () => {
  it("the fast-recipe program runs and its loss falls", async () => {
    const readme = await fs.readFile(path.join(here, "..", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## The fast recipe"));
    const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code).toContain("decoupledSGD(");
    expect(code).toContain("new Lookahead(");
    const file = path.join(here, "..", ".vitest", "readme-fast-recipe.ts");
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(
      file,
      code!.replace('"@cnnkit/optim"', JSON.stringify(path.join(here, "index.ts"))),
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
    expect(losses).toHaveLength(5);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[4]!).toBeLessThan(losses[0]! - 0.1);
    expect(tf.getBackend()).toBe("cpu");
  });
});
