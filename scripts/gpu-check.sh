#!/usr/bin/env bash
# The GPU check: one prepared script for a lent GPU machine (no Rust toolchain, no network,
# python3 with torch 2.11 + CUDA). It runs the quick job on `--backend tch --device 0` and on
# `--backend wgpu`, and times ResNet18 training steps (CIFAR shape, batch 128, E2E and
# layer-wise, with peak GPU memory) against PyTorch eager on the same GPU, then prints one
# table. Budget: about 8 minutes, so that it can be rerun once in 15 minutes of GPU time.
#
# Prepare here (see scripts/build-gpu-binaries.sh): gpu/infoplane-tch (built against pip's
# torch 2.11), gpu/infoplane-wgpu, and .gl/*.deb (the Vulkan loader); both folders are ignored
# by git through .git/info/exclude. Then, with the device tool:
#   run(command="bash scripts/gpu-check.sh", carry=["gpu", ".gl"], timeout_s=540)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }

# libtorch of the machine's own torch (same version as the binary was built against).
TORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH=$TORCH_LIB:${LD_LIBRARY_PATH:-}
# The Vulkan loader for wgpu.
if ! ldconfig -p | grep -q libvulkan; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}

log "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$OUT/summary.txt"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$OUT/summary.txt"

# Peak GPU memory of a command, sampled every 100 ms with nvidia-smi (MiB, whole device).
peak_gpu() {
  local f=$(mktemp)
  ( while true; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits >> "$f"; sleep 0.1; done ) &
  local sampler=$!
  "$@"
  local rc=$?
  kill $sampler 2>/dev/null; wait $sampler 2>/dev/null
  echo "peak_gpu_mib $(sort -n "$f" | tail -1)"
  rm -f "$f"
  return $rc
}

log "quick job, tch on GPU 0"
start=$(date +%s)
timeout 150 gpu/infoplane-tch reproduce quick --backend tch --device 0 --out "$OUT/quick-tch" > "$OUT/quick-tch.log" 2>&1
echo "rc $? in $(( $(date +%s) - start )) s; $(grep -h 'test accuracy' "$OUT/quick-tch.log" | tr '\n' ' ')" | tee -a "$OUT/summary.txt"

log "quick job, wgpu (5 epochs: the first steps compile shaders)"
start=$(date +%s)
timeout 150 gpu/infoplane-wgpu reproduce quick --backend wgpu --device 0 --epochs 5 --out "$OUT/quick-wgpu" > "$OUT/quick-wgpu.log" 2>&1
echo "rc $? in $(( $(date +%s) - start )) s; $(grep -h 'test accuracy' "$OUT/quick-wgpu.log" | tr '\n' ' ')" | tee -a "$OUT/summary.txt"

log "ResNet18 steps, batch 128, 3x32x32 (images/s; peak GPU memory of the process)"
for s in e2e layerwise; do
  echo "infoplane-tch $s: $(peak_gpu timeout 60 gpu/infoplane-tch bench-step --arch resnet18 --strategy $s --backend tch --device 0 --steps 30 | tr '\n' ' ')" | tee -a "$OUT/summary.txt"
done
for s in e2e layerwise; do
  echo "infoplane-wgpu $s: $(peak_gpu timeout 90 gpu/infoplane-wgpu bench-step --arch resnet18 --strategy $s --backend wgpu --device 0 --steps 30 | tr '\n' ' ')" | tee -a "$OUT/summary.txt"
done
for s in e2e layerwise; do
  echo "pytorch $s: $(timeout 60 python3 scripts/train_step_torch.py --arch resnet18 --device cuda --strategy $s --steps 10 --reps 5 --threads 16)" | tee -a "$OUT/summary.txt"
done
log "done"
cat "$OUT/summary.txt"
