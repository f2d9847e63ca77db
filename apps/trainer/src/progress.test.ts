import { describe, expect, it } from "vitest";
import { formatDuration, Progress, type ProgressStep } from "./progress.js";

function sink(isTTY: boolean) {
  const out: string[] = [];
  return { out, stream: { isTTY, columns: 160, write: (s: string) => out.push(s) } };
}

const step = (s: number): ProgressStep => ({
  epoch: 1,
  epochs: 2,
  step: s,
  stepsPerEpoch: 10,
  loss: 1.23456,
  accuracy: 0.5,
  lr: 3e-4,
  imagesPerSecond: 12.5,
});

describe("Progress", () => {
  it("prints plain lines every N steps and at the epoch's end without a TTY", () => {
    const { out, stream } = sink(false);
    const p = new Progress({ stream, every: 4 });
    for (let s = 1; s <= 10; s++) p.update(step(s));
    expect(out).toHaveLength(3); // steps 4, 8 and 10
    expect(out[0]).toMatch(
      /^epoch 1\/2\s+4\/10\s+loss 1\.2346\s+acc 50\.0%\s+lr 3\.00e-4\s+12\.5 img\/s/,
    );
    expect(out.every((l) => l.endsWith("\n") && !l.includes("\r"))).toBe(true);
  });

  it("redraws one line with a bar on a TTY and clears it for messages", () => {
    const { out, stream } = sink(true);
    const p = new Progress({ stream });
    p.update(step(5));
    expect(out[0]?.startsWith("\r\x1b[2K")).toBe(true);
    expect(out[0]).toMatch(/epoch 1\/2\s+5\/10 \[█+·+\]/);
    p.line("saved checkpoint");
    expect(out.slice(1)).toEqual(["\r\x1b[2K", "saved checkpoint\n"]);
    p.done();
    expect(out).toHaveLength(3);
  });

  it("formats durations", () => {
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(61)).toBe("1:01");
    expect(formatDuration(3725)).toBe("1:02:05");
    expect(formatDuration(Number.NaN)).toBe("--:--");
  });
});
