#!/usr/bin/python3
"""Writes the PyTorch equivalence fixtures for @cnnkit/resnet's tests.

Run from packages/resnet with Debian's python3-torch (not a venv python):

    /usr/bin/python3 scripts/gen-fixtures.py

For each network it writes three safetensors files into src/__fixtures__/:
  <name>.safetensors             the state dict as PyTorch names it (BN statistics randomised
                                 so eval mode really uses them; num_batches_tracked kept, as in
                                 a real checkpoint)
  <name>.after-step.safetensors  the state dict after one train-mode forward pass (updated BN
                                 running statistics) and one plain SGD step (lr 0.1)
  <name>.io.safetensors          input (NHWC, as tfjs takes it), labels, eval_logits,
                                 train_logits, loss
Widths are narrow so the fixtures stay small; the architecture is the same code that builds
the full-width networks. safetensors is written by hand (the Debian image has no safetensors
package): an 8-byte little-endian header length, a JSON header, then raw little-endian data.
"""
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "__fixtures__")


class BasicBlock(nn.Module):
    """The original recipe's block: the projection shortcut exactly when shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet: conv3x3 stem, stages (the first at stride 1, the others at stride 2)."""

    def __init__(self, widths, blocks, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        cin = widths[0]
        for s, (w, n) in enumerate(zip(widths, blocks)):
            layers = []
            for b in range(n):
                layers.append(BasicBlock(cin, w, 2 if (s > 0 and b == 0) else 1))
                cin = w
            setattr(self, f"layer{s + 1}", nn.Sequential(*layers))
        self.num_stages = len(widths)
        self.linear = nn.Linear(cin, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        for s in range(self.num_stages):
            out = getattr(self, f"layer{s + 1}")(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


DTYPES = {torch.float32: "F32", torch.int64: "I64", torch.int32: "I32"}


def save_safetensors(tensors, path):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)  # the reference writer pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)


def generate(name, widths, blocks, batch, seed):
    torch.manual_seed(seed)
    model = ResNet(widths, blocks)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    save_safetensors(model.state_dict(), os.path.join(OUT, f"{name}.safetensors"))

    x = torch.randn(batch, 3, 32, 32)
    labels = torch.randint(0, 10, (batch,), dtype=torch.int32)
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    opt.zero_grad()
    train_logits = model(x)
    loss = F.cross_entropy(train_logits, labels.long())
    loss.backward()
    opt.step()
    save_safetensors(model.state_dict(), os.path.join(OUT, f"{name}.after-step.safetensors"))
    save_safetensors(
        {
            "input": x.permute(0, 2, 3, 1),  # NCHW -> NHWC, the layout tfjs takes
            "labels": labels,
            "eval_logits": eval_logits,
            "train_logits": train_logits,
            "loss": loss.reshape(1),
        },
        os.path.join(OUT, f"{name}.io.safetensors"),
    )
    params = sum(p.numel() for p in model.parameters())
    print(f"{name}: widths {widths} blocks {blocks} batch {batch}: {params} parameters")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    generate("small-resnet-w8", [8, 16, 32], [2, 2, 2], batch=2, seed=1)
    generate("resnet20-w4", [4, 8, 16], [3, 3, 3], batch=2, seed=2)
    # Full-width counts, checked by the tests without fixtures.
    print("SmallResNet full width:", sum(p.numel() for p in ResNet([64, 128, 256], [2, 2, 2]).parameters()))
    print("ResNet-20 (projection shortcuts):", sum(p.numel() for p in ResNet([16, 32, 64], [3, 3, 3]).parameters()))
    print("ResNet-18 (CIFAR stem):", sum(p.numel() for p in ResNet([64, 128, 256, 512], [2, 2, 2, 2]).parameters()))
