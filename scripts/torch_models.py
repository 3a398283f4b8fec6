#!/usr/bin/env python3
"""Rebuilds a network exported by `infoplane export RUN --out net.safetensors` as a
`torch.nn.Module`, loads its weights, and checks that PyTorch's class scores equal ours.

    python3 scripts/torch_models.py net.safetensors [--check REPRS]

`net.json` (written beside the file) says the architecture. With `--check`, REPRS is a folder
written by `infoplane reprs RUN --out REPRS`: the script feeds its x.npy through the PyTorch
model and compares the class scores with scores.npy there, printing the largest absolute
difference; it exits non-zero above float32 rounding.

Architectures: LeNet5 (without batch norm: the paper's) and ResNet18 (any width, batch norm,
no dropout). The safetensors file is read with a small reader of the format (an 8-byte header
length, a JSON header, raw little-endian data), so only torch and numpy are needed.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64}


def read_safetensors(path):
    """Name -> tensor of a .safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        arr = np.frombuffer(body[a:b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


class Named(nn.Module):
    """An empty module to hang named children on (our nesting: stages.<i>.conv.conv)."""


class LeNet5(nn.Module):
    """conv 6@5x5 (padding p)-ReLU-maxpool 2, conv 16@5x5-ReLU-maxpool 2, fc 120-ReLU,
    fc 84-ReLU, fc classes: infoplane's LeNet5, with its parameter names."""

    def __init__(self, channels, side, classes, width=1.0, padding=None):
        super().__init__()
        scaled = lambda c: max(1, round(c * width))
        c1, c2, f3, f4 = scaled(6), scaled(16), scaled(120), scaled(84)
        p = padding if padding is not None else max(0, (32 - side) // 2)
        h = ((side + 2 * p - 4) // 2 - 4) // 2
        self.stages = nn.ModuleList()
        for cin, cout, pad in [(channels, c1, p), (c1, c2, 0)]:
            s = Named()
            s.conv = Named()
            s.conv.conv = nn.Conv2d(cin, cout, 5, padding=pad)
            self.stages.append(s)
        for fin, fout in [(c2 * h * h, f3), (f3, f4), (f4, classes)]:
            s = Named()
            s.linear = nn.Linear(fin, fout)
            self.stages.append(s)

    def forward(self, x):
        for s in self.stages[:2]:
            x = nn.functional.max_pool2d(torch.relu(s.conv.conv(x)), 2)
        x = x.flatten(1)
        for i, s in enumerate(self.stages[2:]):
            x = s.linear(x)
            if i < 2:
                x = torch.relu(x)
        return x


def conv_bn(cin, cout, k, stride, pad):
    """Our ConvBn: `conv` (no bias) then `bn`."""
    m = Named()
    m.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False)
    m.bn = nn.BatchNorm2d(cout)
    return m


def run_conv_bn(m, x):
    return m.bn(m.conv(x))


class ResNet18(nn.Module):
    """infoplane's CIFAR ResNet18: a 3x3 stem (conv-BN-ReLU, no max-pool), basic blocks in four
    groups (widths 64-512 x width, strides 1, 2, 2, 2; a 1x1 conv-BN shortcut where the shape
    changes), global average pooling, a linear classifier — with its parameter names."""

    def __init__(self, channels, classes, width=1.0):
        super().__init__()
        w = lambda c: max(1, round(c * width))
        stem = Named()
        stem.conv = conv_bn(channels, w(64), 3, 1, 1)
        self.stages = nn.ModuleList([stem])
        cin = w(64)
        for g, planes in enumerate([64, 128, 256, 512]):
            for b in range(2):
                stride = 2 if g > 0 and b == 0 else 1
                blk = Named()
                blk.conv1 = conv_bn(cin, w(planes), 3, stride, 1)
                blk.conv2 = conv_bn(w(planes), w(planes), 3, 1, 1)
                if stride != 1 or cin != w(planes):
                    blk.shortcut = conv_bn(cin, w(planes), 1, stride, 0)
                self.stages.append(blk)
                cin = w(planes)
        self.classifier = Named()
        self.classifier.linear = nn.Linear(cin, classes)

    def forward(self, x):
        x = torch.relu(run_conv_bn(self.stages[0].conv, x))
        for blk in self.stages[1:]:
            y = run_conv_bn(blk.conv2, torch.relu(run_conv_bn(blk.conv1, x)))
            s = run_conv_bn(blk.shortcut, x) if hasattr(blk, "shortcut") else x
            x = torch.relu(y + s)
        return self.classifier.linear(x.mean(dim=(2, 3)))


def build(side_info):
    m = side_info["model"]
    arch = m["arch"]
    c, h, w = side_info["input"]
    if arch == "lenet5" and not m.get("batch_norm", False):
        return LeNet5(c, h, side_info["classes"], m.get("width", 1.0), m.get("conv1_padding"))
    if arch == "resnet18" and m.get("batch_norm", True) and m.get("dropout", 0.0) == 0.0:
        return ResNet18(c, side_info["classes"], m.get("width", 1.0))
    sys.exit(f"{arch} (batch_norm={m.get('batch_norm')}) is not rebuilt by this script yet")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights")
    ap.add_argument("--check", help="a folder written by `infoplane reprs`")
    a = ap.parse_args()
    side = json.load(open(os.path.splitext(a.weights)[0] + ".json"))
    model = build(side)
    missing, unexpected = model.load_state_dict(read_safetensors(a.weights), strict=False)
    if missing or unexpected:
        sys.exit(f"names differ: missing {missing}, unexpected {unexpected}")
    model.eval()
    print(f"{side['model']['arch']}: {sum(p.numel() for p in model.parameters())} parameters loaded")
    if a.check:
        x = np.load(os.path.join(a.check, "x.npy")).astype(np.float32)
        x = torch.from_numpy(x).reshape(len(x), *side["input"])
        ours = np.load(os.path.join(a.check, "scores.npy"))
        with torch.no_grad():
            theirs = model(x).numpy()
        diff = float(np.abs(theirs - ours).max())
        scale = float(np.abs(ours).max())
        print(f"max |PyTorch - infoplane| over {ours.size} class scores: {diff:.3g} (scores up to {scale:.3g})")
        if diff > 1e-4 * max(1.0, scale):
            sys.exit("the class scores differ beyond float32 rounding")


if __name__ == "__main__":
    main()
