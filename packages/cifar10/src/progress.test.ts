import { describe, expect, it } from "vitest";
import { progressBar } from "./progress.js";

describe("progressBar", () => {
  it("draws percent and sizes on one line, then ends the line", () => {
    const writes: string[] = [];
    const stream = { write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream;
    const bar = progressBar("cifar-10-binary.tar.gz", stream);
    bar.update(50 * 1024 * 1024, 200 * 1024 * 1024);
    bar.update(60 * 1024 * 1024, 200 * 1024 * 1024); // within 100 ms: not redrawn
    bar.done();
    expect(writes).toHaveLength(2);
    expect(writes[0]!.startsWith("\rcifar-10-binary.tar.gz [######------------------]  25% ")).toBe(
      true,
    );
    expect(writes[0]).toMatch(/ 50\.0\/200\.0 MB [\d.]+ MB\/s/);
    // Ends by clearing the rest of the line (ESC [K), so a shorter redraw leaves no tail.
    expect(writes[0]!.endsWith(`${String.fromCharCode(27)}[K`)).toBe(true);
    expect(writes[1]).toBe("\n");
  });

  it("writes nothing at all when nothing was drawn", () => {
    const writes: string[] = [];
    progressBar("x", {
      write: (s: string) => writes.push(s),
    } as unknown as NodeJS.WriteStream).done();
    expect(writes).toEqual([]);
  });
});
