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
#
# Parameter-group cases build one torch param group per cnnkit group (each parameter in the first
# whose matcher accepts its name, the rest in a group of their own, listed first so that
# param_groups[0] is the optimizer's own lr) and drive the lr with LambdaLR, whose factors they
# record. The "SGD decoupled" case takes airbench's numbers (lr and weight decay per 1024
# examples) through airbench's conversion, written out below as in airbench94.py.
#
# Lookahead: PyTorch has no such class, so the fixtures' lookahead is airbench94's LookaheadState
# written in plain torch (lerp_ into the average, then copy it into the parameters, every 5 steps,
# decay 0.95^5 * (step/total)^3; the average copied in after the last step).
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


# The matchers the group cases name; the tests map them to cnnkit's (batchNormBiases, a RegExp).
MATCHERS = {
    "bn-beta": lambda name: name.endswith("/beta"),
    "bn": lambda name: "_bn/" in name,
}


def decoupled(lr, weight_decay, momentum, batch_size, bias_scaler):
    """airbench's hyperparameters -> PyTorch SGD options for a mean loss (airbench94.py's lines)."""
    kilostep_scale = 1024 * (1 + 1 / (1 - momentum))
    lr_sum = lr / kilostep_scale  # airbench sums the loss over the batch
    lr_mean = lr_sum * batch_size  # the same steps for a mean loss
    wd = weight_decay * batch_size / kilostep_scale
    return {
        "options": {"lr": lr_mean, "momentum": momentum, "nesterov": True,
                    "weight_decay": wd / lr_mean},
        "groups": [{"match": "bn-beta", "lr_scale": bias_scaler,
                    "weight_decay": wd / (lr_mean * bias_scaler)}],
    }


def triangle(k):
    """The fast recipe's LambdaLR factor shape over STEPS steps: 0.2 -> 1 at 23%, then -> 0.07."""
    peak = int(0.23 * STEPS)
    if k < peak:
        return 0.2 + 0.8 * k / peak
    return 1.0 + (0.07 - 1.0) * (k - peak) / max(1, STEPS - peak)


def warm_linear(k):
    return min(1.0, (k + 1) / 4) * (1 - k / (STEPS + 1))


def problem(seed):
    rng = np.random.default_rng(seed)
    init, a, t, g = {}, {}, {}, {}
    for name, shape in SHAPES.items():
        init[name] = rng.normal(0, 0.5, shape).astype(np.float32)
        a[name] = rng.uniform(0.05, 1.0, shape).astype(np.float32)
        t[name] = rng.normal(0, 1.0, shape).astype(np.float32)
        g[name] = rng.normal(0, 1.0, [STEPS] + shape).astype(np.float32)
    return init, a, t, g


def run(case, lookahead=None):
    init, a, t, g = problem(case["seed"])
    params = {n: torch.nn.Parameter(torch.tensor(v)) for n, v in init.items()}
    names = list(SHAPES)
    kind = case["optimizer"]
    opts = dict(case["options"])
    filt = case.get("decayFilter")
    if case.get("groups"):
        assert filt is None
        members = [[] for _ in case["groups"]]
        rest = []
        for n in names:
            i = next((i for i, gr in enumerate(case["groups"]) if MATCHERS[gr["match"]](n)), None)
            (rest if i is None else members[i]).append(params[n])
        groups = [{"params": rest}] + [
            {"params": ps, "lr": opts["lr"] * gr["lr_scale"], "weight_decay": gr["weight_decay"]}
            for gr, ps in zip(case["groups"], members)
        ]
    elif filt == "kernels-only":
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
    if case.get("lrFactor"):
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: case["lrFactor"][k])
    steps = lookahead["totalSteps"] if lookahead else STEPS
    avg = [p.detach().clone() for p in params.values()] if lookahead else None
    lrs, moms, norms, group_lrs, trajectory = [], [], [], [], []
    for k in range(steps):
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
        group_lrs.append([gr["lr"] for gr in opt.param_groups[1:]])
        moms.append(group["betas"][0] if kind == "AdamW" else group["momentum"])
        opt.step()
        if sched is not None:
            sched.step()
        if lookahead:
            step = k + 1
            every, total = lookahead["every"], lookahead["totalSteps"]
            with torch.no_grad():
                if step % every == 0:
                    decay = lookahead["base"] ** every * (step / total) ** 3
                    for av, p in zip(avg, params.values()):
                        av.lerp_(p, 1 - decay)
                        p.copy_(av)
                if step == total:
                    for av, p in zip(avg, params.values()):
                        p.copy_(av)
            trajectory.append({n: p.detach().numpy().reshape(-1).tolist() for n, p in params.items()})
    final = {n: p.detach().numpy().reshape(-1).tolist() for n, p in params.items()}
    if lookahead:
        return {**lookahead, "trajectory": trajectory, "final": final}
    out = {
        **case,
        "lr": lrs,
        "momentum": moms,
        "preClipNorms": norms if case.get("clip") is not None else None,
        "final": final,
    }
    if case.get("groups"):
        # Each group's lr per step as PyTorch's LambdaLR set it (initial lr × factor).
        out["groupLr"] = group_lrs
    return out


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
    # airbench's parametrisation, scaled to this small problem (airbench94: lr 11.5, wd 0.0153,
    # batch 1024): BatchNorm biases at 64x the lr with their own weight decay, Nesterov 0.85.
    {"name": "SGD decoupled groups: BatchNorm biases 64x, Nesterov 0.85, LambdaLR",
     "optimizer": "SGD", "seed": 10,
     "decoupled": {"lr": 0.15, "weight_decay": 1.0, "momentum": 0.85, "batch_size": 256,
                   "bias_scaler": 64.0},
     **decoupled(0.15, 1.0, 0.85, 256, 64.0),
     "lrFactor": [triangle(k) for k in range(STEPS + 1)]},
    # Two groups where the second also matches the first's variables: first match wins.
    {"name": "AdamW groups: first match wins, LambdaLR", "optimizer": "AdamW", "seed": 11,
     "options": {"lr": 0.02, "weight_decay": 0.1},
     "groups": [{"match": "bn-beta", "lr_scale": 8.0, "weight_decay": 0.2},
                {"match": "bn", "lr_scale": 0.5, "weight_decay": 0.0}],
     "lrFactor": [warm_linear(k) for k in range(STEPS + 1)]},
]

# Lookahead over the decoupled SGD case: a run whose last step is an averaging step, and one
# whose last averaging is 3 steps before the end (the final copy brings the average back in).
LOOKAHEAD_CASE = "SGD decoupled groups: BatchNorm biases 64x, Nesterov 0.85, LambdaLR"
LOOKAHEAD = [
    {"name": "lookahead every 5 of 20 steps", "case": LOOKAHEAD_CASE,
     "totalSteps": 20, "every": 5, "base": 0.95},
    {"name": "lookahead every 5 of 18 steps", "case": LOOKAHEAD_CASE,
     "totalSteps": 18, "every": 5, "base": 0.95},
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
    by_name = {c["name"]: c for c in CASES}
    lookahead = [run(by_name[la["case"]], la) for la in LOOKAHEAD]
    with open(os.path.join(OUT, "optimizers.json"), "w") as f:
        json.dump({"torch": torch.__version__, "steps": STEPS, "shapes": SHAPES,
                   "problems": problems, "cases": results, "lookahead": lookahead}, f,
                  separators=(",", ":"))


if __name__ == "__main__":
    main()
