// WebAssembly SIMD loops that run on tfjs-backend-wasm's own memory: the per-channel sums and the
// per-channel affine map that the BatchNorm kernels' passes consist of, and ReLU's gradient. In
// JavaScript those passes cost ~1.9 ns per element (four channels at a time in locals, measured
// on Node 20), and BatchNorm was ~19% of a training step of the tiny (8/16/32) net; with 128-bit
// SIMD the same passes run at memory speed (BatchNorm ~7% of the step after).
//
// No compiler toolchain is involved: the module is ~500 bytes, assembled below from its
// instructions (WebAssembly core + fixed-width SIMD opcodes), and imports the backend's memory,
// so the loops read and write tensors in place. It is instantiated once per wasm backend, and
// not at all where the runtime lacks SIMD or the backend's memory cannot be found: the kernels
// then keep their JavaScript loops.
//
// sums and affine handle one group of four consecutive channels over `rows` rows of a [rows, C]
// tensor (`stride` = 4·C bytes between rows); the caller walks the groups and the row tiles.
//
//   sums(v, w, rows, stride, k, out)       k → 4 floats (the shift), out → 8 floats written:
//     w = 0: out[0..4] = Σ (v - k),  out[4..8] = Σ (v - k)²
//     else:  out[0..4] = Σ w,        out[4..8] = Σ w·(v - k)
//   affine(out, u, v, rows, stride, coef)   coef → p[4], q[4], r[4]:
//     u = 0: out = q·v + r;  else out = p·u + q·v + r
// and, for ReLU's gradient, over n floats (n a positive multiple of 4):
//   reluGrad(out, dy, x, n)                 out = x > 0 ? dy : 0 (NaN where x is NaN, as tfjs)
// and, for the stride-phase input gradient, count ≥ 1 blocks of len bytes (a multiple of 16):
//   scatter(dst, src, count, len, dstStride)   block i: src + i·len → dst + i·dstStride
// and, for MaxPool's gradient, a row of ≥ 1 full non-overlapping windows, four channels a step:
//   poolGrad(dx, x, dy, windows, geometry)    per window: max (pmax, so NaN is skipped), then
//     dx = dy + 0 at the first position equal to it in the scan order, 0 at the others
//     (geometry → filter size, steps and scan order, see simdMaxPoolGrad)
// and, for GELU's Erf and its gradient's Exp, over n floats (n a positive multiple of 8):
//   exp(out, x, n), erf(out, x, n)           float32 polynomials, within 1 ulp (simdUnary)
// and GELU and its gradient, with that erf and exp, over n floats (n a positive multiple of 8):
//   gelu(out, x, n), geluGrad(out, dy, x, n)  tfjs's composition's operations (simdUnary, simdGeluGrad)
// (these four take two groups of 4 floats a step, their code interleaved: see UNROLL),
// and, for BatchNorm at inference (tfjs's FusedBatchNorm), per group of four channels as affine:
//   batchNorm(out, x, rows, stride, coef)   coef → mean[4], scale[4] (f32), norm[4], offset[4] (f64):
//     out = offset + (x - mean)·scale / norm, the operations of tfjs-backend-wasm's C++ loop in
//     its order and precision ((x - mean)·scale in float32, the division and the sum in float64,
//     then rounded to float32), so the same bits, four floats a step instead of one.
//
// Sums accumulate in float32 over one call (a tile of rows), which the caller adds up in float64.
//
// The helpers below (simdChannelSums, simdChannelAffine, simdReluGrad) write their calls into a
// list and `run` it. Where the backend runs threaded (its memory is then a SharedArrayBuffer), a
// helper thread (worker_threads) instantiates the same module on the same memory and takes
// chunks of the large lists alongside the calling thread (BatchNorm's passes: ~1.4× faster,
// `bench/helper-thread.ts`); the results do not depend on which thread ran what.
import type { KernelBackend } from "@tensorflow/tfjs-core";
import { availableThreads, nodeProcess } from "./node-only.js";

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

const I32 = 0x7f;
const V128 = 0x7b;
// Core instructions.
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const tee = (i: number) => [0x22, i];
const I32_ADD = [0x6a];
const I32_MUL = [0x6c];
const I32_EQZ = [0x45];
const I32_SUB = [0x6b];
const I32_LT_U = [0x49];
const I32_LOAD = (offset: number) => [0x28, 2, ...uleb(offset)];
const IF = [0x04, 0x40];
const ELSE = [0x05];
const LOOP = [0x03, 0x40];
const END = [0x0b];
const BR_IF_0 = [0x0d, 0];
// SIMD instructions (prefix 0xfd, LEB128 opcode); memarg = alignment 2^2, offset.
const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];
const LOAD = (offset = 0) => simd(0x00, 2, ...uleb(offset));
const STORE = (offset = 0) => simd(0x0b, 2, ...uleb(offset));
const F32X4_ADD = simd(0xe4);
const F32X4_SUB = simd(0xe5);
const F32X4_MUL = simd(0xe6);
const F32X4_NE = simd(0x42);
const F32X4_GT = simd(0x44);
const F32X4_EQ = simd(0x41);
const F32X4_LT = simd(0x43);
const F32X4_DIV = simd(0xe7);
const F32X4_PMIN = simd(0xea);
const F64X2_ADD = simd(0xf0);
const F64X2_DIV = simd(0xf3);
const F64X2_PROMOTE_LOW_F32X4 = simd(0x5f);
const F32X4_DEMOTE_F64X2_ZERO = simd(0x5e);
/** i8x16.shuffle: lane i of the result is byte lanes[i] of a (0-15) or of b (16-31). */
const I8X16_SHUFFLE = (lanes: readonly number[]) => simd(0x0d, ...lanes);
const BYTES = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
/** Floats 2 and 3 of a into lanes 0 and 1 (for f64x2.promote_low_f32x4). */
const HIGH_HALF = I8X16_SHUFFLE([...BYTES(8, 8), ...BYTES(8, 8)]);
/** Floats 0 and 1 of a, then floats 0 and 1 of b. */
const LOW_HALVES = I8X16_SHUFFLE([...BYTES(0, 8), ...BYTES(16, 8)]);
const I32X4_SHL = simd(0xab);
const I32X4_SHR_S = simd(0xac);
const I32X4_ADD = simd(0xae);
const I32X4_SUB = simd(0xb1);
const V128_BITSELECT = simd(0x52);
const F32X4_PMAX = simd(0xeb);
const V128_AND = simd(0x4e);
const V128_ANDNOT = simd(0x4f);
const V128_OR = simd(0x50);
const V128_XOR = simd(0x51);
const V128_ZERO = simd(0x0c, ...new Array<number>(16).fill(0));
const F32X4_CONST = (v: number) => {
  const bytes = new Uint8Array(Float32Array.of(v, v, v, v).buffer);
  return simd(0x0c, ...bytes);
};
const I32X4_CONST = (v: number) => {
  const bytes = new Uint8Array(Int32Array.of(v, v, v, v).buffer);
  return simd(0x0c, ...bytes);
};
/** i32.const n for 0 ≤ n < 8192 (signed LEB128: one byte below 64, two from there). */
const i32 = (n: number) => (n < 64 ? [0x41, n] : [0x41, 0x80 | (n & 0x7f), n >> 7]);

/** A function body: its locals, as runs of one type, then its code. */
const funcBody = (locals: [count: number, type: number][], code: number[]) => [
  ...vec(locals.map(([count, type]) => [...uleb(count), type])),
  ...code,
];

/** p += stride; loop while p < end (unsigned addresses). */
const advance = (p: number, stride: number) => [...get(p), ...get(stride), ...I32_ADD, ...set(p)];
const advanceAndLoop = (p: number, stride: number, end: number) => [
  ...get(p),
  ...get(stride),
  ...I32_ADD,
  ...tee(p),
  ...get(end),
  ...I32_LT_U,
  ...BR_IF_0,
];

