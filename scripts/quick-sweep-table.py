#!/usr/bin/env python3
"""Tabulates `infoplane read --json` over cut epochs: per run and cut, training accuracy and
how many stages read each shape (X and Y), and the shapes stage by stage."""
import json
import sys

ABBR = {"rose": "R", "rose then fell": "RF", "fell from the start": "F", "stayed flat": "-"}
rows = [json.loads(l) for l in open(sys.argv[1])]
seen = set()
print("| run | epoch | train acc. | nHSIC(X;T) per stage | nHSIC(Y;T) per stage | stages with a fall (X / Y) |")
print("|---|---|---|---|---|---|")
for r in rows:
    key = (r["run"], r["epoch"])
    # Cuts past the end of a run repeat its end, numbers and all: skip them.
    ends = tuple(st["x_reading"] + st["y_reading"] for st in r["stages"])
    if (r["run"], ends) in seen:
        continue
    seen.add((r["run"], ends))
    xs = [ABBR.get(st["x"], "?") for st in r["stages"]]
    ys = [ABBR.get(st["y"], "?") for st in r["stages"]]
    fx = sum(s in ("RF", "F") for s in xs)
    fy = sum(s in ("RF", "F") for s in ys)
    acc = r["train_accuracy"]
    print(f"| {r['run']} | {r['epoch']:g} | {'—' if acc is None else f'{100*acc:.1f}%'} | {' '.join(xs)} | {' '.join(ys)} | {fx} / {fy} of {len(xs)} |")
print()
print("R: rose without a fall; RF: rose then fell; F: fell from the start; -: flat (the rules of docs/reading-rules.md).")
