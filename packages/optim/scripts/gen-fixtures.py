# Writes the golden optimizer trajectories the tests compare against, computed by PyTorch itself.
#
# Run from the repository root with Debian's python3-torch (1.13), not the python3 on PATH:
#   /usr/bin/python3 packages/optim/scripts/gen-fixtures.py
# It rewrites packages/optim/src/__fixtures__/optimizers.json; commit it. Tests never need Python.
#
# The "model" is a handful of named float32 tensors shaped like a tiny ResNet's (a conv kernel,
# BatchNorm gamma/beta, a dense kernel and bias). The loss at step k is
#   sum_p sum(A_p * (p - T_p)^2) + sum(G_{k,p} * p)
# with fixed A, T and per-step G, so the gradient depends on the trajectory (2 A (p - T) + G_k):
# an optimizer that drifts from PyTorch's drifts further each step.
import json
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "src", "__fixtures__")
STEPS = 20
SHAPES = {
    "stem_conv/kernel": [3, 3, 2, 4],
    "stem_bn/gamma": [4],
    "stem_bn/beta": [4],
    "logits/kernel": [4, 3],
    "logits/bias": [3],
}


def is_decayed(name):
    return name.endswith("/kernel")


def problem(seed):
    rng = np.random.default_rng(seed)
    init, a, t, g = {}, {}, {}, {}
    for name, shape in SHAPES.items():
        init[name] = rng.normal(0, 0.5, shape).astype(np.float32)
        a[name] = rng.uniform(0.05, 1.0, shape).astype(np.float32)
        t[name] = rng.normal(0, 1.0, shape).astype(np.float32)
        g[name] = rng.normal(0, 1.0, [STEPS] + shape).astype(np.float32)
    return init, a, t, g


def run(case):
    init, a, t, g = problem(case["seed"])
    params = {n: torch.nn.Parameter(torch.tensor(v)) for n, v in init.items()}
    names = list(SHAPES)
    kind = case["optimizer"]
    opts = dict(case["options"])
    filt = case.get("decayFilter")
    if filt == "kernels-only":
        wd = opts.pop("weight_decay")
        groups = [
            {"params": [params[n] for n in names if is_decayed(n)], "weight_decay": wd},
            {"params": [params[n] for n in names if not is_decayed(n)], "weight_decay": 0.0},
        ]
    else:
        groups = [{"params": [params[n] for n in names]}]
    opt = (torch.optim.AdamW if kind == "AdamW" else torch.optim.SGD)(groups, **opts)
    sched = None
    if case.get("oneCycle"):
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, total_steps=STEPS, **case["oneCycle"])
    lrs, moms, norms = [], [], []
    for k in range(STEPS):
        opt.zero_grad()
        loss = sum(
            (torch.tensor(a[n]) * (params[n] - torch.tensor(t[n])) ** 2).sum()
            + (torch.tensor(g[n][k]) * params[n]).sum()
            for n in names
        )
        loss.backward()
        if case.get("clip") is not None:
            norms.append(float(torch.nn.utils.clip_grad_norm_(list(params.values()), case["clip"])))
        group = opt.param_groups[0]
        lrs.append(group["lr"])
        moms.append(group["betas"][0] if kind == "AdamW" else group["momentum"])
        opt.step()
        if sched is not None:
            sched.step()
    return {
        **case,
        "lr": lrs,
        "momentum": moms,
        "preClipNorms": norms if case.get("clip") is not None else None,
        "final": {n: p.detach().numpy().reshape(-1).tolist() for n, p in params.items()},
    }


CASES = [
    {"name": "AdamW constant lr", "optimizer": "AdamW", "seed": 1,
     "options": {"lr": 0.05, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.05}},
    {"name": "AdamW OneCycleLR lr and beta1", "optimizer": "AdamW", "seed": 2,
     "options": {"lr": 0.05, "weight_decay": 0.01},
     "oneCycle": {"max_lr": 0.1, "pct_start": 0.25}},
    {"name": "AdamW OneCycleLR with clipping", "optimizer": "AdamW", "seed": 3,
     "options": {"lr": 0.05, "weight_decay": 0.1},
     "oneCycle": {"max_lr": 0.08, "three_phase": True}, "clip": 2.0},
    {"name": "AdamW decay on kernels only", "optimizer": "AdamW", "seed": 4,
     "options": {"lr": 0.03, "weight_decay": 0.5, "eps": 1e-6}, "decayFilter": "kernels-only"},
    {"name": "SGD momentum and weight decay", "optimizer": "SGD", "seed": 5,
     "options": {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}},
    {"name": "SGD Nesterov OneCycleLR lr and momentum", "optimizer": "SGD", "seed": 6,
     "options": {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
     "oneCycle": {"max_lr": 0.1}},
    {"name": "SGD OneCycleLR with clipping and dampening", "optimizer": "SGD", "seed": 7,
     "options": {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-3},
     "oneCycle": {"max_lr": 0.2, "anneal_strategy": "linear"}, "clip": 1.5},
    {"name": "SGD Nesterov decay on kernels only, clipped", "optimizer": "SGD", "seed": 8,
     "options": {"lr": 0.02, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05},
     "decayFilter": "kernels-only", "clip": 3.0},
    {"name": "SGD plain", "optimizer": "SGD", "seed": 9, "options": {"lr": 0.03}},
]


def main():
    os.makedirs(OUT, exist_ok=True)
    problems = {}
    results = []
    for case in CASES:
        init, a, t, g = problem(case["seed"])
        problems[str(case["seed"])] = {
            "init": {n: v.reshape(-1).tolist() for n, v in init.items()},
            "a": {n: v.reshape(-1).tolist() for n, v in a.items()},
            "t": {n: v.reshape(-1).tolist() for n, v in t.items()},
            "g": {n: v.reshape(-1).tolist() for n, v in g.items()},
        }
        results.append(run(case))
    with open(os.path.join(OUT, "optimizers.json"), "w") as f:
        json.dump({"torch": torch.__version__, "steps": STEPS, "shapes": SHAPES,
                   "problems": problems, "cases": results}, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
