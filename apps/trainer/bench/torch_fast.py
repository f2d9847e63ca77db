#!/usr/bin/python3
# The PyTorch side of the fast recipe's time-to-accuracy bench (bench/time-to-accuracy.ts runs
# it): the same network as @cnnkit/resnet's fastResNet and the same recipe as the trainer's
# `fast` presets, written independently in plain PyTorch so the two can be compared in one run.
#
# The recipe is airbench94's (Keller Jordan, arXiv 2404.00498) with a residual connection in
# every conv group, as in David Page's ResNet-9: a frozen 2x2 patch-whitening stem computed
# from the training images, identity-initialised convolutions, BatchNorm with a frozen scale,
# a 64x learning rate on its bias and momentum 0.6, label smoothing 0.2, Nesterov SGD in the
# decoupled parametrisation, a triangular schedule, lookahead averaging written back into the
# model every 5 steps, alternating flip, reflect-padded translation by 2, and test-time
# augmentation (mirror, then mirror + 1-pixel shifts).
#
# Run alone on this machine's CPU (the data from ../shared beside the repository):
#   /usr/bin/python3 apps/trainer/bench/torch_fast.py --data ../shared/datasets/cifar-10-binary.tar.gz \
#       --widths 32,128,128 --epochs 4 --threads 2
# Prints one JSON line per evaluation ({"event": "eval", ...}) and one at the end ("done").
# --sweep FILE runs a JSON list of option sets one after another (used on a lent GPU to choose
# the presets: accuracy depends on the recipe and the epochs, time on the machine).
import argparse
import json
import math
import os
import sys
import tarfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
RECORD = 1 + 3 * 32 * 32

DEFAULTS = dict(
    widths="64,256,256",
    epochs=9.9,
    batch=1024,
    lr=11.5,  # per 1024 examples, decoupled from momentum (airbench's convention)
    momentum=0.85,
    wd=0.0153,  # per 1024 examples, decoupled from the learning rate
    bias_scaler=64.0,
    label_smoothing=0.2,
    whiten_bias_epochs=3,
    bn_momentum=0.6,
    logit_scale=1 / 9,
    residual=1,
    whiten=1,
    identity_init=1,
    lookahead=1,
    alt_flip=1,
    translate=2,
    tta=2,
    act="gelu",
    seed=0,
    eval_every=0,  # 0: only at the end; k: every k epochs
)


# ---------------------------------------------------------------------------------------- data
def read_bins(path):
    """CIFAR-10's binary files from a .tar.gz, a folder of .bin, or a folder of .bin.xz."""
    blobs = {}
    if os.path.isfile(path):
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                name = os.path.basename(m.name)
                if name.endswith(".bin"):
                    blobs[name] = tar.extractfile(m).read()
    else:
        import lzma

        for name in os.listdir(path):
            full = os.path.join(path, name)
            if name.endswith(".bin"):
                blobs[name] = open(full, "rb").read()
            elif name.endswith(".bin.xz"):
                blobs[name[:-3]] = lzma.open(full).read()

    def split(names):
        raw = torch.frombuffer(bytearray(b"".join(blobs[n] for n in names)), dtype=torch.uint8)
        raw = raw.view(-1, RECORD)
        return raw[:, 1:].reshape(-1, 3, 32, 32).clone(), raw[:, 0].long().clone()

    return split([f"data_batch_{i}.bin" for i in range(1, 6)]), split(["test_batch.bin"])


def normalise(images_u8, device):
    x = images_u8.to(device).float() / 255
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


def translate(x, pad, gen):
    """Reflect-pad by `pad`, then a uniformly random crop back to the size: a shift per image."""
    if pad == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (pad,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device="cpu").to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device="cpu").to(x.device)
    rows = torch.empty_like(padded[:, :, :h, :])
    for s in range(2 * pad + 1):
        m = dy == s
        rows[m] = padded[m, :, s : s + h, :]
    out = torch.empty_like(x)
    for s in range(2 * pad + 1):
        m = dx == s
        out[m] = rows[m, :, :, s : s + w]
    return out


# ---------------------------------------------------------------------------------------- model
class BatchNorm(nn.BatchNorm2d):
    """BatchNorm with the scale frozen at 1 and the bias trained; `momentum` in the Keras sense."""

    def __init__(self, n, momentum):
        super().__init__(n, eps=1e-12, momentum=1 - momentum)
        self.weight.requires_grad = False


