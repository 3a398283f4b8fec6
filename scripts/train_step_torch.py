#!/usr/bin/env python3
"""Same-session reference for the training-step benchmark: LeNet5 (3x32x32, batch 128, Adam)
one E2E step and one simultaneous layer-wise step (linear heads, detached inputs) in PyTorch
on 2 CPU threads. Prints images per second (median of repetitions).

    pip install torch numpy
    python3 scripts/train_step_torch.py

Not needed by the tests. Compare with `cargo bench -p infoplane-train --bench train_step`
(BENCHMARKS.md).
"""
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)


def lenet5():
    return nn.ModuleList([
        nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU()),
        nn.Sequential(nn.Linear(120, 84), nn.ReLU()),
        nn.Sequential(nn.Linear(84, 10)),
    ])


def main():
    x = torch.randn(128, 3, 32, 32)
    y = torch.arange(128) % 10
    for mode in ("e2e", "layerwise"):
        stages = lenet5()
        heads = nn.ModuleList([nn.Linear(6 * 14 * 14, 10), nn.Linear(16 * 5 * 5, 10), nn.Linear(120, 10), nn.Linear(84, 10)])
        params = list(stages.parameters()) + (list(heads.parameters()) if mode == "layerwise" else [])
        opt = torch.optim.Adam(params, lr=1e-3)

        def step():
            opt.zero_grad()
            if mode == "e2e":
                t = x
                for s in stages:
                    t = s(t)
                F.cross_entropy(t, y).backward()
            else:
                t = x
                for i, s in enumerate(stages):
                    t = s(t.detach())
                    out = heads[i](t.flatten(1)) if i < 4 else t
                    F.cross_entropy(out, y).backward()
            opt.step()

        for _ in range(10):
            step()
        rates = []
        for _ in range(7):
            t0 = time.perf_counter()
            for _ in range(20):
                step()
            rates.append(20 * 128 / (time.perf_counter() - t0))
        print(f"{mode:<10} {statistics.median(rates):10.0f} images/s (torch {torch.__version__}, 2 threads)")


if __name__ == "__main__":
    main()
