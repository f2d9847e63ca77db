#!/usr/bin/python3
"""Writes the PyTorch equivalence fixtures for @cnnkit/resnet's tests.

Run from packages/resnet with Debian's python3-torch (not a venv python):

    /usr/bin/python3 scripts/gen-fixtures.py

    /usr/bin/python3 scripts/gen-fixtures.py fast-resnet-w8   # only the networks named

For each network it writes three safetensors files into src/__fixtures__/:
  <name>.safetensors             the state dict as PyTorch names it (BN statistics randomised
                                 so eval mode really uses them; num_batches_tracked kept, as in
                                 a real checkpoint)
  <name>.after-step.safetensors  the state dict after one train-mode forward pass (updated BN
                                 running statistics) and one plain SGD step (lr 0.1)
  <name>.io.safetensors          input (NHWC, as tfjs takes it), labels, eval_logits,
                                 train_logits, loss (the fast ResNet's also whiten_images,
                                 the NHWC images its whitening kernel was computed from)
Widths are narrow so the fixtures stay small; the architecture is the same code that builds
the full-width networks. safetensors is written by hand (the Debian image has no safetensors
package): an 8-byte little-endian header length, a JSON header, then raw little-endian data.
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_resnet import ResNet  # this folder: the architecture, written once

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "__fixtures__")


class FastBatchNorm(nn.BatchNorm2d):
    """airbench94's BatchNorm: scale frozen at 1, bias trained, eps 1e-12. Its momentum is in
    Keras convention (0.6: running = 0.6 * running + 0.4 * batch); PyTorch's is 1 - that."""

    def __init__(self, num_features, momentum=0.6, eps=1e-12):
        super().__init__(num_features, eps=eps, momentum=1 - momentum)
        self.weight.requires_grad = False


class FastConv(nn.Conv2d):
    """A bias-free 3x3 'same' conv with nn.Conv2d's default init, then dirac_ on the first
    in_channels filters (airbench94's Conv)."""

    def __init__(self, cin, cout):
        super().__init__(cin, cout, kernel_size=3, padding="same", bias=False)
        with torch.no_grad():
            w = self.weight
            torch.nn.init.dirac_(w[: w.size(1)])


class ConvGroup(nn.Module):
    """airbench94's conv group, plus the ResNet-style shortcut h + second path when residual."""

    def __init__(self, cin, cout, residual):
        super().__init__()
        self.residual = residual
        self.conv1 = FastConv(cin, cout)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = FastBatchNorm(cout)
        self.conv2 = FastConv(cout, cout)
        self.norm2 = FastBatchNorm(cout)
        self.activ = nn.GELU()

    def forward(self, x):
        h = self.activ(self.norm1(self.pool(self.conv1(x))))
        y = self.activ(self.norm2(self.conv2(h)))
        return h + y if self.residual else y


