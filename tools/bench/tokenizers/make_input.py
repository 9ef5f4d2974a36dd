#!/usr/bin/env python3
"""Write the benchmark input: corpus text lines (no embedded newlines), up to --mb megabytes."""
import argparse, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tokenizers"))
from corpus_lines import corpus_lines
ap = argparse.ArgumentParser()
ap.add_argument("--corpora", default="../shared/corpora")
ap.add_argument("--mb", type=float, default=8)
ap.add_argument("out")
a = ap.parse_args()
limit = int(a.mb * 1e6)
n = 0
with open(a.out, "w", encoding="utf-8") as f:
    while n < limit:
        for _, lines in corpus_lines(a.corpora):
            for t in lines:
                if not t.strip() or "\n" in t or "\r" in t:
                    continue
                f.write(t + "\n")
                n += len(t.encode()) + 1
                if n >= limit:
                    break
            if n >= limit:
                break
