#!/usr/bin/env bash
# Interleaved A/B of kd-ingest builds on the ingest benchmark corpus: runs each
# binary in turn, N rounds, and prints each one's median and best wall time.
# This VM's speed drifts by ±20% within minutes; alternating binaries is the
# only way changes under ~10% showed up reliably.
#   tools/bench/ingest/ab.sh 8 /tmp/kd-ingest-before .build/release/kd-ingest
set -euo pipefail
n=${1:?rounds}; shift
here=$(cd "$(dirname "$0")" && pwd)
shared=${KD_SHARED_CORPORA:-$here/../../../../shared/corpora}
[ -d "$shared" ] || { echo "skip: $shared is absent"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for _ in $(seq "$n"); do
  for b in "$@"; do
    rm -f "$work"/ab.sqlite*
    s=$(date +%s.%N)
    "$b" "$shared" --db "$work/ab.sqlite" --manifest "$here/bench.kd-corpus.yaml" --json -q >/dev/null 2>&1 || true
    e=$(date +%s.%N)
    echo "$b $s $e"
  done
done | python3 -c '
import sys, statistics, collections
d = collections.defaultdict(list)
for line in sys.stdin:
    b, s, e = line.split()
    d[b].append(float(e) - float(s))
for b, v in d.items():
    print(f"{b}: median {statistics.median(v):.3f} s, best {min(v):.3f} s, {len(v)} runs")
'
