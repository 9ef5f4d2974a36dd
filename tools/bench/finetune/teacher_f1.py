#!/usr/bin/env python3
"""Macro-F1 and accuracy of a cached teacher on one split, from `kd-teacher-cache dump` JSON lines on stdin.
Single-label examples only; macro-F1 over the classes that occur in the labels or predictions.
  kd-teacher-cache dump --db DB --teacher NAME --split test | python3 teacher_f1.py
"""
import json, sys
from collections import Counter

tp, fp, fn = Counter(), Counter(), Counter()
n = correct = 0
for line in sys.stdin:
    d = json.loads(line)
    if len(d["labels"]) != 1:
        continue
    y, p = d["labels"][0], d["top_class"]
    n += 1
    if y == p:
        correct += 1; tp[y] += 1
    else:
        fp[p] += 1; fn[y] += 1
classes = set(tp) | set(fp) | set(fn)
f1 = [2 * tp[c] / (2 * tp[c] + fp[c] + fn[c]) for c in classes]
print(json.dumps({"examples": n, "accuracy": correct / max(1, n), "macro_f1": sum(f1) / max(1, len(f1))}))
