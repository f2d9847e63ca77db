#!/usr/bin/python3
# Writes src/__fixtures__/cross-entropy.json: PyTorch's cross-entropy (with and without label
# smoothing) on small logits, including huge ones that overflow a naive exp().
# Run from packages/metrics with Debian's torch (not the python3 on PATH):
#   /usr/bin/python3 scripts/gen-fixtures.py
import json

import torch
import torch.nn.functional as F

torch.manual_seed(8)
cases = []
shapes = [("random", torch.randn(6, 10) * 3), ("huge", torch.tensor([
    [1000.0, -1000.0, 0.0, 999.0],
    [1e4, 1e4 - 1, -1e4, 0.0],
    [-1e4, -1e4, -1e4, -1e4 + 3],
]))]
for name, logits in shapes:
    k = logits.shape[1]
    labels = torch.randint(0, k, (logits.shape[0],))
    if name == "huge":
        labels = torch.tensor([1, 0, 2])
    for eps in (0.0, 0.1, 0.25):
        z = logits.double()
        cases.append({
            "name": f"{name} eps={eps}",
            "numClasses": k,
            "labelSmoothing": eps,
            # float32 values, as a model would emit them; the loss is computed in float64.
            "logits": [float(v) for v in logits.float().flatten()],
            "labels": [int(v) for v in labels],
            "loss": float(F.cross_entropy(z, labels, label_smoothing=eps)),
            "perRow": [float(v) for v in F.cross_entropy(z, labels, label_smoothing=eps, reduction="none")],
        })

with open("src/__fixtures__/cross-entropy.json", "w") as f:
    json.dump({"generator": "scripts/gen-fixtures.py", "torch": torch.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
print(f"wrote {len(cases)} cases")
