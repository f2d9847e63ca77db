#!/usr/bin/python3
# The PyTorch side of `pnpm bench` (bench/train.ts runs it): the same SmallResNet as
# @cnnkit/resnet (conv3x3 stem + BN + ReLU, 2 basic blocks per stage, projection shortcuts,
# global average pool, linear), trained with the same loss and optimizer, on this CPU.
# With --model fast: apps/trainer/bench/torch_fast.py's twin of fastResNet (whitening stem frozen,
# GELU, max-pool groups with residuals), as the trainer's PyTorch reference trains it.
# Run alone: /usr/bin/python3 bench/torch_train.py --widths 64,128,256 --batch 64 --steps 3
# Prints one JSON line: {"train_img_s", "infer_img_s", "threads", "params", "torch"}.
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "resnet", "scripts"))
from torch_resnet import ResNet  # noqa: E402  (@cnnkit/resnet's twin, written once there)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["small", "fast"], default="small")
    p.add_argument("--widths", default="64,128,256")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1, help="untimed training steps first")
    p.add_argument("--threads", type=int, default=0, help="0 = PyTorch's default (all cores)")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    widths = [int(w) for w in a.widths.split(",")]
    if a.model == "fast":
        sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "apps", "trainer", "bench"))
        import torch_fast  # noqa: E402

        model = torch_fast.FastResNet(widths, torch_fast.DEFAULTS)
        model.whiten.weight.requires_grad = False  # the frozen whitening stem, as in training
    else:
        model = ResNet(widths, [2] * len(widths))  # SmallResNet: two blocks per stage
    opt = torch.optim.SGD([q for q in model.parameters() if q.requires_grad], lr=0.01, momentum=0.9)
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    model.train()
    for _ in range(max(1, a.warmup)):
        step()  # warm-up
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    train = a.batch * a.steps / (time.perf_counter() - t)
    model.eval()
    with torch.no_grad():
        model(x)
        t = time.perf_counter()
        for _ in range(a.steps):
            model(x)
        infer = a.batch * a.steps / (time.perf_counter() - t)
    print(json.dumps({
        "train_img_s": train,
        "infer_img_s": infer,
        "threads": torch.get_num_threads(),
        "params": sum(q.numel() for q in model.parameters() if q.requires_grad),
        "torch": torch.__version__,
        "native": native_libraries(),
    }))


def native_libraries():
    """What PyTorch's speed here rests on: the BLAS library it loaded and the CPU's widest SIMD.

    Debian's python3-torch links libblas.so.3, which is the slow reference BLAS (libblas3) unless
    an optimised one (libopenblas0-pthread) is installed; and oneDNN blocks channels by 16 on
    AVX-512 (by 8 on AVX2), so layers whose channels are not whole blocks can run far slower there.
    """
    with open("/proc/self/maps") as maps:
        libs = sorted({line.split()[-1] for line in maps if "blas" in line.split()[-1]})
    with open("/proc/cpuinfo") as cpuinfo:
        flags = next((line for line in cpuinfo if line.startswith("flags")), "").split()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return {"blas": [os.path.basename(lib) for lib in libs], "cpu": isa}


if __name__ == "__main__":
    main()
