// The README's example, run as written (only its import of @cnnkit/errors pointed at src).
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));

describe("README", () => {
  it("the example matches its error by isInstance and code", async () => {
    const readme = await fs.readFile(path.join(here, "..", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Example"));
    const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code).toContain("CacheError.isInstance(error)");
    const file = path.join(here, "..", ".vitest", "readme-example.ts");
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(
      file,
      code!.replace('"@cnnkit/errors"', JSON.stringify(path.join(here, "index.ts"))),
    );
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    let lines: unknown[][];
    try {
      await import(file);
    } finally {
      lines = [...log.mock.calls];
      log.mockRestore();
    }
    expect(lines).toEqual([
      ["caching off: /data/cache: expected a writable folder, got a read-only one"],
    ]);
  });
});

describe("the package", () => {
  it("imports nothing, so it runs in a browser with no dependencies", async () => {
    const files = (await fs.readdir(here)).filter(
      (f) => f.endsWith(".ts") && !f.endsWith(".test.ts"),
    );
    expect(files).toContain("cnnkit-error.ts");
    for (const f of files) {
      const source = await fs.readFile(path.join(here, f), "utf8");
      const imports = [...source.matchAll(/\bfrom\s+"([^"]+)"|\bimport\(\s*"([^"]+)"/g)].map(
        (m) => m[1] ?? m[2],
      );
      expect(
        imports.filter((i) => !i!.startsWith("./")),
        f,
      ).toEqual([]);
      expect(source, f).not.toMatch(/\bprocess\.|\bBuffer\b|\brequire\(/);
    }
  });
});