function sumsBody(): number[] {
  // params: v 0, w 1, rows 2, stride 3, k 4, out 5; locals: a 6, b 7, kk 8, d 9 (v128), end 10.
  const [v, w, rows, stride, k, out, a, b, kk, d, end] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const code = [
    ...get(k),
    ...LOAD(),
    ...set(kk),
    ...get(v),
    ...get(rows),
    ...get(stride),
    ...I32_MUL,
    ...I32_ADD,
    ...set(end),
    ...get(w),
    ...I32_EQZ,
    ...IF,
    ...LOOP,
    ...[...get(v), ...LOAD(), ...get(kk), ...F32X4_SUB, ...set(d)],
    ...[...get(a), ...get(d), ...F32X4_ADD, ...set(a)],
    ...[...get(b), ...get(d), ...get(d), ...F32X4_MUL, ...F32X4_ADD, ...set(b)],
    ...advanceAndLoop(v, stride, end),
    ...END,
    ...ELSE,
    ...LOOP,
    ...[...get(w), ...LOAD(), ...set(d)],
    ...[...get(a), ...get(d), ...F32X4_ADD, ...set(a)],
    ...[...get(b), ...get(d), ...get(v), ...LOAD(), ...get(kk), ...F32X4_SUB, ...F32X4_MUL],
    ...[...F32X4_ADD, ...set(b)],
    ...advance(w, stride),
    ...advanceAndLoop(v, stride, end),
    ...END,
    ...END,
    ...[...get(out), ...get(a), ...STORE(0)],
    ...[...get(out), ...get(b), ...STORE(16)],
    ...END,
  ];
  return funcBody(
    [
      [4, V128],
      [1, I32],
    ],
    code,
  );
}

function affineBody(): number[] {
  // params: out 0, u 1, v 2, rows 3, stride 4, coef 5; locals: p 6, q 7, r 8 (v128), end 9.
  const [out, u, v, rows, stride, coef, p, q, r, end] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const code = [
    ...[...get(coef), ...LOAD(0), ...set(p)],
    ...[...get(coef), ...LOAD(16), ...set(q)],
    ...[...get(coef), ...LOAD(32), ...set(r)],
    ...[...get(out), ...get(rows), ...get(stride), ...I32_MUL, ...I32_ADD, ...set(end)],
    ...get(u),
    ...I32_EQZ,
    ...IF,
    ...LOOP,
    ...[...get(out), ...get(q), ...get(v), ...LOAD(), ...F32X4_MUL, ...get(r), ...F32X4_ADD],
    ...STORE(),
    ...advance(v, stride),
    ...advanceAndLoop(out, stride, end),
    ...END,
    ...ELSE,
    ...LOOP,
    ...[...get(out), ...get(p), ...get(u), ...LOAD(), ...F32X4_MUL],
    ...[...get(q), ...get(v), ...LOAD(), ...F32X4_MUL, ...F32X4_ADD, ...get(r), ...F32X4_ADD],
    ...STORE(),
    ...advance(u, stride),
    ...advance(v, stride),
    ...advanceAndLoop(out, stride, end),
    ...END,
    ...END,
    ...END,
  ];
  return funcBody(
    [
      [3, V128],
      [1, I32],
    ],
    code,
  );
}

function batchNormBody(): number[] {
  // params: out 0, x 1, rows 2, stride 3, coef 4; locals (v128): mean 5, scale 6, norm01 7,
  // norm23 8, offset01 9, offset23 10, t 11; end 12 (i32).
  const [out, x, rows, stride, coef] = [0, 1, 2, 3, 4];
  const [mean, scale, norm01, norm23, offset01, offset23, t, end] = [5, 6, 7, 8, 9, 10, 11, 12];
  // Channels 0-1 or 2-3 of t, in float64: / norm + offset, as the C++ loop's double arithmetic.
  const half = (lanes: number[], norm: number, offset: number) => [
    ...[...get(t), ...lanes, ...F64X2_PROMOTE_LOW_F32X4, ...get(norm), ...F64X2_DIV],
    ...[...get(offset), ...F64X2_ADD, ...F32X4_DEMOTE_F64X2_ZERO],
  ];
  const code = [
    ...[...get(coef), ...LOAD(0), ...set(mean)],
    ...[...get(coef), ...LOAD(16), ...set(scale)],
    ...[...get(coef), ...LOAD(32), ...set(norm01)],
    ...[...get(coef), ...LOAD(48), ...set(norm23)],
    ...[...get(coef), ...LOAD(64), ...set(offset01)],
    ...[...get(coef), ...LOAD(80), ...set(offset23)],
    ...[...get(out), ...get(rows), ...get(stride), ...I32_MUL, ...I32_ADD, ...set(end)],
    ...LOOP,
    // t = (x - mean)·scale in float32; then each half in float64, rounded back and rejoined.
    ...[...get(x), ...LOAD(), ...get(mean), ...F32X4_SUB, ...get(scale), ...F32X4_MUL, ...set(t)],
    ...get(out),
    ...half([], norm01, offset01),
    ...half([...get(t), ...HIGH_HALF], norm23, offset23),
    ...LOW_HALVES,
    ...STORE(),
    ...advance(x, stride),
    ...advanceAndLoop(out, stride, end),
    ...END,
    ...END,
  ];
  return funcBody(
    [
      [7, V128],
      [1, I32],
    ],
    code,
  );
}

/**
 * The loop of an elementwise function of two inputs: params out 0, a 1, b 2, n 3 (n floats, a
 * positive multiple of 4), `end` an i32 local; `body` stores 4 floats at out from a and b.
 */
const binaryLoop = (end: number, body: number[]) => [
  ...[...get(0), ...get(3), ...i32(4), ...I32_MUL, ...I32_ADD, ...set(end)],
  ...LOOP,
  ...body,
  ...[...get(1), ...i32(16), ...I32_ADD, ...set(1)],
  ...[...get(2), ...i32(16), ...I32_ADD, ...set(2)],
  ...[...get(0), ...i32(16), ...I32_ADD, ...tee(0), ...get(end), ...I32_LT_U, ...BR_IF_0],
  ...END,
  ...END,
];

function reluGradBody(): number[] {
  // params: out 0, dy 1, x 2, n 3; locals: xv 4 (v128), end 5.
  const [out, dy, x, xv, end] = [0, 1, 2, 4, 5];
  const code = binaryLoop(end, [
    ...get(out),
    ...[...get(x), ...LOAD(), ...set(xv)],
    // (dy & (x > 0)) | (x & (x != x)): dy where x > 0, NaN where x is NaN, else +0.
    ...[...get(dy), ...LOAD(), ...get(xv), ...V128_ZERO, ...F32X4_GT, ...V128_AND],
    ...[...get(xv), ...get(xv), ...F32X4_NE, ...get(xv), ...V128_AND, ...V128_OR],
    ...STORE(),
  ]);
  return funcBody(
    [
      [1, V128],
      [1, I32],
    ],
    code,
  );
}

function scatterBody(): number[] {
  // params: dst 0, src 1, count 2, len 3, dstStride 4; locals: end 5, j 6.
  const [dst, src, count, len, dstStride, end, j] = [0, 1, 2, 3, 4, 5, 6];
  const code = [
    ...[...get(src), ...get(count), ...get(len), ...I32_MUL, ...I32_ADD, ...set(end)],
    ...LOOP,
    ...[...i32(0), ...set(j)],
    ...LOOP,
    ...[...get(dst), ...get(j), ...I32_ADD],
    ...[...get(src), ...get(j), ...I32_ADD, ...LOAD()],
    ...STORE(),
    ...[...get(j), ...i32(16), ...I32_ADD, ...tee(j), ...get(len), ...I32_LT_U, ...BR_IF_0],
    ...END,
    ...advance(dst, dstStride),
    ...[...get(src), ...get(len), ...I32_ADD, ...tee(src), ...get(end), ...I32_LT_U, ...BR_IF_0],
    ...END,
    ...END,
  ];
  return funcBody([[2, I32]], code);
}

