#!/usr/bin/python3
# Writes src/__fixtures__/cross-entropy.json: PyTorch's cross-entropy (with and without label
# smoothing) on small logits, including huge ones that overflow a naive exp(); and
# src/__fixtures__/metrics.json: every metric of 300 predictions computed independently in
# torch (confusion matrix by bincount, top-k by torch.topk, ECE as in Guo et al. 2017).
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


# Independent reference for ClassificationMetrics.
torch.manual_seed(10)
n, k, bins = 300, 10, 15
labels = torch.randint(0, k, (n,))
logits = (torch.randn(n, k) * 2 + 2.5 * F.one_hot(labels, k)).float()
z = logits.double()
probs = F.softmax(z, dim=1)
conf, pred = probs.max(1)
cm = torch.bincount(labels * k + pred, minlength=k * k).reshape(k, k)
tp = cm.diag().double()
support = cm.sum(1).double()
predicted = cm.sum(0).double()
precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros(k, dtype=torch.double))
recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros(k, dtype=torch.double))
denom = precision + recall
f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), torch.zeros(k, dtype=torch.double))
topk = {kk: float((torch.topk(z, kk, dim=1).indices == labels[:, None]).any(1).double().mean()) for kk in (1, 5)}
edges = torch.linspace(0, 1, bins + 1, dtype=torch.double)
correct = pred.eq(labels)
ece = torch.zeros((), dtype=torch.double)
bin_counts = []
for lo, hi in zip(edges[:-1], edges[1:]):
    in_bin = conf.gt(lo) & conf.le(hi)
    bin_counts.append(int(in_bin.sum()))
    if in_bin.any():
        ece += in_bin.double().mean() * (correct[in_bin].double().mean() - conf[in_bin].mean()).abs()
with open("src/__fixtures__/metrics.json", "w") as f:
    json.dump({
        "generator": "scripts/gen-fixtures.py",
        "torch": torch.__version__,
        "numClasses": k,
        "calibrationBins": bins,
        "logits": [float(v) for v in logits.flatten()],
        "labels": [int(v) for v in labels],
        "loss": float(F.cross_entropy(z, labels)),
        "top1": topk[1],
        "top5": topk[5],
        "confusionMatrix": cm.tolist(),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "macroF1": float(f1.mean()),
        "ece": float(ece),
        "binCounts": bin_counts,
    }, f)
    f.write("\n")
print("wrote src/__fixtures__/metrics.json")
