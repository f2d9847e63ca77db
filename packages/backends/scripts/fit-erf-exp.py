#!/usr/bin/python3
"""Fits the polynomials of the float32 Exp and Erf kernels (src/wasm-simd.ts) and checks them.

Run from packages/backends (numpy, scipy and mpmath; Debian's python3-numpy, -scipy, -mpmath):

    python3 scripts/fit-erf-exp.py            # coefficients, then a check on every 97th float
    python3 scripts/fit-erf-exp.py --step 3   # a denser check (about a minute)

It prints the coefficients as TypeScript, then the largest error in float32 ulps against
float64 references (numpy's exp, scipy's erf) of a simulation that performs exactly the
float32 operations of the SIMD loops in the same order (wasm SIMD has no fused multiply-add,
so each product and sum rounds to float32 on its own, as numpy's float32 arithmetic does).

The algorithms:
  exp(x): x clamped to [-104, 89] (beyond, the result is 0 or Infinity anyway; NaN stays);
    n = nearest(x·log2 e), r = x - n·ln2_hi - n·ln2_lo (ln2_hi has 9 significant bits, so
    n·ln2_hi is exact), e^r = 1 + r + r²·q(r) with q a degree-4 fit on |r| ≤ ln2/2, then
    ·2^n1·2^n2 with n1 = n >> 1, n2 = n - n1 (both normal powers of two even where 2^n is not,
    so results in the denormal range round once, in the last product).
  erf(x), a = |x|, sign put back at the end:
    a < 1:  a + a·P(a²)                P of degree 6: erf(a)/a - 1 (the leading 1 kept exact)
    a ≥ 1:  1 - exp(-c²)·R(1/(1 + c/2)), c = min(a, 4)
                                        R of degree 6: erfc(c)·exp(c²), a smooth function of
                                        t = 1/(1 + c/2) (erf rounds to 1 from 3.92 on)
Fits are near-minimax in relative error (Lawson's iteratively reweighted least squares on
Chebyshev nodes, targets from mpmath at 40 digits).
"""
import argparse

import mpmath as mp
import numpy as np
from scipy.special import erf as erf64

mp.mp.dps = 40
f32 = np.float32
LN2 = float(mp.log(2))
LN2_HI = f32(0.693359375)
LN2_LO = f32(LN2 - 0.693359375)
LOG2E = f32(1 / LN2)
SPLIT = 1.0  # erf: the polynomial below, the exp form from here on
CLAMP = 4.0  # erf: 1 - erfc(4) rounds to 1
T_SCALE = 0.5  # erf: t = 1 / (1 + T_SCALE·c)


def cheb_nodes(a, b, n):
    k = np.arange(n)
    return (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / n)


def lawson(basis, target, weight, iters=60):
    """Coefficients minimising max |weight·(basis·c - target)|, approximately."""
    a = basis * weight[:, None]
    y = target * weight
    w = np.ones(len(y))
    for _ in range(iters):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
        w = np.maximum(w * np.abs(a @ c - y), 1e-300)
        w /= w.sum()
    return c, float(np.max(np.abs(a @ c - y)))


def fit():
    # exp: q(r) = (e^r - 1 - r) / r², weighted so that the error is relative to e^r.
    r = cheb_nodes(-LN2 / 2, LN2 / 2, 400)
    q_target = np.array([float((mp.exp(v) - 1 - mp.mpf(v)) / mp.mpf(v) ** 2) for v in r])
    q, q_err = lawson(np.vander(r, 5, increasing=True), q_target, r * r / np.exp(r))
    # erf, small: P(s) = erf(√s)/√s - 1, relative to erf(√s)/√s.
    s = cheb_nodes(0, SPLIT * SPLIT, 400)
    p_target = np.array([float(mp.erf(mp.sqrt(v)) / mp.sqrt(v) - 1) for v in s])
    p, p_err = lawson(np.vander(s, 7, increasing=True), p_target, 1 / (p_target + 1))
    # erf, large: R(t) = erfc(c)·exp(c²), c = (1/t - 1)/T_SCALE.
    c = cheb_nodes(SPLIT, CLAMP, 500)
    t = 1 / (1 + T_SCALE * c)
    r_target = np.array([float(mp.erfc(v) * mp.exp(mp.mpf(v) ** 2)) for v in c])
    rr, r_err = lawson(np.vander(t, 7, increasing=True), r_target, 1 / r_target)
    return [f32(v) for v in q], [f32(v) for v in p], [f32(v) for v in rr], (q_err, p_err, r_err)