/** `j -= 1; loop while j ≠ 0`. */
const countDown = (j: number) => [...get(j), ...i32(1), ...I32_SUB, ...tee(j), ...BR_IF_0];

function poolGradBody(): number[] {
  // params: dx 0, x 1, dy 2, windows 3, geometry 4; locals: fh 5, fw 6, rowStep 7, colStep 8,
  // start 9, winStep 10, cBytes 11, cb 12, p 13, q 14, i 15, j 16, delta 17 (i32), best 18,
  // dyv 19, taken 20, hit 21, flag 22 (v128).
  const [dx, x, dy, windows, geo] = [0, 1, 2, 3, 4];
  const [fh, fw, rowStep, colStep, start, winStep, cBytes, cb, p, q, i, j, delta] = [
    5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
  ];
  const [best, dyv, taken, hit, flag] = [18, 19, 20, 21, 22];
  const NEG_INF = F32X4_CONST(Number.NEGATIVE_INFINITY);
  // Walks the window's positions in scan order (rows by rowStep, columns by colStep from
  // x + start + cb), running `body` with the position's x address in q.
  const walk = (body: number[]) => [
    ...[...get(x), ...get(start), ...I32_ADD, ...get(cb), ...I32_ADD, ...set(p)],
    ...[...get(fh), ...set(i)],
    ...LOOP,
    ...[...get(p), ...set(q), ...get(fw), ...set(j)],
    ...LOOP,
    ...body,
    ...[...get(q), ...get(colStep), ...I32_ADD, ...set(q)],
    ...countDown(j),
    ...END,
    ...[...get(p), ...get(rowStep), ...I32_ADD, ...set(p)],
    ...countDown(i),
    ...END,
  ];
  const code = [
    ...[fh, fw, rowStep, colStep, start, winStep, cBytes].flatMap((local, k) => [
      ...get(geo),
      ...I32_LOAD(4 * k),
      ...set(local),
    ]),
    ...[...get(geo), ...LOAD(28), ...set(flag)],
    ...[...get(dx), ...get(x), ...I32_SUB, ...set(delta)],
    ...LOOP,
    ...[...i32(0), ...set(cb)],
    ...LOOP,
    // The window's maximum per lane; pmax keeps `best` where the value is NaN.
    ...[...NEG_INF, ...set(best)],
    ...walk([...get(best), ...get(q), ...LOAD(), ...F32X4_PMAX, ...set(best)]),
    ...[...get(dy), ...get(cb), ...I32_ADD, ...LOAD(), ...V128_ZERO, ...F32X4_ADD, ...set(dyv)],
    // Lanes whose maximum is -Infinity take nothing where `flag` is set (the first-max rule).
    ...[...get(best), ...NEG_INF, ...F32X4_EQ, ...get(flag), ...V128_AND, ...set(taken)],
    ...walk([
      ...[...get(q), ...LOAD(), ...get(best), ...F32X4_EQ, ...get(taken), ...V128_ANDNOT],
      ...set(hit),
      ...[...get(q), ...get(delta), ...I32_ADD, ...get(dyv), ...get(hit), ...V128_AND, ...STORE()],
      ...[...get(taken), ...get(hit), ...V128_OR, ...set(taken)],
    ]),
    ...[...get(cb), ...i32(16), ...I32_ADD, ...tee(cb), ...get(cBytes), ...I32_LT_U, ...BR_IF_0],
    ...END,
    ...[...get(x), ...get(winStep), ...I32_ADD, ...set(x)],
    ...[...get(dy), ...get(cBytes), ...I32_ADD, ...set(dy)],
    ...countDown(windows),
    ...END,
    ...END,
  ];
  return funcBody(
    [
      [13, I32],
      [5, V128],
    ],
    code,
  );
}

// The float32 polynomials of exp and erf, and how they were fitted and checked (at most 1 ulp
// from float64 references over every 3rd float of their ranges, in a float32 simulation of
// these exact operations): scripts/fit-erf-exp.py.
const EXP_Q = [
  0.4999999403953552, 0.1666652113199234, 0.04166838899254799, 0.008368710055947304,
  0.0013814610429108143,
];
const ERF_P = [
  0.12837916612625122, -0.3761262595653534, 0.1128358542919159, -0.026853810995817184,
  0.005188327748328447, -0.0008010192541405559, 7.853857823647559e-5,
];
const ERF_R = [
  0.0005365904653444886, 0.27451276779174805, 0.3261217176914215, 0.11438468098640442,
  0.383573442697525, -0.04083358868956566, -0.0590788871049881,
];
const LN2_HI = 0.693359375; // 9 significant bits: n·LN2_HI is exact for |n| ≤ 150
const LN2_LO = Math.LN2 - LN2_HI;
const ROUND = 1.5 * 2 ** 23; // x + ROUND - ROUND rounds x to an integer, ties to even
const ROUND_BITS = 0x4b400000; // ROUND's bits: (x + ROUND)'s bits less these are that integer

/** c[0] + t·(c[1] + t·(…)), t a v128 local; leaves the value on the stack. */
const horner = (c: readonly number[], t: number) => [
  ...F32X4_CONST(c[c.length - 1] as number),
  ...c
    .slice(0, -1)
    .reverse()
    .flatMap((k) => [...get(t), ...F32X4_MUL, ...F32X4_CONST(k), ...F32X4_ADD]),
];

/** Which arguments an inlined exp must handle (each form gives the same bits on its range). */
interface ExpRange {
  /** Clamp to [-104, 89] (any argument), to [-104, 0] (≤ 0) or not at all (in [-16, 0]). */
  clamp: "both" | "low" | "none";
  /** Scale by 2^n in two halves, so that a denormal result rounds once; not needed ≥ 2^-24. */
  split: boolean;
}

/**
 * e^v for the v128 local `v`, into `out` (locals n, r, e are scratch): x clamped to [-104, 89],
 * n = nearest(x·log2 e), r = x - n·ln2 (in two parts), e^r = 1 + r + r²·q(r), then ·2^n as
 * ·2^(n>>1)·2^(n - (n>>1)), so that a denormal result rounds once, in the last product.
 *
 * As V8 compiles it for x64, wasm's f32x4.min/max (NaN and ±0 rules) are 7-8 instructions and
 * i32x4.trunc_sat 5, so: the clamps are pmin/pmax with x first (NaN stays, the same values
 * otherwise), and n is rounded by adding and subtracting 1.5·2^23 (ties to even, as nearest,
 * for |x·log2 e| < 2^22), whose sum's bits less 1.5·2^23's are n as an integer.
 * `range` drops what the caller's arguments cannot need (see ExpRange): the same bits.
 */
