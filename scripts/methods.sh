#!/usr/bin/env bash
# Trains every method of experiments/methods/ (LeNet5, mnist-10k, 20 epochs, seed 0) into
# runs/methods/<method>/ and prints one markdown table: test accuracy, final per-stage
# nHSIC(X;T) / nHSIC(Y;T), seconds per epoch. Finished runs are reused (--resume).
#   scripts/methods.sh [extra train options, e.g. --backend tch]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p infoplane-cli
bin=target/release/infoplane
out=runs/methods
mkdir -p "$out"
# retrain reads the layer-wise run, so it comes after it.
for m in e2e-ce e2e-supcon e2e-simclr layerwise-ce layerwise-supcon layerwise-sim \
         layerwise-sp-hard layerwise-sp-soft layerwise-sequential layerwise-nhsic retrain; do
  cfg=experiments/methods/$m.toml
  if [ "$m" = retrain ]; then
    tmp=$(mktemp --suffix=.toml)
    sed "s#^source = .*#source = \"$out/layerwise-ce\"#" "$cfg" > "$tmp"
    cfg=$tmp
  fi
  if [ -f "$out/$m/summary.json" ]; then
    echo "$m: finished run reused" >&2
  else
    "$bin" train --config "$cfg" --out "$out/$m" --overwrite "$@" >&2
  fi
done
python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
print("| method | test acc. | nHSIC(X;T) T1..T5 (final) | nHSIC(Y;T) T1..T5 (final) | s/epoch |")
print("|---|---|---|---|---|")
for m in sorted(os.listdir(out)):
    p = os.path.join(out, m, "summary.json")
    if not os.path.exists(p):
        continue
    s = json.load(open(p))
    metrics = [json.loads(l) for l in open(os.path.join(out, m, "metrics.jsonl"))]
    secs = sum(x["seconds"] for x in metrics) / len(metrics)
    xs = " / ".join(f"{st['nhsic_x'][-1]:.1f}" for st in s["stages"])
    ys = " / ".join(f"{st['nhsic_y'][-1]:.2f}" for st in s["stages"])
    print(f"| {m} | {100*s['test_accuracy']:.2f}% | {xs} | {ys} | {secs:.2f} |")
PY
