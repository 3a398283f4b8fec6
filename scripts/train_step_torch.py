#!/usr/bin/env python3
"""Same-session reference for the training-step benchmarks: the models of infoplane written in
PyTorch with the same stages (LeNet5, ResNet18 with the CIFAR stem, VGG11 with batch norm),
timed for one E2E step (cross-entropy) and one simultaneous layer-wise step (linear heads on
feature maps average-pooled to at most 2048 features, detached inputs, each stage's loss
backpropagated as soon as it exists), Adam with eps 1e-8. Prints one JSON line per strategy:
images per second (median of repetitions) and peak memory (CPU: the process's peak RSS, which
only grows, so run one strategy per process to compare; CUDA: torch's peak allocation).

    pip install torch numpy
    python3 scripts/train_step_torch.py --arch lenet5                       # both strategies
    python3 scripts/train_step_torch.py --arch resnet18 --strategy e2e      # one per process
    python3 scripts/train_step_torch.py --arch resnet18 --device cuda --strategy layerwise

Not needed by the tests. Compare with `infoplane bench-step` and
`cargo bench -p infoplane-train --bench train_step` (BENCHMARKS.md).
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def lenet5(c):
    return [
        nn.Sequential(nn.Conv2d(c, 6, 5), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU()),
        nn.Sequential(nn.Linear(120, 84), nn.ReLU()),
        nn.Sequential(nn.Linear(84, 10)),
    ], None


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.sc = None
        if stride != 1 or cin != cout:
            self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (self.sc(x) if self.sc is not None else x))


def resnet18(c):
    stages = [nn.Sequential(nn.Conv2d(c, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())]
    cin = 64
    for g, planes in enumerate([64, 128, 256, 512]):
        for b in range(2):
            stages.append(Basic(cin, planes, 2 if g > 0 and b == 0 else 1))
            cin = planes
    return stages, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))


def vgg11(c):
    stages, cin = [], c
    plan = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
    i = 0
    while i < len(plan):
        v = plan[i]
        pool = i + 1 < len(plan) and plan[i + 1] == "M"
        layers = [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
        if pool:
            layers.append(nn.MaxPool2d(2))
            i += 1
        stages.append(nn.Sequential(*layers))
        cin = v
        i += 1
    return stages, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))


def pool_kernel(c, h, w, limit=2048):
    """local-loss's rule, as infoplane's heads: double the kernel alternately in h and w."""
    kh, kw, turn_h = 1, 1, True
    while c * (h // kh) * (w // kw) > limit and (kh < h or kw < w):
        if (turn_h and kh < h) or kw >= w:
            kh *= 2
        else:
            kw *= 2
        turn_h = not turn_h
    return min(kh, h), min(kw, w)


def head_for(shape, classes=10):
    if len(shape) == 3:
        c, h, w = shape
        kh, kw = pool_kernel(c, h, w)
        pool = nn.AvgPool2d((kh, kw)) if (kh, kw) != (1, 1) else nn.Identity()
        return nn.Sequential(pool, nn.Flatten(), nn.Linear(c * (h // kh) * (w // kw), classes))
    return nn.Linear(shape[0], classes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="lenet5", choices=["lenet5", "resnet18", "vgg11"])
    ap.add_argument("--strategy", default="both", choices=["e2e", "layerwise", "both"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10, help="steps per repetition")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--profile", action="store_true",
                    help="instead of timing, print torch.profiler's self time per step by "
                         "operation group (markdown), as `infoplane bench-step --op-times` does for infoplane")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    x = torch.randn(a.batch, 3, 32, 32, device=dev)
    y = (torch.arange(a.batch) % 10).to(dev)
    build = {"lenet5": lenet5, "resnet18": resnet18, "vgg11": vgg11}[a.arch]
    for mode in (["e2e", "layerwise"] if a.strategy == "both" else [a.strategy]):
        torch.manual_seed(0)
        stages, classifier = build(3)
        stages = nn.ModuleList(stages).to(dev)
        classifier = classifier.to(dev) if classifier is not None else None
        with torch.no_grad():
            shapes, t = [], x[:2]
            for s in stages:
                t = s(t)
                shapes.append(tuple(t.shape[1:]))
        last_is_logits = classifier is None
        heads = nn.ModuleList([head_for(sh) for sh in (shapes[:-1] if last_is_logits else shapes)]).to(dev)
        params = list(stages.parameters()) + (list(classifier.parameters()) if classifier is not None else [])
        if mode == "layerwise":
            params += list(heads.parameters())
        opt = torch.optim.Adam(params, lr=1e-3, eps=1e-8)

        def step():
            opt.zero_grad(set_to_none=True)
            if mode == "e2e":
                t = x
                for s in stages:
                    t = s(t)
                out = classifier(t) if classifier is not None else t
                F.cross_entropy(out, y).backward()
            else:
                t = x
                for i, s in enumerate(stages):
                    t = s(t.detach())
                    out = heads[i](t) if i < len(heads) else t
                    F.cross_entropy(out, y).backward()
                if classifier is not None:
                    F.cross_entropy(classifier(t.detach()), y).backward()
            opt.step()

        def sync():
            if dev.type == "cuda":
                torch.cuda.synchronize()

        for _ in range(3):
            step()
        sync()
        if a.profile:
            profile(step, a, mode)
            continue
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        rates = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step()
            sync()
            rates.append(a.steps * a.batch / (time.perf_counter() - t0))
        peak = (torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda"
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps({
            "framework": f"pytorch {torch.__version__}",
            "arch": a.arch, "strategy": mode, "device": a.device, "threads": a.threads,
            "batch": a.batch, "images_per_second": statistics.median(rates),
            "peak_memory_mib": peak,
        }), flush=True)


# torch.profiler operation names → groups comparable with `infoplane bench-step --op-times`
# (first match wins).
# Self time of an operation is the time the calling thread spends in it (its intra-op threads
# included), so the shares are of the step's wall time.
GROUPS = [
    ("conv backward (input + weight + bias)", ("aten::convolution_backward",
                                               "aten::_slow_conv2d_backward",
                                               "aten::mkldnn_convolution_backward")),
    ("conv forward", ("aten::mkldnn_convolution", "aten::_convolution", "aten::convolution",
                      "aten::conv2d", "aten::_nnpack_spatial_convolution", "aten::thnn_conv2d",
                      "aten::_slow_conv2d_forward")),
    ("max-pool backward", ("aten::max_pool2d_with_indices_backward",)),
    ("max-pool forward", ("aten::max_pool2d_with_indices", "aten::max_pool2d")),
    ("optimizer (Adam)", ("Optimizer.step", "aten::_foreach", "aten::addcdiv", "aten::addcmul",
                          "aten::lerp", "aten::sqrt", "aten::_fused_adam")),
]


def group_of(name):
    for group, prefixes in GROUPS:
        if any(name.startswith(p) for p in prefixes):
            return group
    return "other (linear, batch norm, activations, loss, autograd bookkeeping)"


def profile(step, a, mode):
    """Self time per operation group, per step, summed over the profiled steps."""
    from torch.profiler import ProfilerActivity, profile as prof
    with prof(activities=[ProfilerActivity.CPU]) as p:
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        wall = (time.perf_counter() - t0) / a.steps * 1e3
    totals = {}
    for e in p.key_averages():
        g = group_of(e.key)
        totals[g] = totals.get(g, 0.0) + e.self_cpu_time_total / 1e3 / a.steps
    cpu = sum(totals.values())
    print(f"\n{a.arch} {mode}, PyTorch {torch.__version__}, {a.threads} threads, batch {a.batch}: "
          f"{wall:.1f} ms per step (profiled), self time {cpu:.1f} ms per step\n")
    print("| operation group | self ms / step | share |")
    print("|---|---:|---:|")
    for g, ms in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"| {g} | {ms:.2f} | {100 * ms / cpu:.1f}% |")


if __name__ == "__main__":
    main()
