#!/usr/bin/python3
"""Checks the export fixture and computes its reference logits with PyTorch.

Run after gen-fixtures.ts, with Debian's python3-torch and python3-onnx:

    cd packages/export && /usr/bin/python3 scripts/gen-fixtures.py

It (1) validates model.onnx with onnx.checker (full_check, shape inference included),
(2) rebuilds the network from the tfjs model.json + weight shard with torch.nn.functional
(BatchNorm NOT folded, TF "same" padding done by hand), and (3) runs the ONNX graph with torch
ops too. Both must agree; (2)'s logits are written to tiny-export-reference.json, which the
tests compare tfjs and onnxruntime-node against. Tests never run Python.
"""
import json
import math
import os

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "src", "__fixtures__")
EXPORT = os.path.join(FIX, "tiny-export")

manifest = json.load(open(os.path.join(EXPORT, "manifest.json")))
h, w, c = manifest["input"]["shape"]
raw = np.fromfile(os.path.join(FIX, "tiny-export-images.bin"), dtype=np.uint8).reshape(-1, h, w, c)
mean = np.array(manifest["normalization"]["mean"])
std = np.array(manifest["normalization"]["std"])
x_nhwc = ((raw / manifest["preprocessing"]["pixelScale"] - mean) / std).astype(np.float32)

# (1) the ONNX checker
model_proto = onnx.load(os.path.join(EXPORT, "model.onnx"))
onnx.checker.check_model(model_proto, full_check=True)
print("onnx.checker: ok, opset", model_proto.opset_import[0].version, "ir", model_proto.ir_version)

# (2) the tfjs model rebuilt in PyTorch from model.json and its shard
mj = json.load(open(os.path.join(EXPORT, "model.json")))
blob = b"".join(open(os.path.join(EXPORT, p), "rb").read() for p in mj["weightsManifest"][0]["paths"])
weights, offset = {}, 0
for spec in mj["weightsManifest"][0]["weights"]:
    assert spec["dtype"] == "float32" and "quantization" not in spec, spec
    n = int(np.prod(spec["shape"])) if spec["shape"] else 1
    weights[spec["name"]] = torch.from_numpy(np.frombuffer(blob, dtype="<f4", count=n, offset=offset).reshape(spec["shape"]).copy())
    offset += 4 * n
assert offset == len(blob), (offset, len(blob))


def same_pad(x, k, s):
    """TF "same": out = ceil(in / s), the odd pixel of padding goes after (bottom/right)."""
    _, _, ih, iw = x.shape
    ph = max((math.ceil(ih / s[0]) - 1) * s[0] + k[0] - ih, 0)
    pw = max((math.ceil(iw / s[1]) - 1) * s[1] + k[1] - iw, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


values = {}
topology = mj["modelTopology"]
layers = topology.get("model_config", topology)["config"]["layers"]
for layer in layers:
    name, cls, cfg = layer["name"], layer["class_name"], layer["config"]
    ins = [values[n[0]] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
    if cls == "InputLayer":
        y = torch.from_numpy(x_nhwc).permute(0, 3, 1, 2).double()
    elif cls == "Conv2D":
        k = weights[f"{name}/kernel"].permute(3, 2, 0, 1).double()
        xin = same_pad(ins[0], cfg["kernel_size"], cfg["strides"]) if cfg["padding"] == "same" else ins[0]
        b = weights[f"{name}/bias"].double() if cfg["use_bias"] else None
        y = F.conv2d(xin, k, b, stride=cfg["strides"])
    elif cls == "BatchNormalization":
        g = lambda r: weights[f"{name}/{r}"].double()
        y = F.batch_norm(ins[0], g("moving_mean"), g("moving_variance"), g("gamma"), g("beta"), False, 0.0, cfg["epsilon"])
    elif cls == "ReLU":
        y = F.relu(ins[0])
    elif cls == "Add":
        y = sum(ins)
    elif cls == "GlobalAveragePooling2D":
        y = ins[0].mean(dim=(2, 3))
    elif cls == "Dense":
        y = ins[0] @ weights[f"{name}/kernel"].double() + weights[f"{name}/bias"].double()
    else:
        raise SystemExit(f"gen-fixtures.py: no PyTorch rule for layer {name} ({cls})")
    values[name] = y
torch_logits = values[layers[-1]["name"]].numpy()

# (3) the ONNX graph executed with torch ops (float64), independent of onnxruntime
init = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()).double() for t in model_proto.graph.initializer}
env = {model_proto.graph.input[0].name: torch.from_numpy(x_nhwc).double()}
for node in model_proto.graph.node:
    a = {at.name: onnx.helper.get_attribute_value(at) for at in node.attribute}
    get = lambda i: env[node.input[i]] if node.input[i] in env else init[node.input[i]]
    op = node.op_type
    if op == "Transpose":
        y = get(0).permute(*a["perm"])
    elif op == "Conv":
        p = a["pads"]
        y = F.conv2d(F.pad(get(0), (p[1], p[3], p[0], p[2])), get(1), get(2), stride=a["strides"], dilation=a["dilations"])
    elif op == "Relu":
        y = F.relu(get(0))
    elif op == "Add":
        y = get(0) + get(1)
    elif op == "GlobalAveragePool":
        y = get(0).mean(dim=(2, 3), keepdim=True)
    elif op == "Flatten":
        y = get(0).flatten(1)
    elif op == "Gemm":
        y = get(0) @ get(1) + get(2)
    else:
        raise SystemExit(f"gen-fixtures.py: no torch rule for ONNX op {op}")
    env[node.output[0]] = y
onnx_logits = env[model_proto.graph.output[0].name].numpy()

diff = float(np.abs(onnx_logits - torch_logits).max())
print(f"max |ONNX graph - tfjs graph| in PyTorch float64: {diff:.3e}")
# The folded conv weights are stored as float32, so the graphs agree to float32 rounding only.
assert diff < 1e-5, "the ONNX graph does not compute what the tfjs model does"
print("logit range:", float(torch_logits.min()), float(torch_logits.max()))
with open(os.path.join(FIX, "tiny-export-reference.json"), "w") as f:
    json.dump({
        "generator": "scripts/gen-fixtures.py (PyTorch %s, onnx %s), float64" % (torch.__version__, onnx.__version__),
        "images": "tiny-export-images.bin",
        "count": int(raw.shape[0]),
        "logits": [float(v) for v in torch_logits.reshape(-1)],
    }, f, indent=1)
    f.write("\n")
print("wrote tiny-export-reference.json")
