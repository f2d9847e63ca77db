import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { listEventFiles, readEvents } from "./read-events.js";
import { SummaryWriter } from "./summary-writer.js";

const root = mkdtempSync(join(tmpdir(), "cnnkit-tensorboard-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("SummaryWriter with the default file sink", () => {
  it("creates events.out.tfevents.<secs>.<host>.<pid>.<n> in a new logdir and reads back", async () => {
    const logdir = join(root, "runs", "resnet20");
    const writer = new SummaryWriter(logdir, { now: () => 1_700_000_000_000 });
    expect(basename(writer.path)).toMatch(
      new RegExp(`^events\\.out\\.tfevents\\.1700000000\\.[^.]+.*\\.${process.pid}\\.\\d+$`),
    );
    writer.scalar("train/loss", 2.3, 1);
    writer.text("config", "lr = 0.1", 0);
    await writer.close();
    expect(await listEventFiles(logdir)).toEqual([writer.path]);
    const { events, truncated } = await readEvents(writer.path);
    expect(truncated).toBeNull();
    expect(events.map((e) => e.fileVersion ?? e.summary?.[0]?.tag)).toEqual([
      "brain.Event:2",
      "train/loss",
      "config",
    ]);
  });

  it("keeps two writers on one logdir in separate files", async () => {
    const logdir = join(root, "two");
    const a = new SummaryWriter(logdir);
    const b = new SummaryWriter(logdir);
    await Promise.all([a.close(), b.close()]);
    expect(a.path).not.toBe(b.path);
    expect(await listEventFiles(logdir)).toHaveLength(2);
  });

  it("reads the records before a truncated last record and reports where it starts", async () => {
    const logdir = join(root, "truncated");
    const writer = new SummaryWriter(logdir);
    for (let step = 0; step < 3; step++) writer.scalar("loss", 1 / (step + 1), step);
    await writer.close();
    const full = readFileSync(writer.path);
    truncateSync(writer.path, full.length - 5);
    const { events, truncated } = await readEvents(writer.path);
    expect(events.map((e) => e.step)).toEqual([0, 0, 1]);
    // The step-2 record: 12 header + 26 event bytes (wall_time 9, step 2, summary 15) + 4 footer.
    expect(truncated).toEqual({ offset: full.length - 42, expectedBytes: 42, availableBytes: 37 });
  });

  it("rejects a corrupted file with the path and offset", async () => {
    const path = join(root, "events.out.tfevents.corrupt");
    const writer = new SummaryWriter(join(root, "corrupt"));
    writer.scalar("loss", 1, 1);
    await writer.close();
    const bytes = readFileSync(writer.path);
    bytes[bytes.length - 6] = bytes[bytes.length - 6]! ^ 0xff;
    writeFileSync(path, bytes);
    await expect(readEvents(path)).rejects.toMatchObject({
      code: "corrupt_record",
      message: expect.stringContaining(`${path}: record data at byte`),
    });
  });

  it("names the path when a file cannot be read, with a hint for directories", async () => {
    await expect(readEvents(root)).rejects.toMatchObject({
      code: "unreadable_file",
      message: expect.stringContaining("listEventFiles()"),
    });
  });
});

describe("crashes", () => {
  // A child process logs, flushes, logs more, then dies in a way that runs no cleanup.
  const script = fileURLToPath(new URL("./__fixtures__/crash-child.ts", import.meta.url));
  const run = (logdir: string, mode: string) =>
    execFileSync(
      process.execPath,
      ["--conditions=@cnnkit/source", "--import", "tsx", script, logdir, mode],
      { stdio: "pipe" },
    );

  it("a killed process loses only the events after the last flush; earlier records stay intact", async () => {
    const logdir = join(root, "killed");
    expect(() => run(logdir, "kill")).toThrow(); // SIGKILL: non-zero exit
    const [file] = await listEventFiles(logdir);
    const { events, truncated } = await readEvents(file!);
    expect(truncated).toBeNull();
    expect(events.map((e) => e.step)).toEqual([0, 1, 2]);
  });

  it("a process that exits without close() still saves its queue from the exit hook", async () => {
    const logdir = join(root, "exited");
    run(logdir, "exit");
    const [file] = await listEventFiles(logdir);
    const { events } = await readEvents(file!);
    expect(events.map((e) => e.step)).toEqual([0, 1, 2, 3, 4]);
  });
});
