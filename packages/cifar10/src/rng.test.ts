import { describe, expect, it } from "vitest";
import { Cifar10Error, Rng } from "./index.js";

const draw = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.nextUint32());

describe("Rng", () => {
  it("repeats its stream for the same seed and streams, and differs otherwise", () => {
    expect(draw(new Rng(42), 8)).toEqual(draw(new Rng(42), 8));
    expect(draw(new Rng(42, 1, 5), 8)).toEqual(draw(new Rng(42, 1, 5), 8));
    expect(draw(new Rng(42), 8)).not.toEqual(draw(new Rng(43), 8));
    expect(draw(new Rng(42, 1, 5), 8)).not.toEqual(draw(new Rng(42, 1, 6), 8));
    expect(draw(new Rng(42, 1, 5), 8)).not.toEqual(draw(new Rng(42, 2, 5), 8));
    // Seeds that differ only above 2^32 still give different streams.
    expect(draw(new Rng(2 ** 32 + 1), 4)).not.toEqual(draw(new Rng(1), 4));
  });

  it("resumes exactly from a JSON round trip of its state", () => {
    const rng = new Rng(7);
    draw(rng, 13);
    const saved = JSON.parse(JSON.stringify(rng.getState()));
    const expected = draw(rng, 10);
    expect(draw(new Rng(saved), 10)).toEqual(expected);
    const other = new Rng(99);
    other.setState(saved);
    expect(draw(other, 10)).toEqual(expected);
  });

  it("draws floats in [0, 1) and unbiased integers in [0, n)", () => {
    const rng = new Rng(3);
    const counts = new Array(6).fill(0);
    let outside = 0;
    for (let i = 0; i < 60_000; i++) {
      const f = rng.next();
      if (!(f >= 0 && f < 1)) outside++;
      counts[rng.int(6)]++;
    }
    expect(outside).toBe(0);
    // Each bucket expects 10,000; 5 sigma is about 456.
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(460);
  });

  it("shuffles into a permutation determined by the seed", () => {
    const a = new Rng(5).shuffle(Int32Array.from({ length: 50 }, (_, i) => i));
    const b = new Rng(5).shuffle(Int32Array.from({ length: 50 }, (_, i) => i));
    expect([...a]).toEqual([...b]);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect([...a]).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it("rejects bad seeds and states with a Cifar10Error", () => {
    expect(() => new Rng(-1)).toThrow(/seed: expected a non-negative safe integer, got -1/);
    expect(() => new Rng(1.5)).toThrow(Cifar10Error);
    expect(() => new Rng(1, -2)).toThrow(/stream 0/);
    expect(() => new Rng({ algorithm: "sfc32", state: [1, 2, 3] } as never)).toThrow(
      /expected \{ algorithm: "sfc32", state: \[4 uint32s\] \}/,
    );
    expect(() => new Rng(1).int(0)).toThrow(/Rng.int: expected an integer in \[1, 2\^32\], got 0/);
  });
});
