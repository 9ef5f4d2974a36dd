#!/usr/bin/env python3
"""One timed pass of the Python reader (python/kdstore) over a store's train split.

    python3 tools/bench/python-reader/bench.py DB --task bench [--mode logits|probs|batches]

- logits: examples with token ids, label and raw teacher logits (the issue's bar);
- probs: the same plus the soft targets softmax(z/T) at T = 2 (what kd-train trains on);
- batches: padded numpy batches of 256 (collate), with soft targets.

Prints one JSON object: examples, seconds, examples_per_s, examples_per_cpu_s.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "python"))
from kdstore import KDReader  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("db")
ap.add_argument("--task", required=True)
ap.add_argument("--mode", default="logits", choices=["logits", "probs", "batches"])
a = ap.parse_args()

reader = KDReader(a.db, task=a.task, split="train", temperature=None if a.mode == "logits" else 2.0)
t0, c0 = time.perf_counter(), time.process_time()
n = tokens = 0
if a.mode == "batches":
    for b in reader.batches(batch_size=256):
        n += len(b["labels"])
        tokens += int(b["lengths"].sum())
else:
    for ex in reader:
        n += 1
        tokens += len(ex["input_ids"])
        # Touch what a training loop touches.
        ex["label"], ex["teacher_logits"]
sec, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"mode": a.mode, "examples": n, "tokens": tokens, "seconds": sec, "examples_per_s": n / sec,
                  "examples_per_cpu_s": n / cpu}))
