// A small seeded PRNG whose whole state is four uint32s, so a run can save it and resume exactly.
import { Cifar10Error } from "./errors.js";

/** The serialisable state of an {@link Rng}: plain JSON, safe to put in a checkpoint. */
export interface RngState {
  readonly algorithm: "sfc32";
  readonly state: readonly [number, number, number, number];
}

// splitmix32 spreads arbitrary (possibly tiny, consecutive) seeds over the whole state space,
// so seeds 0, 1, 2 give unrelated streams.
function splitmix32(x: number): [number, number] {
  let z = (x + 0x9e3779b9) | 0;
  let t = z ^ (z >>> 16);
  t = Math.imul(t, 0x21f0aaad);
  t ^= t >>> 15;
  t = Math.imul(t, 0x735a2d97);
  t ^= t >>> 15;
  z = z | 0;
  return [t >>> 0, z];
}

function checkSeedPart(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Cifar10Error(
      "invalid_option",
      `${what}: expected a non-negative safe integer, got ${String(value)}`,
    );
  }
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): fast in JS, passes PractRand,
 * and its state is 128 bits that {@link Rng.getState} hands out as JSON.
 */
export class Rng {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  /**
   * @param seed a non-negative integer, or a state from {@link Rng.getState} to resume from.
   * @param streams extra integers mixed into the seed (epoch, step, …): `new Rng(seed, 3, 7)`
   *   is a stream independent of `new Rng(seed, 3, 8)`, so a batch's randomness depends only on
   *   where it is, never on how many numbers were drawn before it.
   */
  constructor(seed: number | RngState = 0, ...streams: number[]) {
    if (typeof seed === "object") {
      this.setState(seed);
      return;
    }
    checkSeedPart(seed, "seed");
    let h = 0x2545f491;
    for (const [i, part] of [seed, ...streams].entries()) {
      if (i > 0) checkSeedPart(part, `stream ${i - 1}`);
      // Mix high and low 32-bit halves so seeds above 2^32 still matter.
      const hi = Math.floor(part / 0x100000000);
      h = splitmix32(h ^ (part >>> 0))[0];
      h = splitmix32(h ^ hi ^ (i * 0x632be5ab))[0];
    }
    let s = h;
    [this.a, s] = splitmix32(s);
    [this.b, s] = splitmix32(s);
    [this.c, s] = splitmix32(s);
    this.d = 1;
    // Warm up: sfc32 mixes poorly in its first few outputs.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1) with 32 random bits. */
  next(): number {
    return this.nextUint32() / 0x100000000;
  }

  /** An integer in [0, n), unbiased (rejection sampling), for 1 ≤ n ≤ 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x100000000) {
      throw new Cifar10Error(
        "invalid_option",
        `Rng.int: expected an integer in [1, 2^32], got ${n}`,
      );
    }
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** The generator's state as plain JSON. */
  getState(): RngState {
    return { algorithm: "sfc32", state: [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0] };
  }

  /** Restores a state from {@link Rng.getState}; the next numbers repeat those that followed it. */
  setState(state: RngState): void {
    const s = state?.state;
    if (
      state?.algorithm !== "sfc32" ||
      !Array.isArray(s) ||
      s.length !== 4 ||
      !s.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff)
    ) {
      throw new Cifar10Error(
        "invalid_rng_state",
        `Rng state: expected { algorithm: "sfc32", state: [4 uint32s] }, got ${JSON.stringify(state)}`,
      );
    }
    [this.a, this.b, this.c, this.d] = s.map((v) => v | 0) as [number, number, number, number];
  }

  /** Shuffles `array` in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }
}
