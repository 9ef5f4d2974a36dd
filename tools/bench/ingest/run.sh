#!/usr/bin/env bash
# Ingest throughput: kd-ingest (with tokenization) vs HF datasets
# load_dataset + map(tokenizer, batched=True) + save_to_disk, same files,
# same tokenizer, same run. Prints a markdown table of medians.
#   KD_BIN=.build/release tools/bench/ingest/run.sh [runs]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
shared=${KD_SHARED_CORPORA:-$root/../shared/corpora}
bin=${KD_BIN:-$root/.build/release}
tok=$root/models/all-MiniLM-L6-v2/tokenizer.json
runs=${1:-5}
[ -d "$shared" ] || { echo "skip: $shared is absent"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$here" "$shared" "$bin" "$tok" "$work" "$runs" <<'PY'
import json, os, statistics, subprocess, sys, time
here, shared, bin_, tok, work, runs = sys.argv[1:7]
runs = int(runs)
kd, hf = [], []
for i in range(runs):
    db = os.path.join(work, f"kd{i}.sqlite")
    t0 = time.perf_counter()
    r = subprocess.run([os.path.join(bin_, "kd-ingest"), shared, "--db", db, "--tokenizer", tok,
                        "--manifest", os.path.join(here, "bench.kd-corpus.yaml"), "--json", "-q"],
                       capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if r.returncode not in (0, 3):
        sys.exit(f"kd-ingest failed: {r.stderr}")
    s = json.loads(r.stdout)
    kd.append((secs, s["examples_added"], s["bytes_read"]))
    out = os.path.join(work, f"hf{i}")
    r = subprocess.run([sys.executable, os.path.join(here, "hf_ingest.py"), shared, tok, out], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"hf reference failed: {r.stderr[-2000:]}")
    h = json.loads(r.stdout.strip().splitlines()[-1])
    hf.append((time.perf_counter() - t0 - secs, h["examples"], h["bytes"]))
k = statistics.median(x[0] for x in kd); h = statistics.median(x[0] for x in hf)
mb = kd[0][2] / 1e6
print(f"| tool | examples | median s ({runs} runs) | MB/s | examples/s |")
print("|---|---|---|---|---|")
print(f"| kd-ingest (tokenize, SQLite) | {kd[0][1]} | {k:.2f} | {mb/k:.1f} | {kd[0][1]/k:,.0f} |")
print(f"| HF datasets load+map+save_to_disk | {hf[0][1]} | {h:.2f} | {hf[0][2]/1e6/h:.1f} | {hf[0][1]/h:,.0f} |")
print(f"\nkd-ingest is {h/k:.1f}x faster end to end (median wall time, including process start and imports).")
PY
