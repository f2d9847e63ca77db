import { decode as decodePng, encode as encodePng } from "fast-png";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fixture } from "./__fixtures__/fixtures.js";
import type { EventSink } from "./event-sink.js";
import { MemorySink } from "./memory-sink.js";
import { decodeEvents } from "./read-events.js";
import { SummaryWriter } from "./summary-writer.js";

interface ReferenceSpec {
  wallTimeMs: number;
  events: Array<Record<string, unknown> & { kind: string }>;
}

function memoryWriter(options: { now?: () => number; maxQueue?: number } = {}) {
  const sink = new MemorySink("mem");
  const writer = new SummaryWriter("runs/test", { sink, flushIntervalMs: 0, ...options });
  return { sink, writer };
}

describe("SummaryWriter against the Python protobuf reference file", () => {
  it("writes the same bytes as Google's protobuf runtime plus crcmod, for every kind", async () => {
    const spec = JSON.parse(fixture("python-reference.json").toString("utf8")) as ReferenceSpec;
    const { sink, writer } = memoryWriter({ now: () => spec.wallTimeMs });
    for (const e of spec.events) {
      if (e.kind === "scalar") {
        const value = e.value === "NaN" ? Number.NaN : (e.value as number);
        writer.scalar(e.tag as string, value, e.step as number);
      } else if (e.kind === "histogram") {
        writer.histogram(e.tag as string, e.values as number[], e.step as number);
      } else if (e.kind === "image") {
        writer.image(e.tag as string, Buffer.from(e.pngHex as string, "hex"), e.step as number);
      } else if (e.kind === "text") {
        writer.text(e.tag as string, e.markdown as string, e.step as number);
      } else if (e.kind === "hparams") {
        writer.hparams(
          e.hparams as Record<string, number | string | boolean>,
          e.metrics as Record<string, number>,
        );
      }
    }
    await writer.close();
    const reference = fixture("python-reference.tfevents");
    expect(Buffer.from(sink.bytes()).toString("hex")).toBe(reference.toString("hex"));
  });

  it("reads the reference file back with every CRC verified", () => {
    const { events, truncated } = decodeEvents(fixture("python-reference.tfevents"), "reference");
    expect(truncated).toBeNull();
    expect(events.map((e) => e.fileVersion ?? e.summary?.[0]?.tag)).toEqual([
      "brain.Event:2",
      "train/loss",
      "lr",
      "test/acc",
      "weights/stem_conv",
      "samples",
      "config",
      "_hparams_/session_start_info",
      "hparam/test_acc",
      "_hparams_/session_end_info",
    ]);
    expect(events[6]?.summary?.[0]?.text).toBe("**config**\n- lr: 0.1\n- café ☕");
    expect(events[7]?.summary?.[0]?.hparams).toEqual({
      kind: "session_start_info",
      hparams: { lr: 0.1, optimizer: "adamw", nesterov: true, epochs: 30 },
      groupName: "",
      startTimeSecs: 1700000000.5,
    });
  });
});

