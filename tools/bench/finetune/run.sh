#!/usr/bin/env bash
# One epoch of teacher fine-tuning (kd-train teacher) beside the same epoch in
# PyTorch CPU (transformers BertForSequenceClassification), same data, same
# batch size, same max tokens, same thread count, in the same run, alternating.
#   KD_BIN=.build/release tools/bench/finetune/run.sh DB [task=medical_abstracts_tc] [max_tokens=256] [threads=2] [limit=0] [repeats=3]
# DB is a kd database with the task ingested (kd-ingest ../shared/corpora --manifest corpora/shared.kd-corpus.yaml).
# Prints one JSON line per run, then the median seconds of each and their paired ratio. kd's classifier
# starts random (--head-init random), as PyTorch's: the timed epoch is the same training either way.
set -euo pipefail
BIN=${KD_BIN:?set KD_BIN to the folder of release binaries}
DB=${1:?kd database}
TASK=${2:-medical_abstracts_tc}
TOK=${3:-256}
THREADS=${4:-2}
LIMIT=${5:-0}
REPEATS=${6:-3}
TEACHER=${TEACHER:-models/all-MiniLM-L6-v2}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
for i in $(seq "$REPEATS"); do
  "$BIN/kd-train" teacher --db "$DB" --task "$TASK" --teacher "$TEACHER" --out "$WORK/ft" --force --restart --epochs 1 \
    --max-tokens "$TOK" --limit "$LIMIT" --no-test --checkpoint-every 0 --head-init random --json -q > "$WORK/kd.$i.json"
  python3 -c "import json,sys; d=json.load(open('$WORK/kd.$i.json')); e=[e for e in d['epochs'] if e['epoch'] >= 1][0]; print(json.dumps({'tool':'kd','examples':d['train_examples'],'seconds':e['train_seconds'],'train_loss':e['train_loss']}))" | tee "$WORK/kdl.$i.json"
  python3 "$HERE/torch_epoch.py" "$DB" --task "$TASK" --teacher "$TEACHER" --max-tokens "$TOK" --threads "$THREADS" --limit "$LIMIT" | tee "$WORK/pt.$i.json"
done
python3 - "$WORK" "$REPEATS" <<'PY'
import json, statistics, sys
w, n = sys.argv[1], int(sys.argv[2])
kd = [json.load(open(f"{w}/kdl.{i}.json"))["seconds"] for i in range(1, n + 1)]
pt = [json.load(open(f"{w}/pt.{i}.json"))["seconds"] for i in range(1, n + 1)]
ratios = [p / k for k, p in zip(kd, pt)]
print(f"kd median {statistics.median(kd):.1f} s, PyTorch median {statistics.median(pt):.1f} s, "
      f"paired speed-up (PyTorch s / kd s) median {statistics.median(ratios):.2f}x (runs: {', '.join(f'{r:.2f}' for r in ratios)})")
PY