class ConvGroup(nn.Module):
    def __init__(self, cin, cout, bn_momentum, act, residual):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding="same", bias=False)
        self.norm1 = BatchNorm(cout, bn_momentum)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding="same", bias=False)
        self.norm2 = BatchNorm(cout, bn_momentum)
        self.act = act
        self.residual = residual

    def forward(self, x):
        h = self.act(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        y = self.act(self.norm2(self.conv2(h)))
        return h + y if self.residual else y


class FastResNet(nn.Module):
    def __init__(self, widths, o):
        super().__init__()
        act = nn.GELU() if o["act"] == "gelu" else nn.ReLU()
        self.whiten = nn.Conv2d(3, 24, 2, padding=0, bias=True)
        self.act = act
        groups, cin = [], 24
        for w in widths:
            groups.append(ConvGroup(cin, w, o["bn_momentum"], act, bool(o["residual"])))
            cin = w
        self.groups = nn.Sequential(*groups)
        self.head = nn.Linear(cin, 10, bias=False)
        self.logit_scale = o["logit_scale"]

    def forward(self, x):
        x = self.groups(self.act(self.whiten(x)))
        x = F.max_pool2d(x, 3).flatten(1)
        return self.head(x) * self.logit_scale


def init_model(model, train_x, o):
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m is not model.whiten and o["identity_init"]:
            w = m.weight.data
            torch.nn.init.dirac_(w[: w.size(1)])
    model.whiten.bias.data.zero_()
    if o["whiten"]:
        # Uncentred second moments of every 2x2x3 patch of the first 5,000 images, eigenvectors
        # scaled by 1/sqrt(eigenvalue + eps), and the same negated: 24 frozen filters.
        x = train_x[:5000]
        patches = x.unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, 3, 2, 2).double()
        flat = patches.reshape(patches.shape[0], -1)
        cov = flat.T @ flat / flat.shape[0]
        evals, evecs = torch.linalg.eigh(cov)
        evals, evecs = evals.flip(0), evecs.T.flip(0)
        filters = (evecs / torch.sqrt(evals + 5e-4).view(-1, 1)).reshape(12, 3, 2, 2).float()
        model.whiten.weight.data[:] = torch.cat([filters, -filters])
        model.whiten.weight.requires_grad = False


# ------------------------------------------------------------------------------------- evaluate
@torch.no_grad()
def evaluate(model, test_x, test_y, level, batch=2000):
    model.eval()
    correct = 0
    for i in range(0, len(test_x), batch):
        x = test_x[i : i + batch]
        logits = tta_logits(model, x, level)
        correct += (logits.argmax(1) == test_y[i : i + batch]).sum().item()
    model.train()
    return correct / len(test_x)


def tta_logits(model, x, level):
    """Level 0: the image; 1: mean with its mirror; 2: half that, half the mirrored pair shifted
    one pixel up-left and down-right (reflect padding)."""

    def mirror(x):
        return 0.5 * (model(x) + model(x.flip(-1)))

    if level == 0:
        return model(x)
    if level == 1:
        return mirror(x)
    p = F.pad(x, (1,) * 4, mode="reflect")
    shifted = 0.5 * (mirror(p[:, :, 0:32, 0:32]) + mirror(p[:, :, 2:34, 2:34]))
    return 0.5 * mirror(x) + 0.5 * shifted


