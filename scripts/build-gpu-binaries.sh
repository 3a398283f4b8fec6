#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh carries to a GPU machine: the CLI against pip's torch 2.11
# (the version installed there; CUDA wheel, ~4 GB) and with wgpu, both stripped into gpu/, and
# the Vulkan loader packages into .gl/. Both folders are kept out of git.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/gpu/' .git/info/exclude || echo /gpu/ >> .git/info/exclude
grep -qx '/.gl/' .git/info/exclude || echo /.gl/ >> .git/info/exclude
mkdir -p gpu .gl
python3 -m venv target/torch211
target/torch211/bin/pip install -q torch==2.11.0
PATH=$PWD/target/torch211/bin:$PATH LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 \
  cargo build --release -p infoplane-cli --features tch --target-dir target/tch211
cp target/tch211/release/infoplane gpu/infoplane-tch && strip gpu/infoplane-tch
cargo build --release -p infoplane-cli --features wgpu --target-dir target/wgpu
cp target/wgpu/release/infoplane gpu/infoplane-wgpu && strip gpu/infoplane-wgpu
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
mkdir -p /tmp/amd64/partial
apt-get $o update
(cd .gl && apt-get $o download libvulkan1)
ls -la gpu .gl
