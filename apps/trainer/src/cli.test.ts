import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "./cli.js";

async function run(argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, {
    stdout: { write: (s: string) => stdout.push(s) },
    stderr: { write: (s: string) => stderr.push(s) },
  });
  return { code, stdout: stdout.join(""), stderr: stderr.join("") };
}

describe("cnnkit-train", () => {
  it("prints --help and exits 0", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cnnkit-train — train a ResNet on CIFAR-10/);
    expect(r.stdout).toContain("--resume RUN_DIR");
  });

  it("reports bad flags and bad options in one line with exit code 2", async () => {
    const flag = await run(["--epochs", "two"]);
    expect(flag).toMatchObject({ code: 2, stdout: "" });
    expect(flag.stderr).toBe('cnnkit-train: --epochs: expected a number, got "two"\n');
    const option = await run(["--preset", "smoke", "--max-lr=-1"]);
    expect(option.code).toBe(2);
    expect(option.stderr).toBe("cnnkit-train: maxLr: expected a number > 0, got -1\n");
    expect((await run(["train", "--bogus"])).code).toBe(2);
    expect((await run(["fly"])).stderr).toContain('unknown command "fly"');
  });

  it("says how to use a local copy when CIFAR-10 cannot be downloaded", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cnnkit-cli-offline-"));
    const r = await run([
      "--preset",
      "smoke",
      "--backend",
      "cpu",
      "--data-dir",
      join(dir, "cache"),
      "--data-url",
      "http://127.0.0.1:9/cifar-10-binary.tar.gz",
      "--out",
      join(dir, "run"),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^cnnkit-train: CIFAR-10 could not be downloaded .*--data-dir DIR.*--data-url URL.*CNNKIT_DATA_DIR/,
    );
  });

  it("refuses eval of a directory that is not a run", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cnnkit-cli-eval-"));
    const r = await run(["eval", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /config\.json: expected the config\.json of a cnnkit-train run directory/,
    );
    expect((await run(["predict"])).stderr).toContain("predict: expected EXPORT_DIR IMAGE");
  });
});
