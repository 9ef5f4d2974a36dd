#!/usr/bin/env python3
"""Paired bootstrap of the macro-F1 difference between two cached teachers on one split: how large
a gain the split can resolve. Reads two `kd-teacher-cache dump` files (JSON lines), pairs them by
example_id, resamples examples with replacement, and prints the observed difference (points) with its
95% percentile interval and the share of resamples where B gains at least THRESHOLD points.
  kd-teacher-cache dump --db DB --teacher A --split test > a.jsonl   (same for B)
  python3 paired_bootstrap.py a.jsonl b.jsonl [threshold=3] [resamples=10000] [seed=1]
"""
import json, random, sys


def load(path):
    rows = {}
    for line in open(path):
        d = json.loads(line)
        if len(d["labels"]) == 1:
            rows[d["example_id"]] = (d["labels"][0], d["top_class"])
    return rows


def macro_f1(pairs):
    tp, fp, fn = {}, {}, {}
    for y, p in pairs:
        if y == p:
            tp[y] = tp.get(y, 0) + 1
        else:
            fp[p] = fp.get(p, 0) + 1
            fn[y] = fn.get(y, 0) + 1
    classes = set(tp) | set(fp) | set(fn)
    f1 = [2 * tp.get(c, 0) / (2 * tp.get(c, 0) + fp.get(c, 0) + fn.get(c, 0)) for c in classes]
    return sum(f1) / max(1, len(f1))


a, b = load(sys.argv[1]), load(sys.argv[2])
threshold = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
resamples = int(sys.argv[4]) if len(sys.argv) > 4 else 10000
rng = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
ids = sorted(set(a) & set(b))
if not ids:
    sys.exit("paired_bootstrap.py: no examples in common")
if any(a[i][0] != b[i][0] for i in ids):
    sys.exit("paired_bootstrap.py: the two files disagree on labels")
observed = 100 * (macro_f1([b[i] for i in ids]) - macro_f1([a[i] for i in ids]))
diffs = []
for _ in range(resamples):
    s = [rng.choice(ids) for _ in ids]
    diffs.append(100 * (macro_f1([b[i] for i in s]) - macro_f1([a[i] for i in s])))
diffs.sort()
print(json.dumps({"examples": len(ids), "delta_points": round(observed, 2),
                  "ci95": [round(diffs[int(0.025 * resamples)], 2), round(diffs[int(0.975 * resamples) - 1], 2)],
                  "sd": round((sum(d * d for d in diffs) / resamples - (sum(diffs) / resamples) ** 2) ** 0.5, 2),
                  f"share_at_least_{threshold:g}": round(sum(d >= threshold for d in diffs) / resamples, 3)}))
