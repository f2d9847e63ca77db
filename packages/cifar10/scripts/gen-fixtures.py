#!/usr/bin/python3
"""Writes the pickle fixtures that src/read-pickle.test.ts checks the strict reader against.

Run from packages/cifar10 with Debian's Python (it has numpy):

    /usr/bin/python3 scripts/gen-fixtures.py

Each fixture is a two-image batch in the layout of cifar-10-batches-py
({"data": uint8 ndarray 2x3072, "labels": [...], "batch_label": ..., "filenames": [...]}),
pickled by Python 3's own pickle and numpy, so the reader is tested against real pickler output
and not only against bytes written by our own test helper. Pixel values follow
test/helpers.ts `pixel(i, y, x, c)`: (i*31 + y*7 + x*3 + c*101) & 0xff, planar (R, G, B planes).
"""
import os
import pickle

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "__fixtures__")


def batch():
    data = np.zeros((2, 3072), dtype=np.uint8)
    for i in range(2):
        for c in range(3):
            for y in range(32):
                for x in range(32):
                    data[i, c * 1024 + y * 32 + x] = (i * 31 + y * 7 + x * 3 + c * 101) & 0xFF
    return {
        "batch_label": "testing batch 1 of 1",
        "labels": [3, 7],
        "data": data,
        "filenames": ["a.png", "b.png"],
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for protocol in (3, 4):
        path = os.path.join(OUT, "py3-protocol%d-batch.pkl" % protocol)
        with open(path, "wb") as f:
            pickle.dump(batch(), f, protocol=protocol)
        print("wrote", os.path.relpath(path), os.path.getsize(path), "bytes, numpy", np.__version__)


if __name__ == "__main__":
    main()
