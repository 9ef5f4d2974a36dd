#!/usr/bin/env python3
"""HF tokenizers (Rust) encode_batch throughput on a lines file. Set RAYON_NUM_THREADS for the thread count.
Prints the same JSON fields as `kd-tokenize --benchmark`."""
import json, os, sys, time
from tokenizers import Tokenizer
path, inp, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
tok = Tokenizer.from_file(path); tok.no_truncation(); tok.no_padding()
lines = open(inp, encoding="utf-8").read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
times = []
for _ in range(rounds):
    t0 = time.perf_counter()
    encs = tok.encode_batch(lines)
    times.append(time.perf_counter() - t0)
ntok = sum(len(e.ids) for e in encs)
times.sort()
print(json.dumps({"bytes": sum(len(l.encode()) + 0 for l in lines), "tokens": ntok, "lines": len(lines),
                  "threads": int(os.environ.get("RAYON_NUM_THREADS", "0")), "median_s": times[len(times) // 2]}))
