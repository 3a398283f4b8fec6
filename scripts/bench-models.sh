#!/usr/bin/env bash
# One training step of LeNet5, ResNet18 and VGG11-BN (batch 128, 3x32x32, Adam) on the CPU:
# infoplane on flex (and tch when the binary has it) against PyTorch, one strategy per process
# so that each peak RSS is its own. Prints one JSON line per measurement.
#   scripts/bench-models.sh PYTHON [INFOPLANE_BINARY]
# PYTHON: a python with torch (e.g. a venv with torch==2.9.0); the binary defaults to
# target/release/infoplane (build it with --features tch to include tch).
# flex runs three ways, named in the "variant" field: "ours" (our convolution and the
# allocator setting, the default), "burn-conv" (INFOPLANE_FLEXCONV=off: burn-flex's own
# convolution), "default-malloc" (INFOPLANE_MALLOC=default: glibc's default thresholds).
set -uo pipefail
cd "$(dirname "$0")/.."
py=${1:?usage: scripts/bench-models.sh PYTHON [BINARY]}
bin=${2:-target/release/infoplane}
tch=no
"$bin" backends | grep -q '^tch *yes' && tch=yes
step() { # variant, env..., then bench-step arguments
  local variant=$1; shift
  env "$@" | sed "s/^{/{\"variant\":\"$variant\",/"
}
flex() { # arguments of bench-step
  step ours "$bin" bench-step "$@" --backend flex --device cpu
  step burn-conv INFOPLANE_FLEXCONV=off "$bin" bench-step "$@" --backend flex --device cpu
  step default-malloc INFOPLANE_MALLOC=default "$bin" bench-step "$@" --backend flex --device cpu
  if [ $tch = yes ]; then step tch "$bin" bench-step "$@" --backend tch --device cpu; fi
}
for arch in lenet5 resnet18 vgg11; do
  steps=20; [ "$arch" != lenet5 ] && steps=4
  for s in e2e layerwise; do
    "$py" scripts/train_step_torch.py --arch "$arch" --strategy "$s" --steps "$steps" --reps 3
    flex --arch "$arch" --strategy "$s" --steps "$steps"
  done
done
flex --arch lenet5 --strategy forward-gradient --steps 20
