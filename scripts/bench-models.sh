#!/usr/bin/env bash
# One training step of LeNet5, ResNet18 and VGG11-BN (batch 128, 3x32x32, Adam) on the CPU:
# infoplane on flex (and tch when the binary has it) against PyTorch, one strategy per process
# so that each peak RSS is its own. Prints one JSON line per measurement.
#   scripts/bench-models.sh PYTHON [INFOPLANE_BINARY]
# PYTHON: a python with torch (e.g. a venv with torch==2.9.0); the binary defaults to
# target/release/infoplane (build it with --features tch to include tch).
set -uo pipefail
cd "$(dirname "$0")/.."
py=${1:?usage: scripts/bench-models.sh PYTHON [BINARY]}
bin=${2:-target/release/infoplane}
backends="flex"
"$bin" backends | grep -q '^tch *yes' && backends="flex tch"
for arch in lenet5 resnet18 vgg11; do
  steps=20; [ "$arch" != lenet5 ] && steps=4
  for s in e2e layerwise; do
    "$py" scripts/train_step_torch.py --arch "$arch" --strategy "$s" --steps "$steps" --reps 3
    for b in $backends; do
      "$bin" bench-step --arch "$arch" --strategy "$s" --steps "$steps" --backend "$b" --device cpu
    done
  done
done
for b in $backends; do
  "$bin" bench-step --arch lenet5 --strategy forward-gradient --steps 20 --backend "$b" --device cpu
done
