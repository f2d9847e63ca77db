#!/usr/bin/python3
# Where PyTorch's training step of fastResNet spends its time, per operation, to put beside
# bench/profile-step.ts's per-kernel figures of ours (same network, batch and threads).
#   /usr/bin/python3 bench/torch_profile_step.py [--widths 24,96,96] [--batch 1024] [--threads 2]
#       [--reps 3]
# Two parts:
# - the step (apps/trainer/bench/torch_fast.py's FastResNet, cross-entropy, momentum SGD, as
#   packages/train/bench/torch_train.py times it) under torch.autograd.profiler, its top-level
#   operations summed by kind (conv forward, conv backward, BatchNorm, GELU, max-pool, optimizer);
# - each convolution shape of that net alone: forward, input gradient and filter gradient
#   (aten::convolution_backward with one output asked for at a time; the step's backward
#   computes both gradients in one call), median of --reps after a warm-up, in tfjs's NHWC
#   shapes so the rows match profile-step.ts --by-shape.
import argparse
import os
import statistics
import sys
import time
from collections import defaultdict

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "apps", "trainer", "bench"))
import torch_fast  # noqa: E402  (the trainer's PyTorch twin of fastResNet)

KINDS = [
    ("conv forward", ("aten::conv2d",)),
    ("conv backward (dX + dW)", ("ConvolutionBackward",)),
    ("BatchNorm", ("aten::batch_norm",)),
    ("BatchNorm backward", ("NativeBatchNormBackward",)),
    ("GELU", ("aten::gelu",)),
    ("GELU backward", ("GeluBackward",)),
    ("max-pool", ("aten::max_pool2d",)),
    ("max-pool backward", ("MaxPool2DWithIndicesBackward",)),
    ("optimizer", ("Optimizer.step",)),
    ("zero_grad", ("Optimizer.zero_grad",)),
]


def kind_of(name):
    for kind, keys in KINDS:
        if any(k in name for k in keys):
            return kind
    return "other: " + name.replace("autograd::engine::evaluate_function: ", "")


def profile_step(model, opt, x, y):
    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    step()
    step()
    t = time.perf_counter()
    step()
    print(f"one unprofiled step: {1000 * (time.perf_counter() - t):.0f} ms")
    with torch.autograd.profiler.profile() as prof:
        t = time.perf_counter()
        step()
        wall = time.perf_counter() - t
    sums = defaultdict(lambda: [0.0, 0])
    for e in prof.function_events:
        if e.cpu_parent is not None:
            continue
        s = sums[kind_of(e.name)]
        s[0] += e.cpu_time_total / 1000
        s[1] += 1
    total = sum(v[0] for v in sums.values())
    print(f"step wall {1000 * wall:.0f} ms (profiled), top-level operations {total:.0f} ms")
    for kind, (ms, calls) in sorted(sums.items(), key=lambda kv: -kv[1][0]):
        if ms >= 0.5:
            print(f"{kind:<40}{ms:9.1f} ms {calls:5d} calls {100 * ms / total:6.1f}%")


def conv_shapes(widths, batch):
    """(NHWC input, HWIO filter) of each convolution of fastResNet, in order: the 2x2 whitening
    stem (valid), then two 3x3 'same' convs per group, each group's first followed by a 2x2 pool."""
    shapes = [((batch, 32, 32, 3), (2, 2, 3, 24), 0)]
    size, cin = 31, 24
    for w in widths:
        shapes.append(((batch, size, size, cin), (3, 3, cin, w), 1))
        size //= 2
        shapes.append(((batch, size, size, w), (3, 3, w, w), 1))
        cin = w
    return shapes


def median_ms(f, reps):
    f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


def conv_table(widths, batch, reps):
    print(f"\nconvolutions alone, ms (median of {reps}):")
    print(f"{'input NHWC':<22}{'filter HWIO':<14}{'forward':>9}{'dInput':>9}{'dFilter':>9}")
    totals = [0.0, 0.0, 0.0]
    seen = defaultdict(int)
    for shape in conv_shapes(widths, batch):
        seen[shape] += 1
    for (xs, ws, pad), count in seen.items():
        n, h, w, ci = xs
        kh, kw, _, co = ws
        x = torch.randn(n, ci, h, w)
        wt = torch.randn(co, ci, kh, kw)
        dy = torch.randn(F.conv2d(x, wt, padding=pad).shape)

        def back(mask):
            return torch.ops.aten.convolution_backward(
                dy, x, wt, None, [1, 1], [pad, pad], [1, 1], False, [0, 0], 1, mask
            )

        stem = ci == 3
        row = [
            median_ms(lambda: F.conv2d(x, wt, padding=pad), reps),
            # The stem needs neither gradient: its input is the data, its filter frozen.
            0.0 if stem else median_ms(lambda: back([True, False, False]), reps),
            0.0 if stem else median_ms(lambda: back([False, True, False]), reps),
        ]
        for i, v in enumerate(row):
            totals[i] += count * v
        label = f"[{','.join(map(str, xs))}]" + (f" x{count}" if count > 1 else "")
        print(f"{label:<22}{'[' + ','.join(map(str, ws)) + ']':<14}" + "".join(f"{v:9.1f}" for v in row))
    print(f"{'total (per step)':<36}" + "".join(f"{v:9.1f}" for v in totals))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--widths", default="24,96,96")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    widths = [int(w) for w in a.widths.split(",")]
    model = torch_fast.FastResNet(widths, torch_fast.DEFAULTS)
    model.whiten.weight.requires_grad = False
    model.train()
    opt = torch.optim.SGD([q for q in model.parameters() if q.requires_grad], lr=0.01, momentum=0.9)
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fastResNet {a.widths}, batch {a.batch}")
    profile_step(model, opt, x, y)
    conv_table(widths, a.batch, a.reps)


if __name__ == "__main__":
    main()
