import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FileSink } from "./file-sink.js";
import { SummaryWriter } from "./summary-writer.js";

describe("FileSink's log directory", () => {
  it("is created level by level", async () => {
    const root = await mkdtemp(join(tmpdir(), "tb-sink-"));
    const sink = new FileSink(join(root, "a", "b"));
    sink.write(new Uint8Array([1]));
    sink.close();
    expect(sink.name.startsWith(join(root, "a", "b", "events.out.tfevents."))).toBe(true);
  });

  it("under /proc fails at once naming the folder (Node's recursive mkdir spins there for ever)", () => {
    const started = Date.now();
    expect(() => new SummaryWriter("/proc/cnnkit-tb/run", { flushIntervalMs: 0 })).toThrow(
      /^\/proc\/cnnkit-tb\/run\/events\.out\.tfevents\.[^:]+: expected to create a new event file in \/proc\/cnnkit-tb\/run, got cannot create \/proc\/cnnkit-tb: this file system does not allow creating folders here \(\/proc or \/sys\?\) \(ENOENT\)$/,
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("names a file standing where a folder should be", async () => {
    const root = await mkdtemp(join(tmpdir(), "tb-sink-"));
    await writeFile(join(root, "f"), "x");
    expect(() => new FileSink(join(root, "f", "run"))).toThrow(/ENOTDIR/);
  });
});
