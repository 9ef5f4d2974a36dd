#!/usr/bin/env bash
# Python reader (python/kdstore) throughput, issue 17: examples/s streaming token
# ids, label and teacher logits from one store (bar: 50k/s), beside the naive
# sqlite3 + numpy loop of tools/bench/train/loader_python.py and, when $KD_BIN holds
# release binaries, kd-train's own loader, in the same run on the same store.
# The store is synthetic but shaped like the pipeline's output (make_db.py:
# banking77-like, 77 classes, f32 logits, 8-48 tokens). Rounds are paired: each
# round runs every reader once; the table gives medians over the rounds.
#   tools/bench/python-reader/run.sh [examples=200000] [rounds=5]
#   KD_BIN=.build/release tools/bench/python-reader/run.sh
set -euo pipefail
N=${1:-200000}
ROUNDS=${2:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

python3 "$ROOT/tools/bench/train/make_db.py" "$WORK/bench.sqlite" --examples "$N" >&2
# Warm the page cache once.
python3 "$HERE/bench.py" "$WORK/bench.sqlite" --task bench --mode logits > /dev/null
for i in $(seq "$ROUNDS"); do
  for m in logits probs batches; do python3 "$HERE/bench.py" "$WORK/bench.sqlite" --task bench --mode $m > "$WORK/$m.$i.json"; done
  python3 "$ROOT/tools/bench/train/loader_python.py" "$WORK/bench.sqlite" --task bench > "$WORK/naive.$i.json"
  if [ -n "${KD_BIN:-}" ]; then
    "$KD_BIN/kd-train" bench loader --db "$WORK/bench.sqlite" --task bench --passes 1 --quiet > "$WORK/swift.$i.json"
  fi
done
med() { for f in "$WORK"/$1.*.json; do field "$2" < "$f"; done | median; }
paired() { for i in $(seq "$ROUNDS"); do python3 -c "
import json; a=json.load(open('$WORK/$1.$i.json'))['examples_per_s']; b=json.load(open('$WORK/$2.$i.json'))['examples_per_s']; print(a/b)"; done | median; }
n=$(field examples < "$WORK/logits.1.json")
echo "train split: $n examples, $ROUNDS paired rounds, medians"
echo
echo "| reader | examples/s (wall) | examples per CPU-second | vs naive sqlite3 loop (paired) |"
echo "|---|---:|---:|---:|"
for m in logits probs batches; do
  printf "| kdstore, %s | %.0f | %.0f | %.2fx |\n" "$m" "$(med $m examples_per_s)" "$(med $m examples_per_cpu_s)" "$(paired $m naive)"
done
printf "| naive sqlite3 + numpy loop (tools/bench/train/loader_python.py) | %.0f | %.0f | 1.00x |\n" "$(med naive examples_per_s)" "$(med naive examples_per_cpu_s)"
if [ -n "${KD_BIN:-}" ]; then
  printf "| kd-train's loader (Swift, shuffled, background prefetch) | %.0f | %.0f | %.2fx |\n" "$(med swift examples_per_s)" "$(med swift examples_per_cpu_s)" "$(paired swift naive)"
fi