def horner(coefs, t):
    acc = np.full_like(t, coefs[-1])
    for c in coefs[-2::-1]:
        acc = (acc * t).astype(f32) + c
    return acc.astype(f32)


def exp32(x, q):
    """The SIMD loop's exp, operation by operation."""
    x = np.minimum(np.maximum(x, f32(-104)), f32(89))
    n = np.rint((x * LOG2E).astype(f32))
    r = (x - (n * LN2_HI).astype(f32)).astype(f32)
    r = (r - (n * LN2_LO).astype(f32)).astype(f32)
    e = ((((r * r).astype(f32) * horner(q, r)).astype(f32) + r).astype(f32) + f32(1)).astype(f32)
    ni = np.where(np.isnan(n), 0, n).astype(np.int32)
    n1 = ni >> 1
    n2 = ni - n1
    with np.errstate(over="ignore", under="ignore"):
        e = (e * ((n1 + 127) << 23).astype(np.int32).view(f32)).astype(f32)
        return (e * ((n2 + 127) << 23).astype(np.int32).view(f32)).astype(f32)


def erf32(x, q, p, rr):
    """The SIMD loop's erf, operation by operation."""
    a = np.abs(x)
    small = (a + (a * horner(p, (a * a).astype(f32))).astype(f32)).astype(f32)
    c = np.minimum(a, f32(CLAMP))
    e = exp32(-(c * c).astype(f32), q)
    t = (f32(1) / ((c * f32(T_SCALE)).astype(f32) + f32(1)).astype(f32)).astype(f32)
    large = (f32(1) - (e * horner(rr, t)).astype(f32)).astype(f32)
    return np.copysign(np.where(a < f32(SPLIT), small, large), x).astype(f32)


def ordinal(v):
    i = np.asarray(v, dtype=f32).view(np.int32).astype(np.int64)
    return np.where(i < 0, -(i & 0x7FFFFFFF), i)


def worst(fn, ref, lo, hi, step):
    """Largest ulp error over every `step`-th float32 bit pattern in [lo, hi)."""
    most, at = 0, None
    for start in range(lo, hi, 1 << 26):
        x = np.arange(start, min(start + (1 << 26), hi), step, dtype=np.int64)
        x = x.astype(np.uint32).view(f32)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            u = np.abs(ordinal(fn(x)) - ordinal(ref(x.astype(np.float64)).astype(f32)))
        i = int(np.argmax(u))
        if u[i] > most:
            most, at = int(u[i]), x[i]
    return most, at


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--step", type=int, default=97)
    step = ap.parse_args().step
    q, p, rr, errs = fit()
    ts = lambda name, cs: f"const {name} = [{', '.join(repr(float(v)) for v in cs)}];"
    print(ts("EXP_Q", q))
    print(ts("ERF_P", p))
    print(ts("ERF_R", rr))
    print(f"// fit errors (relative): q {errs[0]:.2g}, P {errs[1]:.2g}, R {errs[2]:.2g}")
    e = lambda x: exp32(x, q)
    pos = worst(e, np.exp, 0, 0x42B20000, step)  # [0, 89)
    neg = worst(e, np.exp, 0x80000000, 0xC2D00000, step)  # (-104, -0]
    er = worst(lambda x: erf32(x, q, p, rr), erf64, 0, 0x40900000, step)  # [0, 4.5)
    print(f"// exp: at most {max(pos[0], neg[0])} ulp ({pos[1]}, {neg[1]}); erf: {er[0]} ulp ({er[1]})")


if __name__ == "__main__":
    main()