function expCode(
  v: number,
  out: number,
  n: number,
  r: number,
  e: number,
  range: ExpRange = { clamp: "both", split: true },
): number[] {
  const pow2 = (k: number) => [
    ...get(k),
    ...I32X4_CONST(127),
    ...I32X4_ADD,
    ...i32(23),
    ...I32X4_SHL,
  ];
  const clamp =
    range.clamp === "none"
      ? []
      : range.clamp === "low"
        ? [...F32X4_CONST(-104), ...F32X4_PMAX]
        : [...F32X4_CONST(-104), ...F32X4_PMAX, ...F32X4_CONST(89), ...F32X4_PMIN];
  return [
    ...[...get(v), ...clamp, ...set(r)],
    // k = x·log2 e + 1.5·2^23 (its bits: n + 0x4b400000), n = k - 1.5·2^23.
    ...[...get(r), ...F32X4_CONST(Math.LOG2E), ...F32X4_MUL, ...F32X4_CONST(ROUND), ...F32X4_ADD],
    ...[...tee(e), ...F32X4_CONST(ROUND), ...F32X4_SUB, ...set(n)],
    ...[...get(r), ...get(n), ...F32X4_CONST(LN2_HI), ...F32X4_MUL, ...F32X4_SUB],
    ...[...get(n), ...F32X4_CONST(LN2_LO), ...F32X4_MUL, ...F32X4_SUB, ...set(r)],
    // n as an integer.
    ...[...get(e), ...I32X4_CONST(ROUND_BITS), ...I32X4_SUB, ...set(n)],
    ...[...get(r), ...get(r), ...F32X4_MUL, ...horner(EXP_Q, r), ...F32X4_MUL],
    ...[...get(r), ...F32X4_ADD, ...F32X4_CONST(1), ...F32X4_ADD, ...set(e)],
    ...(range.split
      ? [
          ...[...get(n), ...i32(1), ...I32X4_SHR_S, ...set(r)],
          ...[...get(n), ...get(r), ...I32X4_SUB, ...set(n)],
          ...[...get(e), ...pow2(r), ...F32X4_MUL, ...pow2(n), ...F32X4_MUL, ...set(out)],
        ]
      : [...get(e), ...pow2(n), ...F32X4_MUL, ...set(out)]),
  ];
}

/** The index after the LEB128 number (signed or not) at code[i]. */
function skipLeb(code: readonly number[], i: number): number {
  while (((code[i++] as number) & 0x80) !== 0);
  return i;
}

/** The unsigned LEB128 number at code[i], and the index after it. */
function readUleb(code: readonly number[], i: number): [value: number, next: number] {
  let value = 0;
  for (let shift = 0, b = 0x80; b & 0x80; shift += 7) {
    b = code[i++] as number;
    value |= (b & 0x7f) << shift;
  }
  return [value, i];
}

/** The opcode of a SIMD instruction (after its 0xfd prefix). */
const opcode = (ins: readonly number[]) => readUleb(ins, 1)[0];

// Operand stack effect of the SIMD instructions (0xfd prefix, then this opcode) loop bodies use.
const SIMD_STACK = new Map<number, number>([
  [0x00, 0], // v128.load
  [0x0b, -2], // v128.store
  [0x0c, 1], // v128.const
  [0x52, -2], // v128.bitselect
  ...[F32X4_ADD, F32X4_SUB, F32X4_MUL, F32X4_DIV, F32X4_PMIN, F32X4_PMAX].map(
    (op) => [opcode(op), -1] as const,
  ),
  ...[F32X4_NE, F32X4_GT, F32X4_EQ, F32X4_LT, V128_AND, V128_ANDNOT, V128_OR, V128_XOR].map(
    (op) => [opcode(op), -1] as const,
  ),
  ...[I32X4_SHL, I32X4_SHR_S, I32X4_ADD, I32X4_SUB].map((op) => [opcode(op), -1] as const),
]);

/**
 * Splits straight-line code of the instructions loop bodies use into its statements: the runs
 * after which the operand stack is empty again.
 */
function statements(code: readonly number[]): number[][] {
  const out: number[][] = [];
  let from = 0;
  let depth = 0;
  for (let i = 0; i < code.length; ) {
    const op = code[i++] as number;
    if (op === 0x20 || op === 0x21 || op === 0x22 || op === 0x41) {
      i = skipLeb(code, i); // local.get, local.set, local.tee, i32.const
      depth += op === 0x20 || op === 0x41 ? 1 : op === 0x21 ? -1 : 0;
    } else if (op === I32_ADD[0] || op === I32_SUB[0] || op === I32_MUL[0] || op === I32_LT_U[0]) {
      depth -= 1;
    } else if (op === 0xfd) {
      const [sub, next] = readUleb(code, i);
      i = next;
      const effect = SIMD_STACK.get(sub);
      if (effect === undefined) throw new Error(`statements: SIMD opcode 0x${sub.toString(16)}?`);
      if (sub === 0x0c) i += 16; // v128.const
      if (sub === 0x00 || sub === 0x0b) i = skipLeb(code, skipLeb(code, i)); // load, store
      depth += effect;
    } else {
      throw new Error(`statements: opcode 0x${op.toString(16)} not expected in a loop body`);
    }
    if (depth === 0) {
      out.push(code.slice(from, i));
      from = i;
    }
  }
  if (from !== code.length) throw new Error("statements: the code leaves values on the stack");
  return out;
}

/** Independent instruction streams, a statement of each in turn. */
function interleave(streams: readonly (readonly number[])[]): number[] {
  const split = streams.map(statements);
  const out: number[] = [];
  const most = Math.max(...split.map((st) => st.length));
  for (let i = 0; i < most; i++) for (const st of split) out.push(...(st[i] ?? []));
  return out;
}

/**
 * Groups of 4 floats the exp, erf and GELU loops take a step (interleaved, see unrolledBody):
 * their n is a positive multiple of 4·UNROLL. One group's chain of dependent operations (a
 * division, then two polynomials in turn) is longer than the CPU looks ahead; two groups in
 * alternation overlap: GELU's loops 1.2× faster on the 2-core AMD EPYC (AVX-512) VM, one thread
 * on 16K floats in cache (forward 2.7 → 2.2 ns a float, gradient 3.4 → 2.8). Three or four
 * groups were no faster (more registers spilled).
 */
const UNROLL = 2;

/**
 * An elementwise loop over 4·UNROLL floats a step (n a positive multiple of that): params out,
 * then `inputs` input addresses, then n; `f(xs, y, scratch)` computes one group's 4 results into
 * the local y from its input locals xs, with `vLocals` locals of its own from `scratch` on. The
 * groups' code is interleaved statement by statement, for the CPU to overlap their latencies.
 */
function unrolledBody(
  inputs: number,
  vLocals: number,
  f: (xs: number[], y: number, scratch: number) => number[],
): number[] {
  const out = 0;
  const n = inputs + 1;
  const end = n + 1;
  const per = inputs + 1 + vLocals;
  const groups = Array.from({ length: UNROLL }, (_, g) => {
    const xs = Array.from({ length: inputs }, (_, j) => end + 1 + g * per + j);
    const y = end + 1 + g * per + inputs;
    return [
      ...xs.flatMap((l, j) => [...get(1 + j), ...LOAD(16 * g), ...set(l)]),
      ...f(xs, y, y + 1),
      ...[...get(out), ...get(y), ...STORE(16 * g)],
    ];
  });
  const step = 16 * UNROLL;
  const code = [
    ...[...get(out), ...get(n), ...i32(4), ...I32_MUL, ...I32_ADD, ...set(end)],
    ...LOOP,
    ...interleave(groups),
    ...Array.from({ length: inputs }, (_, j) => [
      ...[...get(1 + j), ...i32(step), ...I32_ADD, ...set(1 + j)],
    ]).flat(),
    ...[...get(out), ...i32(step), ...I32_ADD, ...tee(out), ...get(end), ...I32_LT_U, ...BR_IF_0],
    ...END,
    ...END,
  ];
  return funcBody(
    [
      [1, I32],
      [UNROLL * per, V128],
    ],
    code,
  );
}

const expBody = () => unrolledBody(1, 3, ([x], y, l) => expCode(x as number, y, l, l + 1, l + 2));

const ABS_MASK = 0x7fffffff;
const SIGN_MASK = -0x80000000;

