#!/usr/bin/env bash
# Training benchmarks: the loader alone (examples/s, peak RSS at two DB sizes)
# and bow training steps beside the same model in PyTorch CPU (2 threads), on
# the same synthetic store in the same run. Builds nothing: $KD_BIN holds the
# release binaries. Prints a markdown table: wall-clock rates, and rates per
# CPU-second (user+sys of the process), which stay meaningful on a shared,
# oversubscribed machine.
#   KD_BIN=.build/release tools/bench/train/run.sh [examples=200000] [swift steps=4000] [torch steps=300]
# ROUNDS=n (default 3) sets the interleaved bow pairs; TRANSFORMER=0 skips the transformer section.
set -euo pipefail
BIN=${KD_BIN:?set KD_BIN to the folder of release binaries}
N=${1:-200000}
STEPS=${2:-4000}
TORCH_STEPS=${3:-300}
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

for i in 1 2 3; do "$BIN/kd-train" bench loader --db "$WORK/big.sqlite" --passes 3 > "$WORK/loader.$i.json"; done
for i in 1 2 3; do python3 "$HERE/loader_python.py" "$WORK/big.sqlite" --task bench > "$WORK/pyloader.$i.json"; done
# The same model on both sides: 64-wide embeddings of the tokens and of 2^17 hashed-bigram buckets
# (bow_torch.py's defaults; kd's default student is smaller: --dim 24 --buckets 16384), 2 threads on
# both sides. Interleaved pairs.
ROUNDS=${ROUNDS:-3}
for i in $(seq "$ROUNDS"); do
  "$BIN/kd-train" bench train --db "$WORK/big.sqlite" --steps "$STEPS" --batch-size 32 --dim 64 --buckets 131072 --threads 2 > "$WORK/train.$i.json"
  python3 "$HERE/bow_torch.py" "$WORK/big.sqlite" --task bench --steps "$TORCH_STEPS" --batch-size 32 --threads 2 --dim 64 --buckets 131072 > "$WORK/torch.$i.json"
done
med() { for f in "$WORK"/$1.*.json; do field "$2" < "$f"; done | median; }
ratio() { python3 -c "print(f'{$1/$2:.1f}x')"; }
# Median and range of the per-round ratios (each pair ran back to back: drift cancels).
paired() {
  for i in $(seq "$ROUNDS"); do
    python3 -c "import json; a=json.load(open('$WORK/train.$i.json'))['$1']; b=json.load(open('$WORK/torch.$i.json'))['$1']; print(a/b)"
  done | sort -g | awk '{a[NR]=$1} END {printf "%.2fx paired median (%.2f-%.2fx, %d pairs)", a[int((NR+1)/2)], a[1], a[NR], NR}'
}

sl=$(med loader examples_per_s); slc=$(med loader examples_per_cpu_s)
pl=$(med pyloader examples_per_s); plc=$(med pyloader examples_per_cpu_s)
st=$(med train examples_per_s); stc=$(med train examples_per_cpu_s)
tt=$(med torch examples_per_s); ttc=$(med torch examples_per_cpu_s)
echo "| measure | kd (Swift) | reference | ratio |"
echo "|---|---:|---:|---:|"
printf "| loader, train split of %d examples: examples/s (wall) | %.0f | %.0f (Python sqlite3 + numpy, no shuffle) | %s |\n" "$((N * 8 / 10))" "$sl" "$pl" "$(ratio "$sl" "$pl")"
printf "| loader: examples per CPU-second | %.0f | %.0f | %s |\n" "$slc" "$plc" "$(ratio "$slc" "$plc")"
printf "| loader peak RSS (MB), %d vs %d examples | %.0f vs %.0f | — | — |\n" "$((N / 4))" "$N" "$(echo "$loader_small_rss/1024" | bc -l)" "$(echo "$loader_big_rss/1024" | bc -l)"
printf "| bow training, batch 32, 77 classes, dim 64, 2^17 buckets: examples/s (wall) | %.0f (2 threads) | %.0f (PyTorch CPU, 2 threads) | %s; %s |\n" "$st" "$tt" "$(ratio "$st" "$tt")" "$(paired examples_per_s)"
printf "| bow training: examples per CPU-second | %.0f | %.0f | %s; %s |\n" "$stc" "$ttc" "$(ratio "$stc" "$ttc")" "$(paired examples_per_cpu_s)"

# Transformer student (issue 13): training step vs PyTorch, inference vs the teacher.
if [ "${TRANSFORMER:-1}" != 0 ] && [ -f "$HERE/../../../models/all-MiniLM-L6-v2/model.safetensors" ]; then
  echo
  "$HERE/transformer.sh"
fi