# ---------------------------------------------------------------------------------------- train
def run(o, data, device, log):
    torch.manual_seed(o["seed"])
    gen = torch.Generator().manual_seed(o["seed"])
    (train_u8, train_y), (test_u8, test_y) = data
    train_x = normalise(train_u8, device)
    test_x = normalise(test_u8, device)
    train_y, test_y = train_y.to(device), test_y.to(device)
    widths = [int(w) for w in str(o["widths"]).split(",")]
    model = FastResNet(widths, o).to(device)
    init_model(model, train_x, o)
    if not o["whiten"]:
        pass  # a plain trainable stem, PyTorch's default initialisation

    n, batch = len(train_x), o["batch"]
    steps_per_epoch = math.ceil(n / batch)
    total = math.ceil(steps_per_epoch * o["epochs"])
    # Decoupled hyper-parameters → PyTorch SGD on a mean loss (airbench states them for a summed
    # loss over 1024 examples; lr_mean = lr_sum * batch).
    kilostep = 1024 * (1 + 1 / (1 - o["momentum"]))
    lr_sum = o["lr"] / kilostep
    lr = lr_sum * batch
    wd_abs = o["wd"] * batch / kilostep
    lr_bias = lr * o["bias_scaler"]
    norm_biases = [p for k, p in model.named_parameters() if "norm" in k and p.requires_grad]
    others = [p for k, p in model.named_parameters() if "norm" not in k and p.requires_grad]
    opt = torch.optim.SGD(
        [
            dict(params=norm_biases, lr=lr_bias, weight_decay=wd_abs / lr_bias),
            dict(params=others, lr=lr, weight_decay=wd_abs / lr),
        ],
        momentum=o["momentum"],
        nesterov=True,
    )
    peak = int(0.23 * total)

    def factor(step):  # triangular: 0.2 → 1 at 23% → 0.07 at the end
        if step < peak:
            return 0.2 + 0.8 * step / peak
        return 1.0 + (0.07 - 1.0) * (step - peak) / max(1, total - peak)

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    avg = [p.detach().clone() for p in model.state_dict().values()] if o["lookahead"] else None
    loss_fn = nn.CrossEntropyLoss(label_smoothing=o["label_smoothing"])
    coins = torch.rand(n, generator=gen) < 0.5

    step, seconds, epoch = 0, 0.0, 0
    while step < total:
        t0 = time.perf_counter()
        model.whiten.bias.requires_grad = epoch < o["whiten_bias_epochs"]
        if o["alt_flip"]:
            flip = coins ^ bool(epoch % 2)
        else:
            flip = torch.rand(n, generator=gen) < 0.5
        flip = flip.to(device)
        x = torch.where(flip.view(-1, 1, 1, 1), train_x.flip(-1), train_x)
        x = translate(x, o["translate"], gen)
        order = torch.randperm(n, generator=gen).to(device)
        for i in range(steps_per_epoch):
            if step >= total:
                break
            idx = order[i * batch : (i + 1) * batch]
            loss = loss_fn(model(x[idx]), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if avg is not None and step % 5 == 0:
                decay = 0.95**5 * (step / total) ** 3
                with torch.no_grad():
                    for a, p in zip(avg, model.state_dict().values()):
                        if p.dtype.is_floating_point:
                            a.lerp_(p, 1 - decay)
                            p.copy_(a)
        epoch += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - t0
        last = step >= total
        if last and avg is not None:
            with torch.no_grad():
                for a, p in zip(avg, model.state_dict().values()):
                    if p.dtype.is_floating_point:
                        p.copy_(a)
        if last or (o["eval_every"] and epoch % o["eval_every"] == 0):
            t1 = time.perf_counter()
            acc = evaluate(model, test_x, test_y, 0)
            # As the trainer: the plain accuracy after every epoch, with TTA after the last.
            acc_tta = evaluate(model, test_x, test_y, o["tta"]) if o["tta"] and last else None
            log(
                dict(
                    event="eval",
                    epoch=round(step / steps_per_epoch, 3),
                    train_seconds=round(seconds, 2),
                    eval_seconds=round(time.perf_counter() - t1, 2),
                    test_acc=acc,
                    test_acc_tta=acc_tta,
                    loss=round(loss.item(), 4),
                )
            )
    return dict(test_acc=acc, test_acc_tta=acc_tta if acc_tta is not None else acc,
                train_seconds=round(seconds, 2), steps=total)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True, help="cifar-10-binary.tar.gz, or a folder of .bin(.xz)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--sweep", help="a JSON file: a list of option sets, each over the defaults")
    p.add_argument("--only", default="", help="with --sweep: i/n runs every n-th set from the i-th")
    for k, v in DEFAULTS.items():
        p.add_argument("--" + k.replace("_", "-"), type=type(v) if not isinstance(v, float) else float, default=v)
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.backends.cudnn.benchmark = True
    device = torch.device(a.device)
    t0 = time.perf_counter()
    data = read_bins(a.data)
    base = {k: getattr(a, k) for k in DEFAULTS}

    def log(d):
        print(json.dumps(d), flush=True)

    log(dict(event="start", torch=torch.__version__, device=str(device), threads=torch.get_num_threads(),
             load_seconds=round(time.perf_counter() - t0, 2)))
    sets = [{}]
    if a.sweep:
        sets = json.load(open(a.sweep))
        if a.only:
            i, n = (int(s) for s in a.only.split("/"))
            sets = sets[i::n]
    for s in sets:
        o = {**base, **s}
        t = time.perf_counter()
        result = run(o, data, device, lambda d: log({**d, "config": s}))
        log(dict(event="done", config=s, wall_seconds=round(time.perf_counter() - t, 2), **result))


if __name__ == "__main__":
    sys.exit(main())