/**
 * erf(v) for the v128 local `v`, into `out` (a, s, n, r, e are scratch v128 locals): a = |v|;
 * small: a + a·P(a²); large: 1 - e^(-c²)·R(1/(1 + c/2)), c = min(a, 4); the small form where
 * a < 1; then v's sign. NaN: both forms give NaN.
 *
 * With `keepExp`, the large form's exponential is e^(-a²) (clamped at -104, as the Exp kernel's)
 * rather than e^(-c²), and stays in `e`: GELU's gradient needs e^(-t²) too. The same erf: below 4
 * a is c, and from 4 on both forms round to 1 (1 - e·R with 0 ≤ e ≤ e^-16 and R(1/3) ≈ 0.14).
 */
function erfCode(
  v: number,
  out: number,
  a: number,
  s: number,
  n: number,
  r: number,
  e: number,
  keepExp = false,
) {
  return [
    ...[...get(v), ...I32X4_CONST(ABS_MASK), ...V128_AND, ...set(a)],
    ...[...get(a), ...get(a), ...F32X4_MUL, ...set(s)],
    ...[...get(a), ...get(a), ...horner(ERF_P, s), ...F32X4_MUL, ...F32X4_ADD, ...set(out)],
    ...(keepExp
      ? [
          ...[...get(s), ...I32X4_CONST(SIGN_MASK), ...V128_XOR, ...set(s)],
          ...expCode(s, e, n, r, e, { clamp: "low", split: true }),
          ...[...get(a), ...F32X4_CONST(4), ...F32X4_PMIN, ...set(a)],
        ]
      : [
          ...[...get(a), ...F32X4_CONST(4), ...F32X4_PMIN, ...set(a)],
          ...[...get(a), ...get(a), ...F32X4_MUL, ...I32X4_CONST(SIGN_MASK), ...V128_XOR],
          ...set(s),
          // -c² is in [-16, 0] (or NaN): no clamp, and 2^n is a normal number.
          ...expCode(s, e, n, r, e, { clamp: "none", split: false }),
        ]),
    ...[...F32X4_CONST(1), ...get(a), ...F32X4_CONST(0.5), ...F32X4_MUL],
    ...[...F32X4_CONST(1), ...F32X4_ADD, ...F32X4_DIV, ...set(s)],
    ...[...F32X4_CONST(1), ...get(e), ...horner(ERF_R, s), ...F32X4_MUL, ...F32X4_SUB],
    // small where |v| < 1 (a is min(|v|, 4) now: the same test), else large.
    ...[...set(s), ...get(out), ...get(s), ...get(a), ...F32X4_CONST(1), ...F32X4_LT],
    ...V128_BITSELECT,
    ...[...get(v), ...I32X4_CONST(SIGN_MASK), ...V128_AND, ...V128_OR, ...set(out)],
  ];
}

function erfBody(): number[] {
  return unrolledBody(1, 5, ([x], y, l) => erfCode(x as number, y, l, l + 1, l + 2, l + 3, l + 4));
}

// GELU as tfjs-layers composes it, x·(0.5·(1 + erf(x/√2))), and the gradient tfjs's autodiff
// takes of that composition, dx = dy·Φ + (((dy·x)·0.5)·(e^(-t²)·2/√π))/√2 with t = x/√2: the
// same float32 operations in the same order, with the same erf and exp as the Erf and Exp
// kernels, so the fused kernels return the composition's bits on wasm. (The gradient's e^(-t²)
// is the one its erf computes, see erfCode's keepExp: the same bits as a second exp.)
const SQRT2 = Math.SQRT2;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** out = Φ(t)'s 0.5·(1 + erf) for erf in the local `e`, leaving the value on the stack. */
const cdfCode = (e: number) => [
  ...F32X4_CONST(0.5),
  ...[...F32X4_CONST(1), ...get(e), ...F32X4_ADD],
  ...F32X4_MUL,
];

function geluBody(): number[] {
  return unrolledBody(1, 7, ([xv], yv, l) => {
    const x = xv as number;
    const [t, ev, a, s, n, r, e] = [l, l + 1, l + 2, l + 3, l + 4, l + 5, l + 6];
    return [
      ...[...get(x), ...F32X4_CONST(SQRT2), ...F32X4_DIV, ...set(t)],
      ...erfCode(t, ev, a, s, n, r, e),
      ...[...get(x), ...cdfCode(ev), ...F32X4_MUL, ...set(yv)],
    ];
  });
}

function geluGradBody(): number[] {
  return unrolledBody(2, 8, ([dyv, xv], yv, l) => {
    const [d, x] = [dyv as number, xv as number];
    const [t, ev, a, s, k, r, e, p] = [l, l + 1, l + 2, l + 3, l + 4, l + 5, l + 6, l + 7];
    return [
      ...[...get(x), ...F32X4_CONST(SQRT2), ...F32X4_DIV, ...set(t)],
      // erf(t), leaving e^(-t²) (Erf's gradient: Square, Neg, Exp) in e.
      ...erfCode(t, ev, a, s, k, r, e, true),
      // dy·Φ: the gradient through x·Φ's first factor.
      ...[...get(d), ...cdfCode(ev), ...F32X4_MUL, ...set(p)],
      // (((dy·x)·0.5)·(e^(-t²)·2/√π))/√2, added to dy·Φ.
      ...[...get(p), ...get(d), ...get(x), ...F32X4_MUL],
      ...[...F32X4_CONST(0.5), ...F32X4_MUL],
      ...[...get(e), ...F32X4_CONST(TWO_OVER_SQRT_PI), ...F32X4_MUL, ...F32X4_MUL],
      ...[...F32X4_CONST(SQRT2), ...F32X4_DIV, ...F32X4_ADD, ...set(yv)],
    ];
  });
}

/** The module's bytes; `shared` must match the memory it will import (threaded builds share). */
export function assembleSimdModule(shared: boolean): Uint8Array {
  const sixI32 = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), ...vec([])];
  const fourI32 = [0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([])];
  const fiveI32 = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([])];
  const threeI32 = [0x60, ...vec([[I32], [I32], [I32]]), ...vec([])];
  // A shared memory must declare a maximum: 65536 pages (4 GiB), the most wasm32 allows.
  const limits = shared ? [0x03, ...uleb(0), ...uleb(65536)] : [0x00, ...uleb(0)];
  const body = (b: number[]) => [...uleb(b.length), ...b];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([sixI32, fourI32, fiveI32, threeI32])),
    ...section(2, vec([[...name("env"), ...name("memory"), 0x02, ...limits]])),
    ...section(3, vec([[0], [0], [1], [2], [2], [3], [3], [3], [1], [2]])),
    ...section(
      7,
      vec([
        [...name("sums"), 0x00, 0],
        [...name("affine"), 0x00, 1],
        [...name("reluGrad"), 0x00, 2],
        [...name("scatter"), 0x00, 3],
        [...name("poolGrad"), 0x00, 4],
        [...name("exp"), 0x00, 5],
        [...name("erf"), 0x00, 6],
        [...name("gelu"), 0x00, 7],
        [...name("geluGrad"), 0x00, 8],
        [...name("batchNorm"), 0x00, 9],
      ]),
    ),
    ...section(
      10,
      vec([
        body(sumsBody()),
        body(affineBody()),
        body(reluGradBody()),
        body(scatterBody()),
        body(poolGradBody()),
        body(expBody()),
        body(erfBody()),
        body(geluBody()),
        body(geluGradBody()),
        body(batchNormBody()),
      ]),
    ),
  ];
  return Uint8Array.from(bytes);
}

type Fn6 = (a: number, b: number, c: number, d: number, e: number, f: number) => void;
type Fn4 = (a: number, b: number, c: number, d: number) => void;
type Fn5 = (a: number, b: number, c: number, d: number, e: number) => void;
type Fn3 = (a: number, b: number, c: number) => void;

