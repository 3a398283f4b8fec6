#!/usr/bin/env python3
"""ResNet18 (CIFAR stem, basic blocks, width multiplier) trained end to end in PyTorch on the
samples infoplane trains on (`infoplane data export --config RUN.toml --out DIR`), to put
infoplane's accuracy beside an independent implementation of the same setting: the same
architecture and parameter count, PyTorch's default initialization, Adam (eps 1e-8), batch
128, no augmentation, test accuracy in evaluation mode.

    python3 scripts/resnet_side_by_side.py DIR --width 0.25 --epochs 8 --seeds 0 1 2 3

Prints one JSON line per seed: train accuracy of the last epoch, test accuracy, parameters.
"""
import argparse
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNet18(nn.Module):
    def __init__(self, channels, classes, width):
        super().__init__()
        w = lambda c: max(1, round(c * width))
        self.stem = nn.Sequential(nn.Conv2d(channels, w(64), 3, 1, 1, bias=False), nn.BatchNorm2d(w(64)), nn.ReLU())
        blocks, cin = [], w(64)
        for g, planes in enumerate([64, 128, 256, 512]):
            for b in range(2):
                blocks.append(Block(cin, w(planes), 2 if g > 0 and b == 0 else 1))
                cin = w(planes)
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    a = ap.parse_args()
    torch.set_num_threads(2)
    load = lambda n: torch.from_numpy(np.load(f"{a.data}/{n}.npy"))
    xtr, ytr = load("train_x").float(), load("train_y").long()
    xte, yte = load("test_x").float(), load("test_y").long()
    classes = int(ytr.max()) + 1
    for seed in a.seeds:
        torch.manual_seed(seed)
        m = ResNet18(xtr.shape[1], classes, a.width)
        opt = torch.optim.Adam(m.parameters(), lr=a.lr, eps=1e-8)
        for _ in range(a.epochs):
            m.train()
            perm = torch.randperm(len(xtr))
            correct = 0
            for i in range(0, len(xtr), a.batch):
                idx = perm[i : i + a.batch]
                out = m(xtr[idx])
                loss = F.cross_entropy(out, ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                correct += (out.argmax(1) == ytr[idx]).sum().item()
        m.eval()
        with torch.no_grad():
            test = sum((m(xte[i : i + 500]).argmax(1) == yte[i : i + 500]).sum().item() for i in range(0, len(xte), 500))
        print(json.dumps({
            "seed": seed,
            "train_accuracy": correct / len(xtr),
            "test_accuracy": test / len(xte),
            "parameters": sum(p.numel() for p in m.parameters()),
        }), flush=True)


if __name__ == "__main__":
    main()
