#!/usr/bin/env bash
# Training benchmarks: the loader alone (examples/s, peak RSS at two DB sizes)
# and bow training steps beside the same model in PyTorch CPU (2 threads), on
# the same synthetic store in the same run. Builds nothing: $KD_BIN holds the
# release binaries. Prints a markdown table.
#   KD_BIN=.build/release tools/bench/train/run.sh [examples=200000] [steps=4000]
set -euo pipefail
BIN=${KD_BIN:?set KD_BIN to the folder of release binaries}
N=${1:-200000}
STEPS=${2:-4000}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

python3 "$HERE/make_db.py" "$WORK/small.sqlite" --examples $((N / 4)) >&2
python3 "$HERE/make_db.py" "$WORK/big.sqlite" --examples "$N" >&2

rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
loader_small_rss=$(rss "$BIN/kd-train" bench loader --db "$WORK/small.sqlite" --passes 1)
loader_big_rss=$(rss "$BIN/kd-train" bench loader --db "$WORK/big.sqlite" --passes 1)

swift_loader=$(for i in 1 2 3; do "$BIN/kd-train" bench loader --db "$WORK/big.sqlite" --passes 3 | field examples_per_s; done | median)
py_loader=$(for i in 1 2 3; do python3 "$HERE/loader_python.py" "$WORK/big.sqlite" --task bench | field examples_per_s; done | median)

swift_train=$(for i in 1 2 3; do "$BIN/kd-train" bench train --db "$WORK/big.sqlite" --steps "$STEPS" --batch-size 32 | field examples_per_s; done | median)
torch_train=$(for i in 1 2 3; do python3 "$HERE/bow_torch.py" "$WORK/big.sqlite" --task bench --steps "$STEPS" --batch-size 32 --threads 2 | field examples_per_s; done | median)

ratio() { python3 -c "print(f'{$1/$2:.2f}x')"; }
echo "| measure | kd (Swift) | reference | ratio |"
echo "|---|---:|---:|---:|"
printf "| loader, train split of %d examples (examples/s, median of 3×3 passes) | %.0f | %.0f (Python sqlite3+numpy, no shuffle) | %s |\n" "$((N * 8 / 10))" "$swift_loader" "$py_loader" "$(ratio "$swift_loader" "$py_loader")"
printf "| loader peak RSS, %d vs %d examples (MB) | %.0f / %.0f | — | — |\n" "$((N / 4))" "$N" "$(echo "$loader_small_rss/1024" | bc -l)" "$(echo "$loader_big_rss/1024" | bc -l)"
printf "| bow training, batch 32, 77 classes, dim 64, 2^17 buckets (examples/s) | %.0f (1 thread) | %.0f (PyTorch CPU, 2 threads) | %s |\n" "$swift_train" "$torch_train" "$(ratio "$swift_train" "$torch_train")"