/** The loops, bound to one wasm backend's memory, with scratch space in it. */
export interface SimdLoops {
  /** The block copy, called directly (one call per row of blocks; the others go through `run`). */
  readonly scatter: Fn5;
  /** Address of SIMD_SCRATCH_BYTES of scratch. */
  readonly scratch: number;
  /** A fresh view of the backend's memory as floats (the heap may have grown since the last). */
  f32(): Float32Array;
  /**
   * Runs `count` calls written into `calls()` (CALL_INTS each: function index, then six
   * arguments), shared with the helper thread where there is one and the work is large enough
   * (`bytes` touched in all); returns when all are done.
   */
  run(count: number, bytes: number): void;
  /** The call list (an Int32Array of MAX_CALLS · CALL_INTS), shared with the helper thread. */
  calls(): Int32Array;
  /** Whether a helper thread is running (false until it has started, and after it failed). */
  helperReady(): boolean;
  /** How many calls the helper thread has run so far. */
  helperCalls(): number;
  /** Turns the helper thread's use off (false) or back on (for measurements). */
  useHelper(on: boolean): void;
}

/** Channels the helpers below take (their per-channel constants live in the scratch space). */
export const SIMD_MAX_CHANNELS = 1024;
/** Calls per batch (`run`), and the ints each takes in the call list: function, six arguments. */
const MAX_CALLS = 2048;
const CALL_INTS = 7;
/** Per-channel constants (up to 6 floats' room per channel), then one 8-float slot per call. */
const COEF_FLOATS = 6 * SIMD_MAX_CHANNELS;
const SCRATCH_FLOATS = COEF_FLOATS + 8 * MAX_CALLS;
/** Below this many bytes touched, waking the helper thread costs more than it saves. */
const SPLIT_BYTES = 256 * 1024;
const FN = {
  sums: 0,
  affine: 1,
  reluGrad: 2,
  scatter: 3,
  poolGrad: 4,
  exp: 5,
  erf: 6,
  gelu: 7,
  geluGrad: 8,
  batchNorm: 9,
} as const;
/** The channel group of each call of a batch of sums (main thread only). */
const groups = new Int32Array(MAX_CALLS);

/** Writes call `n` of a batch: function `fn` with up to six arguments (unused ones: 0). */
function putCall(calls: Int32Array, n: number, fn: number, args: readonly number[]): void {
  const q = CALL_INTS * n;
  calls[q] = fn;
  for (let j = 0; j < 6; j++) calls[q + 1 + j] = args[j] ?? 0;
}

/**
 * Calls `f(offset, rows, c)` for each tile of rows of an [M, C] float32 tensor and each group of
 * four channels c in it, tile by tile: `offset` is the byte offset of the tile's group. A tile is
 * ~16 KB, re-read from cache by the next group.
 */
function eachTile(M: number, C: number, f: (offset: number, rows: number, c: number) => void) {
  const tile = Math.max(128, Math.floor(4096 / C));
  for (let r0 = 0; r0 < M; r0 += tile) {
    const rows = Math.min(tile, M - r0);
    for (let c = 0; c < C; c += 4) f(4 * (r0 * C + c), rows, c);
  }
}

/**
 * Per channel c of the [M, C] float32 tensor at address `v` (C a multiple of 4, at most
 * SIMD_MAX_CHANNELS): a[c] += Σ v - shift[c], b[c] += Σ (v - shift[c])² when `w` is 0, else
 * a[c] += Σ w and b[c] += Σ w·(v - shift[c]) with `w` the address of a tensor of the same shape.
 * Float32 within a tile of rows, float64 across tiles, added up here in the same order whichever
 * thread ran a tile: the result does not depend on the helper thread.
 */
export function simdChannelSums(
  loops: SimdLoops,
  v: number,
  w: number,
  M: number,
  C: number,
  shift: Float64Array,
  a: Float64Array,
  b: Float64Array,
): void {
  let f32 = loops.f32();
  const k = loops.scratch;
  const slots = k + 4 * COEF_FLOATS;
  for (let c = 0; c < C; c++) f32[(k >>> 2) + c] = shift[c] as number;
  const stride = 4 * C;
  const calls = loops.calls();
  let n = 0;
  let bytes = 0;
  const flush = () => {
    loops.run(n, bytes);
    f32 = loops.f32();
    for (let i = 0; i < n; i++) {
      const c = groups[i] as number;
      const o = (slots >>> 2) + 8 * i;
      for (let j = 0; j < 4; j++) {
        a[c + j] = (a[c + j] as number) + (f32[o + j] as number);
        b[c + j] = (b[c + j] as number) + (f32[o + 4 + j] as number);
      }
    }
    n = 0;
    bytes = 0;
  };
  eachTile(M, C, (at, rows, c) => {
    // The last argument: this call's 8-float result slot.
    putCall(calls, n, FN.sums, [
      v + at,
      w === 0 ? 0 : w + at,
      rows,
      stride,
      k + 4 * c,
      slots + 32 * n,
    ]);
    groups[n] = c;
    n++;
    bytes += (w === 0 ? 16 : 32) * rows;
    if (n === MAX_CALLS) flush();
  });
  if (n > 0) flush();
}

/**
 * out = p[c]·u + q[c]·v + r[c] elementwise over [M, C] tensors at these addresses (u = 0: p·u is
 * left out); C a multiple of 4, at most SIMD_MAX_CHANNELS.
 */
export function simdChannelAffine(
  loops: SimdLoops,
  out: number,
  u: number,
  v: number,
  M: number,
  C: number,
  p: Float64Array,
  q: Float64Array,
  r: Float64Array,
): void {
  const f32 = loops.f32();
  const coef = loops.scratch;
  // Per group of four channels: p[4], q[4], r[4].
  for (let c = 0; c < C; c += 4) {
    const base = (coef >>> 2) + 3 * c;
    for (let j = 0; j < 4; j++) {
      f32[base + j] = p[c + j] as number;
      f32[base + 4 + j] = q[c + j] as number;
      f32[base + 8 + j] = r[c + j] as number;
    }
  }
  const stride = 4 * C;
  const calls = loops.calls();
  let n = 0;
  let bytes = 0;
  eachTile(M, C, (at, rows, c) => {
    putCall(calls, n, FN.affine, [
      out + at,
      u === 0 ? 0 : u + at,
      v + at,
      rows,
      stride,
      coef + 12 * c,
    ]);
    n++;
    bytes += (u === 0 ? 32 : 48) * rows;
    if (n === MAX_CALLS) {
      loops.run(n, bytes);
      n = 0;
      bytes = 0;
    }
  });
  if (n > 0) loops.run(n, bytes);
}

/**
 * BatchNorm at inference over the [M, C] float32 tensor at address `x` into `out`:
 * out = offset[c] + (x - mean[c])·scale[c] / norm[c] in tfjs-backend-wasm's FusedBatchNorm
 * loop's precision: (x - mean)·scale in float32, then divided by norm (√(variance + ε) in float32,
 * held as a double) and offset added in float64, rounded to float32. C a multiple of 4, at most
 * SIMD_MAX_CHANNELS.
 */
