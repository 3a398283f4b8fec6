#!/usr/bin/env bash
# Ratio of infoplane's training-step rate to PyTorch's on this CPU, measured in alternation so
# that both see the same machine state: ROUNDS times, PyTorch then every binary, one process
# each. Prints one JSON line per measurement (field "who": torch or the binary's label) and,
# at the end, the median images/s of each and the median of the per-round ratios.
#   scripts/bench-ratio.sh PYTHON ARCH STRATEGY ROUNDS STEPS [LABEL=BINARY ...]
# PYTHON: a python with torch (e.g. a venv with torch==2.9.0); binaries default to
# ours=target/release/infoplane. Example:
#   scripts/bench-ratio.sh v/bin/python lenet5 e2e 7 40
set -euo pipefail
cd "$(dirname "$0")/.."
py=${1:?usage: scripts/bench-ratio.sh PYTHON ARCH STRATEGY ROUNDS STEPS [LABEL=BINARY ...]}
arch=${2:?arch}
strategy=${3:?strategy}
rounds=${4:?rounds}
steps=${5:?steps}
shift 5
bins=("$@")
[ ${#bins[@]} -eq 0 ] && bins=("ours=target/release/infoplane")
log=$(mktemp)
for ((r = 1; r <= rounds; r++)); do
  "$py" scripts/train_step_torch.py --arch "$arch" --strategy "$strategy" --steps "$steps" --reps 1 |
    sed "s/^{/{\"who\":\"torch\",\"round\":$r,/" | tee -a "$log"
  for b in "${bins[@]}"; do
    label=${b%%=*}
    "${b#*=}" bench-step --arch "$arch" --strategy "$strategy" --steps "$steps" --backend flex --device cpu |
      sed "s/^{/{\"who\":\"$label\",\"round\":$r,/" | tee -a "$log"
  done
done
"$py" - "$log" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def rate(r):
    for k in ("images_per_second", "img_per_s", "images_per_sec"):
        if k in r:
            return r[k]
    raise SystemExit(f"no images/s field in {r}")
by = {}
for r in rows:
    by.setdefault(r["who"], {})[r["round"]] = rate(r)
torch = by.pop("torch")
print(f"torch: median {statistics.median(torch.values()):,.1f} images/s over {len(torch)} rounds")
for who, v in by.items():
    ratios = [v[k] / torch[k] for k in v if k in torch]
    print(f"{who}: median {statistics.median(v.values()):,.1f} images/s; ratio to torch per round: "
          f"median {statistics.median(ratios):.2f}x, min {min(ratios):.2f}x, max {max(ratios):.2f}x")
EOF
rm -f "$log"
