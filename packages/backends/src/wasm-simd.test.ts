import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { seededValues } from "../test/conv-check.js";
import { useBackend } from "./use-backend.js";
import {
  assembleSimdModule,
  bindSimdLoops,
  SIMD_SCRATCH_BYTES,
  type SimdLoops,
  simdChannelAffine,
  simdChannelSums,
  simdLoops,
  simdReluGrad,
} from "./wasm-simd.js";

const WASM = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => object;
      validate(b: Uint8Array): boolean;
    };
  }
).WebAssembly;

/** Loops on a fresh memory: scratch at 0, then the tensors. */
function setup(shared: boolean) {
  const memory = new WASM.Memory(
    shared ? { initial: 64, maximum: 65536, shared: true } : { initial: 64 },
  );
  const loops = bindSimdLoops(memory, 0);
  let next = SIMD_SCRATCH_BYTES;
  const put = (values: Float32Array) => {
    const at = next;
    loops.f32().set(values, at / 4);
    next += 4 * values.length + 64; // a gap: writes past the end would show there
    return at;
  };
  const get = (at: number, n: number) => loops.f32().slice(at / 4, at / 4 + n);
  return { loops, put, get };
}

describe.each([false, true])("the SIMD loops (shared memory: %s)", (shared) => {
  it("assemble into a valid module", () => {
    expect(WASM.validate(assembleSimdModule(shared))).toBe(true);
  });

  // 3 row tiles (the last partial) and 3 groups of four channels.
  const [M, C] = [1100, 12];
  const v = Float32Array.from(seededValues(M * C, 1), (x, i) => 40 + 3 * x + (i % C));
  const w = seededValues(M * C, 2);
  const shift = Float64Array.from({ length: C }, (_, c) => 40 + c + 0.5);

  // Float32 within a tile of rows: errors bounded relative to the sum of the terms' magnitudes.
  it("sum per channel, shifted, and shifted squares or products, to 1e-6 of Σ|term|", () => {
    const { loops, put } = setup(shared);
    const [vAt, wAt] = [put(v), put(w)];
    for (const withW of [false, true]) {
      const a = new Float64Array(C);
      const b = new Float64Array(C);
      simdChannelSums(loops, vAt, withW ? wAt : 0, M, C, shift, a, b);
      for (let c = 0; c < C; c++) {
        const e = [0, 0];
        const mag = [0, 0];
        for (let m = 0; m < M; m++) {
          const d = (v[m * C + c] as number) - (shift[c] as number);
          const wi = w[m * C + c] as number;
          const ta = withW ? wi : d;
          const tb = withW ? wi * d : d * d;
          e[0] = (e[0] as number) + ta;
          e[1] = (e[1] as number) + tb;
          mag[0] = (mag[0] as number) + Math.abs(ta);
          mag[1] = (mag[1] as number) + Math.abs(tb);
        }
        expect(Math.abs((a[c] as number) - (e[0] as number))).toBeLessThan(
          1e-6 * (mag[0] as number),
        );
        expect(Math.abs((b[c] as number) - (e[1] as number))).toBeLessThan(
          1e-6 * (mag[1] as number),
        );
      }
    }
  });

  it("map each channel affinely, from one tensor or two, and write nothing else", () => {
    const { loops, put, get } = setup(shared);
    const [uAt, vAt, outAt] = [put(w), put(v), put(new Float32Array(M * C))];
    const p = Float64Array.from({ length: C }, (_, c) => 0.5 + c);
    const q = Float64Array.from({ length: C }, (_, c) => -1 + 0.25 * c);
    const r = Float64Array.from({ length: C }, (_, c) => 3 - c);
    for (const withU of [false, true]) {
      simdChannelAffine(loops, outAt, withU ? uAt : 0, vAt, M, C, p, q, r);
      const out = get(outAt, M * C + 16);
      for (let i = 0; i < M * C; i++) {
        const c = i % C;
        const e =
          (withU ? (p[c] as number) * (w[i] as number) : 0) +
          (q[c] as number) * (v[i] as number) +
          (r[c] as number);
        expect(Math.abs((out[i] as number) - e)).toBeLessThan(1e-5 * (1 + Math.abs(e)));
      }
      expect(Array.from(out.subarray(M * C))).toEqual(new Array(16).fill(0));
    }
  });
});

describe.each([false, true])("the SIMD scatter (shared memory: %s)", (shared) => {
  it("copies each block to its strided place and nothing else", () => {
    const { loops, put, get } = setup(shared);
    const src = Float32Array.from({ length: 5 * 8 }, (_, i) => i + 1); // 5 blocks of 8 floats
    const [srcAt, dstAt] = [put(src), put(new Float32Array(3 * 5 * 8))];
    loops.scatter(dstAt, srcAt, 5, 4 * 8, 4 * 3 * 8); // every third block of dst
    const dst = get(dstAt, 3 * 5 * 8 + 16);
    for (let k = 0; k < 15; k++) {
      const block = Array.from(dst.subarray(8 * k, 8 * k + 8));
      const expected = k % 3 === 0 ? Array.from(src.subarray(8 * (k / 3), 8 * (k / 3) + 8)) : [];
      expect(block).toEqual(k % 3 === 0 ? expected : new Array(8).fill(0));
    }
    expect(Array.from(dst.subarray(120))).toEqual(new Array(16).fill(0));
  });
});

