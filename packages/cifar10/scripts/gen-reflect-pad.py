#!/usr/bin/python3
"""Writes the fixture src/random-crop.test.ts checks reflect padding against, computed by PyTorch.

Run from packages/cifar10 with Debian's python3-torch (1.13), not the python3 on PATH:

    /usr/bin/python3 scripts/gen-reflect-pad.py

The image is 32x32x3 HWC uint8 with pixel (y, x, c) = (y*7 + x*3 + c*101 + (x*y) % 5) & 0xff
(not separable in y and x, so a wrong row or column shows). The fixture holds airbench's
translate-by-2 input, F.pad(x, (2, 2, 2, 2), mode="reflect") on the NCHW float image, back as
36x36x3 HWC uint8: every random 32x32 crop (top, left in 0..4) must equal a window of it.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "__fixtures__", "reflect-pad-2.json")

y, x, c = np.meshgrid(np.arange(32), np.arange(32), np.arange(3), indexing="ij")
image = ((y * 7 + x * 3 + c * 101 + (x * y) % 5) & 0xFF).astype(np.uint8)
nchw = torch.from_numpy(image).permute(2, 0, 1)[None].float()
padded = F.pad(nchw, (2, 2, 2, 2), mode="reflect")[0].permute(1, 2, 0).round().to(torch.uint8)
assert tuple(padded.shape) == (36, 36, 3)
with open(OUT, "w") as f:
    json.dump(
        {
            "generator": "scripts/gen-reflect-pad.py",
            "torch": torch.__version__,
            "op": 'F.pad(x, (2, 2, 2, 2), mode="reflect")',
            "image": image.reshape(-1).tolist(),
            "padded": padded.reshape(-1).tolist(),
        },
        f,
    )
    f.write("\n")
print(f"wrote {OUT}")
