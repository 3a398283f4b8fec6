#!/usr/bin/env python3
"""Parameter counts of the standard PyTorch CIFAR definitions (3x32x32, 10 classes) that
tests/models.rs checks our architectures against: ResNet18/50 with the 3x3 stem and no
max-pool, VGG11 with and without batch norm and a 512→10 classifier, LeNet5.

    pip install torch && python3 scripts/param_counts.py
"""
import torch.nn as nn


class Basic(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(planes)
        self.c2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(planes)
        self.sc = nn.Sequential()
        if stride != 1 or cin != planes:
            self.sc = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.b1 = nn.BatchNorm2d(planes)
        self.c2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.b2 = nn.BatchNorm2d(planes)
        self.c3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.b3 = nn.BatchNorm2d(4 * planes)
        self.sc = nn.Sequential()
        if stride != 1 or cin != 4 * planes:
            self.sc = nn.Sequential(nn.Conv2d(cin, 4 * planes, 1, stride, bias=False), nn.BatchNorm2d(4 * planes))


def resnet(block, counts):
    layers = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64)]
    cin = 64
    for i, (n, planes) in enumerate(zip(counts, [64, 128, 256, 512])):
        for b in range(n):
            layers.append(block(cin, planes, 2 if i > 0 and b == 0 else 1))
            cin = planes * block.expansion
    layers.append(nn.Linear(cin, 10))
    return nn.Sequential(*layers)


def vgg11(bn):
    layers, cin = [], 3
    for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1)] + ([nn.BatchNorm2d(v)] if bn else []) + [nn.ReLU()]
            cin = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 10))


def lenet5():
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5), nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10))


def count(m):
    return sum(p.numel() for p in m.parameters())


for name, m in [("resnet18", resnet(Basic, [2, 2, 2, 2])), ("resnet50", resnet(Bottleneck, [3, 4, 6, 3])),
                ("vgg11-bn", vgg11(True)), ("vgg11", vgg11(False)), ("lenet5 (1x32x32)", lenet5())]:
    print(f"{name:18} {count(m):>12,}")