class Mul(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


def fast_resnet(widths, residual):
    """airbench94's make_net (same module indices, so the same state-dict names), in float32."""
    whiten = nn.Conv2d(3, 24, kernel_size=2, padding=0, bias=True)
    net = nn.Sequential(
        whiten,
        nn.GELU(),
        ConvGroup(24, widths[0], residual),
        ConvGroup(widths[0], widths[1], residual),
        ConvGroup(widths[1], widths[2], residual),
        nn.MaxPool2d(3),
        nn.Flatten(),
        nn.Linear(widths[2], 10, bias=False),
        Mul(1 / 9),
    )
    whiten.weight.requires_grad = False
    return net


def whitening_weight(images, eps=5e-4):
    """airbench94's init_whitening_conv, in float64: every 2x2 patch, the uncentred covariance,
    torch.linalg.eigh, filters V / sqrt(lambda + eps) by eigenvalue descending, then negated."""
    c, h, w = images.shape[1], 2, 2
    patches = images.double().unfold(2, h, 1).unfold(3, w, 1).transpose(1, 3).reshape(-1, c, h, w)
    flat = patches.reshape(len(patches), -1)
    covariance = flat.T @ flat / len(flat)
    values, vectors = torch.linalg.eigh(covariance, UPLO="U")
    values = values.flip(0).view(-1, 1, 1, 1)
    vectors = vectors.T.reshape(c * h * w, c, h, w).flip(0)
    scaled = vectors / torch.sqrt(values + eps)
    return torch.cat((scaled, -scaled)).float()


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


def generate_fast(name, widths, residual, batch, seed):
    torch.manual_seed(seed)
    model = fast_resnet(widths, residual)
    # Correlated synthetic "training images" (pixels mixed across channels and smoothed
    # across neighbours), so the whitening kernel has distinct eigenvalues to find.
    raw = torch.randn(4, 3, 18, 18, dtype=torch.float64)
    mix = torch.tensor([[1.0, 0.6, 0.3], [0.0, 0.8, 0.5], [0.0, 0.0, 0.4]], dtype=torch.float64)
    mixed = torch.einsum("dc,nchw->ndhw", mix, raw)
    whiten_images = (mixed[..., 1:, 1:] + 0.5 * mixed[..., :-1, 1:] + 0.25 * mixed[..., 1:, :-1]).float()
    with torch.no_grad():
        model[0].weight.copy_(whitening_weight(whiten_images))
        model[0].bias.normal_(0, 0.1)
        for m in model.modules():
            if isinstance(m, FastConv):
                # Off the identity init, so the parity check sees every tap and channel.
                m.weight.add_(torch.randn_like(m.weight) * 0.1)
            if isinstance(m, nn.BatchNorm2d):
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
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    opt.zero_grad()
    train_logits = model(x)
    loss = F.cross_entropy(train_logits, labels.long())
    loss.backward()
    opt.step()
    save_safetensors(model.state_dict(), os.path.join(OUT, f"{name}.after-step.safetensors"))
    save_safetensors(
        {
            "input": x.permute(0, 2, 3, 1),
            "labels": labels,
            "eval_logits": eval_logits,
            "train_logits": train_logits,
            "loss": loss.reshape(1),
            "whiten_images": whiten_images.permute(0, 2, 3, 1),
        },
        os.path.join(OUT, f"{name}.io.safetensors"),
    )
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"{name}: widths {widths} residual {residual} batch {batch}: {trainable} trainable parameters")


NETWORKS = {
    "small-resnet-w8": lambda: generate("small-resnet-w8", [8, 16, 32], [2, 2, 2], batch=2, seed=1),
    "resnet20-w4": lambda: generate("resnet20-w4", [4, 8, 16], [3, 3, 3], batch=2, seed=2),
    "fast-resnet-w8": lambda: generate_fast("fast-resnet-w8", [8, 16, 16], True, batch=4, seed=3),
    "fast-resnet-w8-plain": lambda: generate_fast("fast-resnet-w8-plain", [8, 16, 16], False, batch=4, seed=4),
}


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    for name in sys.argv[1:] or NETWORKS:
        NETWORKS[name]()
    # Full-width counts, checked by the tests without fixtures.
    print("SmallResNet full width:", sum(p.numel() for p in ResNet([64, 128, 256], [2, 2, 2]).parameters()))
    print("ResNet-20 (projection shortcuts):", sum(p.numel() for p in ResNet([16, 32, 64], [3, 3, 3]).parameters()))
    print("ResNet-18 (CIFAR stem):", sum(p.numel() for p in ResNet([64, 128, 256, 512], [2, 2, 2, 2]).parameters()))
    for w in ([64, 256, 256], [32, 128, 128], [24, 96, 96]):
        net = fast_resnet(w, True)
        print(f"fast ResNet {w}: trainable", sum(p.numel() for p in net.parameters() if p.requires_grad),
              "frozen", sum(p.numel() for p in net.parameters() if not p.requires_grad)
              + sum(b.numel() for n, b in net.named_buffers() if not n.endswith("num_batches_tracked")))
