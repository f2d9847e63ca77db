#!/usr/bin/python3
"""Trains the small example model whose pictures the README shows.

Run from packages/explain with Debian's python3-torch (not a venv python), one CPU thread:

    /usr/bin/python3 scripts/train-example.py

It trains smallResNet(widths=[16, 32, 64]) (the @cnnkit/resnet architecture, PyTorch names)
on the first 20,000 CIFAR-10 training images for 4 epochs (random crop + flip, SGD with
Nesterov momentum and a one-cycle learning rate), prints the test accuracy on the first
2,000 test images, and writes example/small-resnet-w16.safetensors (PyTorch state dict
names; @cnnkit/resnet's importTorchStateDict reads it). Reads the dataset from
../../../shared/datasets/cifar-10-binary.tar.gz (the repository's ../shared/datasets).
Then `pnpm pictures` draws the README pictures from it. Deterministic given the seed, up to
PyTorch's CPU kernels.
"""
import json
import os
import struct
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "resnet", "scripts"))
from torch_resnet import ResNet  # noqa: E402  (@cnnkit/resnet's twin, written once there)

TARBALL = os.path.join(HERE, "..", "..", "..", "..", "shared", "datasets", "cifar-10-binary.tar.gz")
OUT = os.path.join(HERE, "..", "example", "small-resnet-w16.safetensors")
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
TRAIN, TEST, EPOCHS, BATCH, MAX_LR = 20_000, 2_000, 4, 128, 0.2


def read_batches(names):
    """{name: (images N×32×32×3 uint8 NHWC, labels)} for the named .bin files of the tarball."""
    out = {}
    with tarfile.open(TARBALL, "r:gz") as tar:
        for member in tar:
            base = os.path.basename(member.name)
            if base in names:
                raw = np.frombuffer(tar.extractfile(member).read(), dtype=np.uint8).reshape(-1, 3073)
                out[base] = (raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), raw[:, 0])
    return out


def to_tensor(images):
    x = (images.astype(np.float32) / 255 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def save_safetensors(tensors, path):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)  # a shared machine: one core
    rng = np.random.default_rng(0)
    data = read_batches({"data_batch_1.bin", "data_batch_2.bin", "test_batch.bin"})
    train_x = np.concatenate([data["data_batch_1.bin"][0], data["data_batch_2.bin"][0]])[:TRAIN]
    train_y = np.concatenate([data["data_batch_1.bin"][1], data["data_batch_2.bin"][1]])[:TRAIN]
    test_x, test_y = data["test_batch.bin"][0][:TEST], data["test_batch.bin"][1][:TEST]

    model = ResNet([16, 32, 64], [2, 2, 2])
    steps = EPOCHS * (TRAIN // BATCH)
    opt = torch.optim.SGD(model.parameters(), lr=MAX_LR, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=MAX_LR, total_steps=steps)
    t0 = time.time()
    for epoch in range(EPOCHS):
        model.train()
        order = rng.permutation(TRAIN)
        for s in range(TRAIN // BATCH):
            idx = order[s * BATCH:(s + 1) * BATCH]
            padded = np.pad(train_x[idx], ((0, 0), (4, 4), (4, 4), (0, 0)), mode="reflect")
            batch = np.empty((len(idx), 32, 32, 3), dtype=np.uint8)
            for i in range(len(idx)):
                dy, dx = rng.integers(0, 9, size=2)
                crop = padded[i, dy:dy + 32, dx:dx + 32]
                batch[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
            loss = F.cross_entropy(model(to_tensor(batch)), torch.from_numpy(train_y[idx].astype(np.int64)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(to_tensor(test_x)).argmax(1).numpy() == test_y).mean()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, test accuracy {acc:.3f} ({time.time() - t0:.0f} s)")
    save_safetensors(model.state_dict(), OUT)
    print(f"wrote {os.path.relpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