export function simdBatchNormInference(
  loops: SimdLoops,
  out: number,
  x: number,
  M: number,
  C: number,
  channels: { mean: Float32Array; scale: Float32Array; norm: Float32Array; offset: Float32Array },
): void {
  const f32 = loops.f32();
  const coef = loops.scratch;
  const f64 = new Float64Array(f32.buffer, coef, (4 * COEF_FLOATS) / 8);
  // Per group of four channels, 96 bytes: mean[4], scale[4] as floats, norm[4], offset[4] as doubles.
  for (let c = 0; c < C; c += 4) {
    const base = (coef >>> 2) + 6 * c;
    f32.set(channels.mean.subarray(c, c + 4), base);
    f32.set(channels.scale.subarray(c, c + 4), base + 4);
    f64.set(channels.norm.subarray(c, c + 4), 3 * c + 4);
    f64.set(channels.offset.subarray(c, c + 4), 3 * c + 8);
  }
  const stride = 4 * C;
  const calls = loops.calls();
  let n = 0;
  let bytes = 0;
  eachTile(M, C, (at, rows, c) => {
    putCall(calls, n, FN.batchNorm, [out + at, x + at, rows, stride, coef + 24 * c]);
    n++;
    bytes += 32 * rows;
    if (n === MAX_CALLS) {
      loops.run(n, bytes);
      n = 0;
      bytes = 0;
    }
  });
  if (n > 0) loops.run(n, bytes);
}

/** out = x > 0 ? dy : 0 over n floats at these addresses (n a positive multiple of 4). */
export function simdReluGrad(
  loops: SimdLoops,
  out: number,
  dy: number,
  x: number,
  n: number,
): void {
  elementwise(loops, FN.reluGrad, out, [dy, x], n);
}

/** The windows of `simdMaxPoolGrad`: all full, none overlapping, C a multiple of 4. */
export interface SimdPoolWindows {
  filterHeight: number;
  filterWidth: number;
  /** Bytes between rows of the input (W·C·4) and between its pixels (C·4). */
  rowBytes: number;
  pixelBytes: number;
  /** Bytes between the starts of horizontally adjacent windows (strideWidth·C·4). */
  windowBytes: number;
  /** Which maximum takes dy when several are equal: the first or the last in row-major order. */
  tie: "first" | "last";
}

/**
 * MaxPool's gradient, a row of windows per call: `rows` calls `emit(dx, x, dy, windows)` for each
 * row (the addresses of its first window in dx and x, of its dy pixel, and how many windows),
 * and every element of those windows in dx is written: dy + 0 at the window's maximum per channel
 * (NaN never one; with tie "first", a window whose maximum is -Infinity passes nothing on),
 * 0 elsewhere.
 */
export function simdMaxPoolGrad(
  loops: SimdLoops,
  w: SimdPoolWindows,
  rows: (emit: (dx: number, x: number, dy: number, windows: number) => void) => void,
): void {
  const geometry = loops.scratch;
  const g = new Int32Array(loops.f32().buffer, geometry, 11);
  const last = w.tie === "last";
  // "last": the same scan backwards, whose first maximum is the last one forwards.
  g[0] = w.filterHeight;
  g[1] = w.filterWidth;
  g[2] = last ? -w.rowBytes : w.rowBytes;
  g[3] = last ? -w.pixelBytes : w.pixelBytes;
  g[4] = last ? (w.filterHeight - 1) * w.rowBytes + (w.filterWidth - 1) * w.pixelBytes : 0;
  g[5] = w.windowBytes;
  g[6] = w.pixelBytes;
  g.fill(last ? 0 : -1, 7, 11);
  const perWindow = (2 * w.filterHeight * w.filterWidth + 1) * w.pixelBytes;
  const calls = loops.calls();
  let n = 0;
  let bytes = 0;
  rows((dx, x, dy, windows) => {
    putCall(calls, n++, FN.poolGrad, [dx, x, dy, windows, geometry]);
    bytes += windows * perWindow;
    if (n === MAX_CALLS) {
      loops.run(n, bytes);
      n = 0;
      bytes = 0;
    }
  });
  if (n > 0) loops.run(n, bytes);
}

/**
 * Calls `fn(out, ...inputs, count)` over n ≥ 1 floats in pieces the helper thread can share, the
 * count a multiple of `group` (the loop's floats per step: 4, or 4·UNROLL); the last n mod group
 * go through the same loop on copies in the scratch space, so every element gets the same
 * arithmetic. `out` may be one of the inputs.
 */
function elementwise(
  loops: SimdLoops,
  fn: number,
  out: number,
  inputs: readonly number[],
  n: number,
  group = 4,
): void {
  // Pieces of 16K floats (64 KB of each tensor): chunks enough for the helper thread to share.
  const PIECE = 16384;
  const bytesPerFloat = 4 * (inputs.length + 1);
  const whole = n - (n % group);
  const calls = loops.calls();
  let k = 0;
  for (let from = 0; from < whole; from += PIECE) {
    const count = Math.min(PIECE, whole - from);
    putCall(calls, k++, fn, [out + 4 * from, ...inputs.map((p) => p + 4 * from), count]);
    if (k === MAX_CALLS || from + PIECE >= whole) {
      loops.run(k, bytesPerFloat * PIECE * k);
      k = 0;
    }
  }
  if (whole < n) {
    const f32 = loops.f32();
    const tmp = loops.scratch >>> 2;
    inputs.forEach((p, j) => {
      for (let i = 0; i < group; i++)
        f32[tmp + group * j + i] = whole + i < n ? (f32[(p >>> 2) + whole + i] as number) : 0;
    });
    const copies = inputs.map((_, j) => loops.scratch + 4 * group * j);
    putCall(calls, 0, fn, [loops.scratch, ...copies, group]);
    loops.run(1, group * bytesPerFloat);
    for (let i = whole; i < n; i++) f32[(out >>> 2) + i] = f32[tmp + i - whole] as number;
  }
}

/**
 * out = exp(x), erf(x) (each within 1 ulp of the float64 function rounded to float32, see
 * scripts/fit-erf-exp.py) or GELU (see geluBody) elementwise over n ≥ 1 floats at these
 * addresses (out may be x).
 */
export function simdUnary(
  loops: SimdLoops,
  fn: "exp" | "erf" | "gelu",
  out: number,
  x: number,
  n: number,
): void {
  elementwise(loops, FN[fn], out, [x], n, 4 * UNROLL);
}

/** out = GELU's gradient for dy at x (see geluGradBody) over n ≥ 1 floats (out may be dy). */
export function simdGeluGrad(
  loops: SimdLoops,
  out: number,
  dy: number,
  x: number,
  n: number,
): void {
  elementwise(loops, FN.geluGrad, out, [dy, x], n, 4 * UNROLL);
}

// The WebAssembly API as used here (this package compiles without the DOM typings).
interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
interface WasmApi {
  Memory: abstract new (...args: never[]) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
  validate(bytes: Uint8Array): boolean;
}
const WASM = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface WasmModuleLike {
  wasmMemory?: WasmMemory;
  asm?: { memory?: WasmMemory };
  _malloc?: (n: number) => number;
}

const cache = new WeakMap<object, SimdLoops | null>();

