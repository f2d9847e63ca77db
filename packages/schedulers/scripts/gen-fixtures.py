# Writes the golden schedules the tests compare against, computed by PyTorch itself.
#
# Run from the repository root with Debian's python3-torch (1.13), not the python3 on PATH:
#   /usr/bin/python3 packages/schedulers/scripts/gen-fixtures.py
# It rewrites packages/schedulers/src/__fixtures__/*.json; commit them. Tests never need Python.
import json
import math
import os
import warnings

import torch

warnings.filterwarnings("ignore")
OUT = os.path.join(os.path.dirname(__file__), "..", "src", "__fixtures__")


def make_optimizer(lr=0.1):
    param = torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([param], lr=lr, momentum=0.9)


def one_cycle(name, **kw):
    """Records lr and momentum after construction and after each of total_steps step() calls,
    then the error PyTorch raises on one more step."""
    opt = make_optimizer()
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, **kw)
    total = sched.total_steps
    lrs, moms, errors = [], [], {}

    def record(k):
        lrs.append(sched.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])

    record(0)
    for k in range(1, total + 1):
        try:
            sched.step()
            record(k)
        except ZeroDivisionError as e:
            # PyTorch divides by a zero-length phase here; cnnkit returns the phase's end value.
            errors[str(k)] = "ZeroDivisionError: " + str(e)
            lrs.append(None)
            moms.append(None)
            sched.last_epoch = k  # keep counting, as a caught failure inside step() leaves it
    overflow = None
    try:
        sched.step()
    except ValueError as e:
        overflow = str(e)
    camel = {
        "max_lr": "maxLr",
        "total_steps": "totalSteps",
        "epochs": "epochs",
        "steps_per_epoch": "stepsPerEpoch",
        "pct_start": "pctStart",
        "anneal_strategy": "annealStrategy",
        "cycle_momentum": "cycleMomentum",
        "base_momentum": "baseMomentum",
        "max_momentum": "maxMomentum",
        "div_factor": "divFactor",
        "final_div_factor": "finalDivFactor",
        "three_phase": "threePhase",
    }
    return {
        "name": name,
        "options": {camel[k]: v for k, v in kw.items()},
        "totalSteps": total,
        "lr": lrs,
        "momentum": moms if kw.get("cycle_momentum", True) else None,
        "pytorchErrors": errors,
        "overflowMessage": overflow,
    }


def chainable(name, cls, steps, base_lr=0.1, **kw):
    opt = make_optimizer(base_lr)
    sched = cls(opt, **kw)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    return {"name": name, "baseLr": base_lr, "options": kw, "lr": lrs}


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = [
        one_cycle("cos defaults, 100 steps", max_lr=0.1, total_steps=100),
        one_cycle("linear, 100 steps", max_lr=0.1, total_steps=100, anneal_strategy="linear"),
        one_cycle("three-phase cos, 100 steps", max_lr=0.1, total_steps=100, three_phase=True),
        one_cycle("three-phase linear, 57 steps", max_lr=0.05, total_steps=57, three_phase=True,
                  anneal_strategy="linear"),
        one_cycle("1 step", max_lr=0.1, total_steps=1),
        one_cycle("2 steps", max_lr=0.1, total_steps=2),
        one_cycle("7 steps", max_lr=0.3, total_steps=7),
        one_cycle("1 step linear", max_lr=0.1, total_steps=1, anneal_strategy="linear"),
        one_cycle("1 step three-phase", max_lr=0.1, total_steps=1, three_phase=True),
        one_cycle("2 steps three-phase", max_lr=0.1, total_steps=2, three_phase=True),
        one_cycle("7 steps three-phase linear", max_lr=0.1, total_steps=7, three_phase=True,
                  anneal_strategy="linear"),
        one_cycle("CIFAR 10 epochs x 391 steps", max_lr=0.4, epochs=10, steps_per_epoch=391),
        one_cycle("CIFAR 10 x 391 linear three-phase", max_lr=0.4, epochs=10, steps_per_epoch=391,
                  anneal_strategy="linear", three_phase=True),
        one_cycle("pctStart 0", max_lr=0.1, total_steps=50, pct_start=0.0),
        one_cycle("pctStart 1 linear", max_lr=0.1, total_steps=50, pct_start=1.0,
                  anneal_strategy="linear"),
        one_cycle("pctStart 1 cos", max_lr=0.1, total_steps=50, pct_start=1.0),
        one_cycle("pctStart 0.5 three-phase", max_lr=0.1, total_steps=40, pct_start=0.5,
                  three_phase=True),
        one_cycle("pctStart 0.01", max_lr=0.1, total_steps=391, pct_start=0.01),
        one_cycle("pctStart 0.99", max_lr=0.1, total_steps=100, pct_start=0.99),
        one_cycle("no momentum cycling", max_lr=0.1, total_steps=20, cycle_momentum=False),
        one_cycle("custom factors and momenta", max_lr=2e-3, total_steps=30, div_factor=10.0,
                  final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9, pct_start=0.25),
    ]
    with open(os.path.join(OUT, "one-cycle.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))

    S = torch.optim.lr_scheduler
    others = [
        chainable("StepLR", S.StepLR, 20, step_size=3, gamma=0.5),
        chainable("MultiStepLR", S.MultiStepLR, 20, milestones=[5, 8, 8, 15], gamma=0.1),
        chainable("ConstantLR", S.ConstantLR, 10, factor=1.0 / 3, total_iters=5),
        chainable("ConstantLR", S.ConstantLR, 6, base_lr=0.05, factor=0.5, total_iters=1),
        chainable("CosineAnnealingLR", S.CosineAnnealingLR, 35, T_max=10, eta_min=0.001),
        chainable("CosineAnnealingLR", S.CosineAnnealingLR, 30, base_lr=0.4, T_max=7),
        chainable("CosineAnnealingLR", S.CosineAnnealingLR, 391 * 3, base_lr=0.1, T_max=391 * 3),
    ]
    with open(os.path.join(OUT, "chainable.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": others}, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