describe("SummaryWriter round trips", () => {
  it("starts every file with the brain.Event:2 version record", async () => {
    const { sink, writer } = memoryWriter({ now: () => 5000 });
    await writer.flush();
    expect(decodeEvents(sink.bytes()).events).toEqual([
      { wallTime: 5, step: 0, fileVersion: "brain.Event:2" },
    ]);
    await writer.close();
  });

  it("scalars, NaN and infinities included", async () => {
    const { sink, writer } = memoryWriter();
    const values = [0.5, -3, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    for (const [step, v] of values.entries()) writer.scalar("train/loss", v, step);
    await writer.close();
    const events = decodeEvents(sink.bytes()).events.slice(1);
    expect(events.map((e) => e.step)).toEqual([0, 1, 2, 3, 4]);
    expect(events.map((e) => e.summary?.[0]?.simpleValue)).toEqual(values);
  });

  it("histograms: counts add up and each bucket holds its values", async () => {
    const { sink, writer } = memoryWriter();
    const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 3);
    writer.histogram("weights/stem_conv", values, 7);
    writer.histogram("weights/logits", [1, 2, 3, 4], 7, { bins: 2 });
    await writer.close();
    const [, first, second] = decodeEvents(sink.bytes()).events;
    const h = first?.summary?.[0]?.histo;
    expect(h?.num).toBe(1000);
    expect(h?.bucket.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(h?.min).toBe(Math.min(...values));
    expect(h?.max).toBe(Math.max(...values));
    const sorted = Array.from(values).sort((a, b) => a - b);
    let seen = 0;
    h?.bucketLimit.forEach((limit, i) => {
      seen += h.bucket[i]!;
      // Everything below this bucket's limit is in it or in an earlier one.
      expect(sorted.filter((x) => x < limit).length).toBe(seen);
    });
    expect(second?.summary?.[0]?.histo).toMatchObject({
      min: 1,
      max: 4,
      bucketLimit: [2.5, 4],
      bucket: [2, 2],
    });
  });

  it("images: raw RGB pixels are PNG-encoded and decode back to the same pixels", async () => {
    const { sink, writer } = memoryWriter();
    const data = Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => (i * 37) % 256);
    writer.image("samples/rgb", { data, width: 4, height: 3 }, 1);
    writer.image(
      "samples/gray",
      { data: Uint8Array.of(0, 128, 255, 64), width: 2, height: 2, channels: 1 },
      1,
    );
    writer.image("samples/picture", { toPNG: () => encodeOnePixelPng() }, 1);
    await writer.close();
    const [, rgb, gray, picture] = decodeEvents(sink.bytes()).events;
    const image = rgb?.summary?.[0]?.image;
    expect(image).toMatchObject({ width: 4, height: 3, colorspace: 3 });
    const png = decodePng(image!.encodedImage);
    expect([png.width, png.height, png.channels]).toEqual([4, 3, 3]);
    expect(Array.from(png.data)).toEqual(Array.from(data));
    expect(gray?.summary?.[0]?.image).toMatchObject({ width: 2, height: 2, colorspace: 1 });
    expect(picture?.summary?.[0]?.image).toMatchObject({ width: 1, height: 1, colorspace: 4 });
  });

  it("text: markdown comes back through the text plugin", async () => {
    const { sink, writer } = memoryWriter();
    writer.text("config", "| lr | 0.1 |\n|---|---|", 0);
    await writer.close();
    const value = decodeEvents(sink.bytes()).events[1]?.summary?.[0];
    expect(value?.metadata?.pluginName).toBe("text");
    expect(value?.text).toBe("| lr | 0.1 |\n|---|---|");
  });

  it("hparams: session start, metrics at the last step, session end with the status", async () => {
    const { sink, writer } = memoryWriter({ now: () => 2000 });
    writer.scalar("train/loss", 1, 10);
    writer.hparams(
      { lr: 0.05, arch: "resnet20" },
      { "hparam/best_acc": 0.9 },
      {
        status: "failure",
        groupName: "resnet20-lr0.05",
      },
    );
    await writer.close();
    const events = decodeEvents(sink.bytes()).events.slice(2);
    expect(events.map((e) => [e.summary?.[0]?.tag, e.step])).toEqual([
      ["_hparams_/session_start_info", 0],
      ["hparam/best_acc", 10],
      ["_hparams_/session_end_info", 0],
    ]);
    expect(events[0]?.summary?.[0]?.hparams).toEqual({
      kind: "session_start_info",
      hparams: { lr: 0.05, arch: "resnet20" },
      groupName: "resnet20-lr0.05",
      startTimeSecs: 2,
    });
    expect(events[2]?.summary?.[0]?.hparams).toEqual({
      kind: "session_end_info",
      status: "failure",
      endTimeSecs: 2,
    });
  });
});

