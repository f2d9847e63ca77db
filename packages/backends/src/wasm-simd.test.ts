import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { seededValues } from "../test/conv-check.js";
import { useBackend } from "./use-backend.js";
import {
  assembleSimdModule,
  bindSimdLoops,
  SIMD_SCRATCH_BYTES,
  simdChannelAffine,
  simdChannelSums,
  simdLoops,
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