describe("the helper thread", () => {
  // Large enough to be split (SPLIT_BYTES): 20000 rows of 16 channels, 1.28 MB a tensor.
  const [M, C] = [20000, 16];
  const v = Float32Array.from(seededValues(M * C, 3), (x, i) => 5 + x + (i % C));
  const w = seededValues(M * C, 4);
  const shift = Float64Array.from({ length: C }, (_, c) => 5 + c);
  const coef = (k: number) => Float64Array.from({ length: C }, (_, c) => k + 0.25 * c);

  /** Runs every loop over the same tensors; the results as plain arrays. */
  function results(loops: SimdLoops, at: { v: number; w: number; out: number }) {
    const sums = [0, 1].map((withW) => {
      const a = new Float64Array(C);
      const b = new Float64Array(C);
      simdChannelSums(loops, at.v, withW ? at.w : 0, M, C, shift, a, b);
      return [...a, ...b];
    });
    simdChannelAffine(loops, at.out, at.w, at.v, M, C, coef(0.5), coef(-1), coef(2));
    const affine = Array.from(loops.f32().subarray(at.out / 4, at.out / 4 + M * C + 16));
    simdReluGrad(loops, at.out, at.w, at.v - 4 * 8 * C, M * C); // x: v shifted, mixed signs
    const relu = Array.from(loops.f32().subarray(at.out / 4, at.out / 4 + M * C + 16));
    return { sums, affine, relu };
  }

  it("takes part in large batches, with results identical to one thread's", async () => {
    const memory = new WASM.Memory({ initial: 256, maximum: 65536, shared: true });
    const bytes = 4 * M * C;
    const base = 2 * SIMD_SCRATCH_BYTES + 4096;
    const at = { v: base, w: base + bytes + 64, out: base + 2 * (bytes + 64) };
    const one = bindSimdLoops(memory, 0);
    const two = bindSimdLoops(memory, SIMD_SCRATCH_BYTES, { helper: true });
    const f32 = one.f32();
    f32.set(v, at.v / 4);
    f32.set(w, at.w / 4);
    for (let i = 0; i < 8 * C; i++) f32[at.v / 4 - 8 * C + i] = -1 + (i % 3); // before v, for x
    for (let t = 0; t < 200 && !two.helperReady(); t++) await new Promise((r) => setTimeout(r, 25));
    expect(two.helperReady()).toBe(true);
    expect(one.helperReady()).toBe(false);
    const alone = results(one, at);
    // The helper takes what is left when it wakes: on a fast machine this thread may finish a
    // pass first, but a helper woken by one batch spins through the next ones.
    for (let round = 0; round < 50 && two.helperCalls() === 0; round++) {
      const split = results(two, at);
      expect(split.sums).toEqual(alone.sums);
      expect(split.affine).toEqual(alone.affine);
      expect(split.relu).toEqual(alone.relu);
    }
    expect(two.helperCalls()).toBeGreaterThan(0);
    expect(one.helperCalls()).toBe(0);
    const split = results(two, at);
    expect(split.sums).toEqual(alone.sums);
    expect(split.affine).toEqual(alone.affine);
    expect(split.relu).toEqual(alone.relu);
    // and the single-thread results are right: spot checks of the affine map and ReLU's gradient
    for (const i of [0, 17, M * C - 1]) {
      const c = i % C;
      const e =
        (0.5 + 0.25 * c) * (w[i] as number) + (-1 + 0.25 * c) * (v[i] as number) + 2 + 0.25 * c;
      expect(Math.abs((alone.affine[i] as number) - e)).toBeLessThan(1e-5 * (1 + Math.abs(e)));
    }
    expect(alone.affine.slice(M * C)).toEqual(new Array(16).fill(0));
    const x = (i: number) => (i < 8 * C ? -1 + (i % 3) : (v[i - 8 * C] as number));
    for (const i of [0, 1, 2, 5, M * C - 1]) {
      expect(alone.relu[i]).toBe(x(i) > 0 ? Math.fround(w[i] as number) : 0);
    }
  });

  it("is not started on an unshared memory: one thread", () => {
    const memory = new WASM.Memory({ initial: 64 });
    const loops = bindSimdLoops(memory, 0, { helper: true });
    expect(loops.helperReady()).toBe(false);
  });
});

describe("simdLoops", () => {
  it("finds tfjs-backend-wasm's memory, and is absent on cpu", async () => {
    await useBackend("cpu", { trainingKernels: false, onnxruntime: false });
    expect(simdLoops(tf.backend())).toBeNull();
    await useBackend("wasm", { trainingKernels: false, onnxruntime: false });
    const loops = simdLoops(tf.backend());
    expect(loops).not.toBeNull();
    expect(simdLoops(tf.backend())).toBe(loops); // one instance per backend
    // The loops see the same bytes as the backend's tensors.
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]);
    const at = (
      tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } }
    ).dataIdMap.get(x.dataId).memoryOffset;
    const a = new Float64Array(4);
    const b = new Float64Array(4);
    simdChannelSums(loops as NonNullable<typeof loops>, at, 0, 2, 4, new Float64Array(4), a, b);
    expect(Array.from(a)).toEqual([6, 8, 10, 12]);
    expect(Array.from(b)).toEqual([26, 40, 58, 80]);
    x.dispose();
  });
});
