#!/usr/bin/env python3
"""Show the corpus lines where kd-tokenize and HF `tokenizers` disagree.

Usage: python3 tools/tokenizers/diff_corpora.py --tokenizer NAME|PATH [--file REL] [--bin .build/debug] [--max 5]
NAME is one of minilm, wordpiece-cased, bpe-bytelevel, unigram-metaspace (or a tokenizer.json path).
Texts containing a newline (CSV fields) are skipped: kd-tokenize reads one text per line.
"""
import argparse, json, os, subprocess, sys
from tokenizers import Tokenizer
sys.path.insert(0, os.path.dirname(__file__))
from corpus_lines import corpus_lines

NAMES = {"minilm": "models/all-MiniLM-L6-v2/tokenizer.json"}
ap = argparse.ArgumentParser()
ap.add_argument("--tokenizer", required=True)
ap.add_argument("--file")
ap.add_argument("--corpora", default="../shared/corpora")
ap.add_argument("--bin", default=".build/debug")
ap.add_argument("--max", type=int, default=5)
a = ap.parse_args()
path = NAMES.get(a.tokenizer) or (a.tokenizer if os.path.exists(a.tokenizer) else f"Tests/KDTokenizersTests/Resources/{a.tokenizer}.json")
tok = Tokenizer.from_file(path); tok.no_truncation(); tok.no_padding()
shown = 0; total = 0
for rel, lines in corpus_lines(a.corpora):
    if a.file and rel != a.file:
        continue
    texts = [t for t in lines if "\n" not in t and "\r" not in t]
    if not texts:
        continue
    out = subprocess.run([os.path.join(a.bin, "kd-tokenize"), "--tokenizer", path, "--offsets"],
                         input="\n".join(texts).encode() + b"\n", capture_output=True, check=True).stdout.decode().splitlines()
    for text, line, e in zip(texts, out, tok.encode_batch(texts)):
        total += 1
        got = json.loads(line)
        want = {"ids": e.ids, "offsets": [list(o) for o in e.offsets]}
        if got["ids"] != want["ids"] or got["offsets"] != want["offsets"]:
            shown += 1
            print(f"--- {rel}: {text[:300]!r}")
            for i, (x, y) in enumerate(zip(got["ids"] + [None] * 999, want["ids"])):
                if x != y or got["offsets"][i:i+1] != want["offsets"][i:i+1]:
                    print(f"  first difference at token {i}: ours {got['ids'][i:i+6]} {got['offsets'][i:i+6]}")
                    print(f"                               HF   {want['ids'][i:i+6]} {want['offsets'][i:i+6]} {e.tokens[i:i+6]}")
                    break
            else:
                print(f"  lengths differ: ours {len(got['ids'])}, HF {len(want['ids'])}")
            if shown >= a.max:
                sys.exit(1)
print(f"{total} texts compared, {shown} differ")
sys.exit(1 if shown else 0)