// The helper thread: a worker_threads Worker that instantiates the same module on the same
// (shared) memory and takes calls from large batches alongside this thread. Both claim chunks of
// CHUNK calls from one counter, so a helper that wakes late (waking a sleeping thread costs
// 0.1-0.3 ms on this VM, as long as a BatchNorm pass) only takes what is left, and this thread
// never waits for work the helper has not begun. Control block, an Int32Array over a
// SharedArrayBuffer:
//   [0] batch number, bumped to wake the helper
//   [1] the claim word: (batch & 0x7fff) << 16 | index of the next unclaimed call; claims are
//       compare-exchanges on the whole word, so a claim can never take a call of another batch
//   [2] calls in the batch   [3] calls the helper has finished in it   [4] 1 once a helper call threw
//   [5] 1 once the helper runs
// and the call list follows from index CONTROL_INTS.
const CONTROL_INTS = 8;
const CHUNK = 16;
/** The claim word while a batch's list is being written: its index is past any batch's end. */
const CLOSED = 0xffff;
const HELPER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { memory, control, bytes, callInts, controlInts, chunk } = workerData;
const c = new Int32Array(control);
const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
const fns = [e.sums, e.affine, e.reluGrad, e.scatter, e.poolGrad, e.exp, e.erf, e.gelu, e.geluGrad, e.batchNorm];
Atomics.store(c, 5, 1);
for (let seen = 0; ; ) {
  // Spin a little before sleeping: a kernel's next pass then finds the helper awake.
  for (let s = 0; s < 20000 && Atomics.load(c, 0) === seen; s++);
  Atomics.wait(c, 0, seen);
  seen = Atomics.load(c, 0);
  const tag = (seen & 0x7fff) << 16;
  const count = Atomics.load(c, 2);
  for (;;) {
    const w = Atomics.load(c, 1);
    const i = w & 0xffff;
    if ((w & ~0xffff) !== tag || i >= count) break;
    const end = Math.min(i + chunk, count);
    if (Atomics.compareExchange(c, 1, w, tag | end) !== w) continue;
    try {
      for (let k = i; k < end; k++) {
        const q = controlInts + callInts * k;
        fns[c[q]](c[q + 1], c[q + 2], c[q + 3], c[q + 4], c[q + 5], c[q + 6]);
      }
    } catch {
      Atomics.store(c, 4, 1);
    }
    Atomics.add(c, 3, end - i);
    Atomics.notify(c, 3);
  }
}
`;

/**
 * Instantiates the loops on `memory` (a WebAssembly.Memory, shared or not), with `scratch` the
 * address of SIMD_SCRATCH_BYTES in it that nothing else uses. With `helper` and a shared memory,
 * also starts a helper thread for the large batches (`run`); where it cannot start, or until it
 * has, every call runs on this thread.
 */
export function bindSimdLoops(
  memory: object,
  scratch: number,
  options: { helper?: boolean } = {},
): SimdLoops {
  const m = memory as WasmMemory;
  const shared = m.buffer instanceof SharedArrayBuffer;
  const bytes = assembleSimdModule(shared);
  const instance = new WASM.Instance(new WASM.Module(bytes), { env: { memory: m } });
  const e = instance.exports as {
    sums: Fn6;
    affine: Fn6;
    reluGrad: Fn4;
    scatter: Fn5;
    poolGrad: Fn5;
    exp: Fn3;
    erf: Fn3;
    gelu: Fn3;
    geluGrad: Fn4;
    batchNorm: Fn5;
  };
  const ints = CONTROL_INTS + MAX_CALLS * CALL_INTS;
  const control = new Int32Array(
    shared ? new SharedArrayBuffer(4 * ints) : new ArrayBuffer(4 * ints),
  );
  control[1] = CLOSED;
  const list = control.subarray(CONTROL_INTS);
  let helper = false;
  // worker_threads is Node's: a browser page runs these loops on its one thread.
  const threads = nodeProcess()?.getBuiltinModule("node:worker_threads");
  if (options.helper && shared && threads) {
    try {
      const worker = new threads.Worker(HELPER_SOURCE, {
        eval: true,
        workerData: {
          memory,
          control: control.buffer,
          bytes,
          callInts: CALL_INTS,
          controlInts: CONTROL_INTS,
          chunk: CHUNK,
        },
      });
      worker.unref(); // asleep in Atomics.wait between batches: must not keep the process alive
      worker.on("error", () => Atomics.store(control, 4, 1));
      helper = true;
    } catch {
      helper = false; // no worker_threads here: one thread
    }
  }
  let batch = 0;
  let onHelper = 0;
  let enabled = true;
  const at = (i: number) => list[i] as number;
  const exec = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const q = CALL_INTS * i;
      const [f, a, b, c, d] = [at(q), at(q + 1), at(q + 2), at(q + 3), at(q + 4)];
      if (f === FN.sums) e.sums(a, b, c, d, at(q + 5), at(q + 6));
      else if (f === FN.affine) e.affine(a, b, c, d, at(q + 5), at(q + 6));
      else if (f === FN.reluGrad) e.reluGrad(a, b, c, d);
      else if (f === FN.poolGrad) e.poolGrad(a, b, c, d, at(q + 5));
      else if (f === FN.exp) e.exp(a, b, c);
      else if (f === FN.erf) e.erf(a, b, c);
      else if (f === FN.gelu) e.gelu(a, b, c);
      else if (f === FN.geluGrad) e.geluGrad(a, b, c, d);
      else if (f === FN.batchNorm) e.batchNorm(a, b, c, d, at(q + 5));
      else e.scatter(a, b, c, d, at(q + 5));
    }
  };
  const helperReady = () =>
    helper && Atomics.load(control, 5) === 1 && Atomics.load(control, 4) === 0;
  return {
    scatter: e.scatter,
    scratch,
    f32: () => new Float32Array(m.buffer),
    calls: () => list,
    helperReady,
    helperCalls: () => onHelper,
    useHelper(on) {
      enabled = on;
    },
    run(count, touched) {
      if (count <= CHUNK || touched < SPLIT_BYTES || !enabled || !helperReady()) {
        exec(0, count);
        return;
      }
      // The list is written (by the caller) while the claim word is CLOSED; open it, then wake.
      batch = (batch + 1) & 0x3fffffff;
      const tag = (batch & 0x7fff) << 16;
      Atomics.store(control, 2, count);
      Atomics.store(control, 3, 0);
      Atomics.store(control, 1, tag);
      Atomics.store(control, 0, batch);
      Atomics.notify(control, 0);
      let mine = 0;
      for (;;) {
        const w = Atomics.load(control, 1);
        const i = w & 0xffff;
        if (i >= count) break;
        const end = Math.min(i + CHUNK, count);
        if (Atomics.compareExchange(control, 1, w, tag | end) !== w) continue;
        exec(i, end);
        mine += end - i;
      }
      // Everything is claimed: wait for the chunks the helper is still running, if any. (Waits on
      // the value last seen: should the helper finish in between, wait returns at once.)
      for (let h = Atomics.load(control, 3); mine + h < count; h = Atomics.load(control, 3)) {
        Atomics.wait(control, 3, h, 1000);
      }
      Atomics.store(control, 1, CLOSED);
      if (Atomics.load(control, 4) !== 0)
        exec(0, count); // a helper call threw: all again here
      else onHelper += count - mine;
    },
  };
}

/** Bytes of scratch space `bindSimdLoops` needs. */
export const SIMD_SCRATCH_BYTES = 4 * SCRATCH_FLOATS;

/**
 * The SIMD loops for a tfjs-backend-wasm `backend`, or `null` where they cannot run (no SIMD in
 * this runtime, or a backend whose memory is not reachable): callers keep their JS loops then.
 */
export function simdLoops(backend: KernelBackend): SimdLoops | null {
  const module = (backend as unknown as { wasm?: WasmModuleLike }).wasm;
  if (module == null) return null;
  if (cache.has(module)) return cache.get(module) ?? null;
  let loops: SimdLoops | null = null;
  try {
    // Threaded builds create a shared memory and keep it on Module; the others export theirs.
    const memory = module.wasmMemory ?? module.asm?.memory;
    if (memory instanceof WASM.Memory && typeof module._malloc === "function") {
      const bytes = assembleSimdModule(memory.buffer instanceof SharedArrayBuffer);
      if (WASM.validate(bytes)) {
        // A helper thread where the backend runs threaded (its memory is then shared).
        loops = bindSimdLoops(memory, module._malloc(4 * SCRATCH_FLOATS) >>> 0, {
          helper: availableThreads() > 1,
        });
      }
    }
  } catch {
    loops = null; // e.g. a runtime without SIMD that validate() did not catch: JS loops then
  }
  cache.set(module, loops);
  return loops;
}
