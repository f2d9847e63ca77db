// `cnnkit-train show-batch` in a fresh process: it must choose a backend itself (it used to fail
// with "No backend found in registry", with or without --backend).
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { decodePNG } from "@cnnkit/viz";
import { describe, expect, it } from "vitest";

const appRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

describe("cnnkit-train show-batch", () => {
  it("writes the augmented batch grid in a process with no backend set", {
    timeout: 120_000,
  }, async () => {
    const out = await mkdtemp(join(tmpdir(), "cnnkit-show-batch-"));
    for (const backend of [[], ["--backend", "cpu"]]) {
      const dir = join(out, backend.length ? "cpu" : "auto");
      const child = spawnSync(
        process.execPath,
        [
          "--conditions=@cnnkit/source",
          "--import",
          "tsx",
          "test/cli-child.ts",
          "show-batch",
          "--preset",
          "smoke",
          "--batch-size",
          "16",
          "--out",
          dir,
          ...backend,
        ],
        {
          cwd: appRoot,
          encoding: "utf8",
          env: { ...process.env, CNNKIT_TEST_NO_BACKEND: "1", CNNKIT_TEST_SYNTHETIC: "32,8" },
        },
      );
      expect(child.status, child.stderr).toBe(0);
      expect(child.stdout).toContain(`wrote ${join(dir, "augmented-batch.png")}`);
      const png = decodePNG(new Uint8Array(await readFile(join(dir, "augmented-batch.png"))));
      expect(png.width).toBeGreaterThan(4 * 32);
    }
  });
});