describe("SummaryWriter validation", () => {
  it("refuses a second hparams() call, which TensorBoard would ignore", () => {
    const { writer } = memoryWriter();
    writer.hparams({ lr: 0.1 }, {}, { status: "running" });
    expect(() => writer.hparams({ lr: 0.1 })).toThrow(
      expect.objectContaining({
        code: "hparams_already_written",
        message: expect.stringMatching(/^mem: expected one hparams\(\) call per run, got a second/),
      }),
    );
  });

  const { writer } = memoryWriter();

  it.each([
    [
      "an empty tag",
      () => writer.scalar("", 1, 0),
      "invalid_tag",
      /expected a non-empty string tag/,
    ],
    ["a newline in a tag", () => writer.scalar("a\nb", 1, 0), "invalid_tag", /control characters/],
    ["a reserved tag", () => writer.scalar("_hparams_/x", 1, 0), "invalid_tag", /reserves/],
    ["a fractional step", () => writer.scalar("a", 1, 1.5), "invalid_step", /got 1\.5/],
    ["a negative step", () => writer.scalar("a", 1, -1), "invalid_step", /got -1/],
    [
      "a string scalar",
      () => writer.scalar("a", "1" as unknown as number, 0),
      "invalid_value",
      /got string "1"/,
    ],
    [
      "an empty histogram",
      () => writer.histogram("w", [], 0),
      "invalid_value",
      /at least one value, got 0/,
    ],
    ["bad bins", () => writer.histogram("w", [1], 0, { bins: 0 }), "invalid_option", /bins/],
    [
      "non-PNG bytes",
      () => writer.image("i", Uint8Array.of(1, 2, 3), 0),
      "invalid_image",
      /expected PNG bytes/,
    ],
    [
      "pixels of the wrong length",
      () => writer.image("i", { data: new Uint8Array(10), width: 2, height: 2 }, 0),
      "invalid_image",
      /expected 12 bytes \(2×2×3 HWC\), got 10/,
    ],
    [
      "float pixels",
      () =>
        writer.image(
          "i",
          { data: new Float32Array(12) as unknown as Uint8Array, width: 2, height: 2 },
          0,
        ),
      "invalid_image",
      /Uint8Array/,
    ],
    [
      "a non-string text",
      () => writer.text("t", 3 as unknown as string, 0),
      "invalid_value",
      /markdown string/,
    ],
    [
      "a NaN hparam",
      () => writer.hparams({ lr: Number.NaN }),
      "invalid_value",
      /hparams "lr": expected .* finite number/,
    ],
    [
      "an unknown status",
      () => writer.hparams({}, {}, { status: "done" as "success" }),
      "invalid_option",
      /status/,
    ],
    [
      "an inherited property as status",
      () => writer.hparams({}, {}, { status: "toString" as "success" }),
      "invalid_option",
      /status/,
    ],
  ])("rejects %s", (_name, call, code, message) => {
    expect(call).toThrow(
      expect.objectContaining({ code, message: expect.stringMatching(message) }),
    );
  });

  it("rejects non-finite histogram values, naming the tag, the value and where it is", () => {
    const values = new Float32Array([0.1, 0.2, Number.NaN, 0.3, Number.POSITIVE_INFINITY]);
    expect(() => writer.histogram("weights/stage1_block1_conv1", values, 3)).toThrow(
      expect.objectContaining({
        code: "non_finite_histogram",
        message:
          'histogram "weights/stage1_block1_conv1": expected finite values, got NaN at index 2 (2 of 5 values are not finite; diverged training?)',
      }),
    );
  });

  it("rejects bad options once, at construction", () => {
    expect(() => new SummaryWriter("", {})).toThrow(
      expect.objectContaining({ code: "invalid_option" }),
    );
    expect(() => new SummaryWriter("x", { sink: new MemorySink(), flushIntervalMs: -1 })).toThrow(
      expect.objectContaining({
        code: "invalid_option",
        message: expect.stringContaining("flushIntervalMs"),
      }),
    );
    expect(() => new SummaryWriter("x", { sink: new MemorySink(), maxQueue: 0 })).toThrow(
      expect.objectContaining({
        code: "invalid_option",
        message: expect.stringContaining("maxQueue"),
      }),
    );
  });
});

describe("SummaryWriter flushing and closing", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("flushes on its interval, so a crash loses at most the last interval", async () => {
    vi.useFakeTimers();
    const sink = new MemorySink();
    const writer = new SummaryWriter("runs/x", { sink, flushIntervalMs: 1000 });
    await vi.advanceTimersByTimeAsync(0);
    writer.scalar("a", 1, 1);
    await vi.advanceTimersByTimeAsync(999);
    expect(decodeEvents(sink.bytes()).events).toHaveLength(1); // the version record only
    await vi.advanceTimersByTimeAsync(1);
    expect(decodeEvents(sink.bytes()).events).toHaveLength(2);
    await writer.close();
  });

  it("flushes as soon as maxQueue events are queued", async () => {
    const { sink, writer } = memoryWriter({ maxQueue: 3 });
    await writer.flush();
    writer.scalar("a", 1, 1);
    writer.scalar("a", 2, 2);
    await Promise.resolve();
    expect(decodeEvents(sink.bytes()).events).toHaveLength(1);
    writer.scalar("a", 3, 3);
    await vi.waitFor(() => expect(decodeEvents(sink.bytes()).events).toHaveLength(4));
    await writer.close();
  });

  it("close() flushes, closes the sink, is idempotent, and logging afterwards throws", async () => {
    const { sink, writer } = memoryWriter();
    writer.scalar("a", 1, 1);
    await Promise.all([writer.close(), writer.close()]);
    expect(sink.closed).toBe(true);
    expect(decodeEvents(sink.bytes()).events).toHaveLength(2);
    expect(() => writer.scalar("a", 2, 2)).toThrow(expect.objectContaining({ code: "closed" }));
  });

  it("a failing sink surfaces on flush() and on the next log call", async () => {
    let calls = 0;
    const sink: EventSink = {
      name: "disk-full",
      write() {
        calls += 1;
        if (calls > 1) throw new Error("ENOSPC: no space left on device");
      },
    };
    const writer = new SummaryWriter("runs/x", { sink, flushIntervalMs: 0 });
    await writer.flush();
    writer.scalar("a", 1, 1);
    await expect(writer.flush()).rejects.toMatchObject({
      code: "write_failed",
      message: expect.stringMatching(/^disk-full: .*ENOSPC/),
    });
    expect(() => writer.scalar("a", 2, 2)).toThrow(
      expect.objectContaining({ code: "write_failed" }),
    );
    await expect(writer.close()).rejects.toMatchObject({ code: "write_failed" });
  });
});

// A 1×1 RGBA PNG, as a picture's toPNG() would return it.
function encodeOnePixelPng(): Uint8Array {
  return encodePng({ width: 1, height: 1, data: Uint8Array.of(10, 20, 30, 255), channels: 4 });
}
