#!/usr/bin/python3
"""Writes src/__fixtures__/float16-rounding.json, what src/round-to-half.test.ts checks
roundToHalf against: float32 inputs and their IEEE binary16 value as numpy converts them
(float32 -> float16 is round-to-nearest-even, with subnormals and overflow to infinity).

Run from packages/train with Debian's Python (it has numpy):

    /usr/bin/python3 scripts/gen-float16-fixture.py

Inputs are stored as float32 bit patterns (exact); expected values as float16 bit patterns.
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "src", "__fixtures__", "float16-rounding.json"))

f32 = np.float32
EDGES = [
    0.0, -0.0, 1.0, -1.0,
    65504.0,                         # largest finite half
    np.nextafter(f32(65520), f32(0)),  # just below the overflow threshold: 65504
    65520.0,                         # the tie between 65504 and 2^16: to even, i.e. infinity
    65536.0, 1e5, -1e5, 3.4028234663852886e38,
    2.0 ** -24,                      # smallest subnormal half
    2.0 ** -25,                      # the tie between 0 and 2^-24: to even, 0
    np.nextafter(f32(2.0 ** -25), f32(1)),  # just above it: 2^-24
    3 * 2.0 ** -25,                  # tie between 2^-24 and 2^-23: to even, 2^-23
    2.0 ** -26, 1e-8, -1e-8, 1e-30, 1e-45,  # underflow to zero (1e-45 is a float32 subnormal)
    2.0 ** -14,                      # smallest normal half
    2.0 ** -14 - 2.0 ** -25,         # tie between the largest subnormal and 2^-14: to even (2^-14)
    2.0 ** -14 - 3 * 2.0 ** -25,     # tie between 1022 and 1023 x 2^-24: to even (1022)
    1 + 2.0 ** -11,                  # tie between 1 and 1 + 2^-10: to even, 1
    1 + 3 * 2.0 ** -11,              # tie between 1 + 2^-10 and 1 + 2^-9: to even, 1 + 2^-9
    2049.0, 2051.0, -2049.0, 4097.0, 4098.0, 4099.0, 4100.0,
    2.0 - 2.0 ** -12,                # rounds up across the binade to 2
    0.1, 1 / 3, 3.14159265, 1e-4, 6e-5, 6.1e-5, 1e-7, 5.96e-8, 2.98e-8, 2.99e-8,
]
SPECIAL = [float("inf"), float("-inf"), float("nan")]


def main():
    rng = np.random.default_rng(0)
    # Log-uniform magnitudes from 2^-30 to 2^17 (underflow, subnormal, normal and overflow), both signs.
    magnitudes = np.exp2(rng.uniform(-30, 17, 3000)).astype(f32)
    signs = rng.choice(np.array([-1, 1], dtype=f32), 3000)
    # Halfway points between neighbouring halves (exact in float32): every tie, both ways.
    halves = rng.integers(0, 0x7BFF, 500, dtype=np.uint16).view(np.float16).astype(f32)
    ties = (halves + np.nextafter(halves.astype(np.float16), np.float16(np.inf)).astype(f32)) / f32(2)
    values = np.concatenate([
        np.array(EDGES + SPECIAL, dtype=f32),
        magnitudes * signs,
        ties,
        -ties,
    ]).astype(f32)
    with np.errstate(over="ignore"):  # overflow to infinity is the point
        half = values.astype(np.float16)
    data = {
        "generator": "scripts/gen-float16-fixture.py (numpy %s float32 -> float16)" % np.__version__,
        "input_bits": values.view(np.uint32).tolist(),
        "half_bits": half.view(np.uint16).tolist(),
    }
    with open(OUT, "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", OUT, len(values), "values")


if __name__ == "__main__":
    main()
