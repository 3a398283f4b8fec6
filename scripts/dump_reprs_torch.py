#!/usr/bin/env python3
"""Saves a PyTorch model's layer outputs in the layout `infoplane plane` measures.

Use `dump_layers` from your own training loop:

    from dump_reprs_torch import dump_layers
    for step, (xb, yb) in enumerate(loader):
        if step % 50 == 0:
            dump_layers(model, ["conv1", "layer1", "fc"], x_eval, step, "reprs/")
        ...train...

It writes `<step>_<layer>.npy` (the layer's output for every evaluation sample, flattened to
n x features, float32) and `layers.txt` (the layers in the order given). Save the evaluation
inputs and labels once (`np.save("reprs/x.npy", x_eval.numpy())`, `np.save("reprs/y.npy",
y_eval.numpy())`), then:

    infoplane plane --reprs reprs --inputs reprs/x.npy --labels reprs/y.npy --out plane \\
        --steps-per-epoch <steps per epoch>

Run as a script, it is a worked example: a small CNN trained with Adam on samples exported by
`infoplane data export --config RUN.toml --out DATA` (train_x.npy, train_y.npy, test_x.npy,
test_y.npy), its layers dumped on the first --eval test samples every --every steps:

    python3 scripts/dump_reprs_torch.py --data DATA --out reprs [--epochs 2] [--every 20]

Needs torch and numpy.
"""
import argparse
import os

import numpy as np
import torch
from torch import nn


def dump_layers(model, layers, x, step, out, batch=512):
    """Writes `<step>_<layer>.npy` for each named submodule of `model` on inputs `x`, in
    evaluation mode without gradients (the mode is restored afterwards)."""
    os.makedirs(out, exist_ok=True)
    outputs = {name: [] for name in layers}
    hooks = [
        model.get_submodule(name).register_forward_hook(
            lambda _m, _i, o, name=name: outputs[name].append(o.detach().flatten(1).float().cpu())
        )
        for name in layers
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch):
                model(x[i:i + batch])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for name in layers:
        np.save(os.path.join(out, f"{step}_{name}.npy"), torch.cat(outputs[name]).numpy())
    with open(os.path.join(out, "layers.txt"), "w") as f:
        f.write("".join(f"{name}\n" for name in layers))


class SmallCnn(nn.Module):
    """Two convolutions and two linear layers, each a named block whose output is dumped."""

    def __init__(self, channels, side, classes):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(channels, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        self.fc1 = nn.Sequential(nn.Flatten(), nn.Linear(16 * (side // 4) ** 2, 64), nn.ReLU())
        self.fc2 = nn.Linear(64, classes)

    def forward(self, x):
        return self.fc2(self.fc1(self.conv2(self.conv1(x))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder written by `infoplane data export`")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--every", type=int, default=20, help="dump every this many steps")
    ap.add_argument("--eval", type=int, default=512, help="evaluation samples")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    load = lambda n: torch.from_numpy(np.load(os.path.join(a.data, n)))
    x, y = load("train_x.npy").float(), load("train_y.npy").long()
    x_eval, y_eval = load("test_x.npy").float()[:a.eval], load("test_y.npy")[:a.eval]
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "x.npy"), x_eval.flatten(1).numpy())
    np.save(os.path.join(a.out, "y.npy"), y_eval.numpy())
    model = SmallCnn(x.shape[1], x.shape[2], int(y.max()) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    layers = ["conv1", "conv2", "fc1", "fc2"]
    step, batch = 0, 128
    for _ in range(a.epochs):
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            if step % a.every == 0:
                dump_layers(model, layers, x_eval, step, a.out)
            idx = order[i:i + batch]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    dump_layers(model, layers, x_eval, step, a.out)
    print(f"{step} steps; layers {', '.join(layers)} dumped every {a.every} steps into {a.out} "
          f"({-(-len(x) // batch)} steps per epoch)")


if __name__ == "__main__":
    main()
