#!/usr/bin/env bash
# Issue 14 bar: fine-tuned teacher vs the frozen-encoder teacher with a fitted head, on one task,
# both scored on the test split from kd-teacher-cache's own cached outputs (same code path, same examples).
#   KD_BIN=.build/release tools/bench/finetune/shared_sets.sh DB TASK [label_fraction=1] [epochs=3] [max_tokens=256] [limit=0] [work=out/finetune]
# Environment: FT_ARGS, extra kd-train teacher flags (e.g. "--lr 2e-4"); SUFFIX, appended to the cached
# teacher names and the output folder (to compare settings in one store).
# Prints one JSON line: task, fraction, frozen and fine-tuned test macro-F1/accuracy, the delta, and seconds.
set -euo pipefail
BIN=${KD_BIN:?set KD_BIN to the folder of release binaries}
DB=${1:?kd database}; TASK=${2:?task}; FRAC=${3:-1}; EPOCHS=${4:-3}; TOK=${5:-256}; LIMIT=${6:-0}
WORK=${7:-out/finetune}
TEACHER=${TEACHER:-models/all-MiniLM-L6-v2}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$WORK"
tag="$TASK-f$FRAC"
# Another window length is another frozen teacher (kd-teacher-cache refuses to mix settings under one name).
[ "$TOK" = 256 ] || tag="$tag-t$TOK"
ftag="$tag${SUFFIX:-}"
t0=$(date +%s)
"$BIN/kd-teacher-cache" --db "$DB" --teacher "$TEACHER" --name "frozen-$tag" --task "$TASK" --fit-head \
  --label-fraction "$FRAC" --max-tokens "$TOK" --retokenize -q > /dev/null
t1=$(date +%s)
# shellcheck disable=SC2086
"$BIN/kd-train" teacher --db "$DB" --task "$TASK" --teacher "$TEACHER" --out "$WORK/ft-$ftag" --force \
  --label-fraction "$FRAC" --epochs "$EPOCHS" --max-tokens "$TOK" --limit "$LIMIT" ${FT_ARGS:-} --json > "$WORK/ft-$ftag.json"
t2=$(date +%s)
"$BIN/kd-teacher-cache" --db "$DB" --teacher "$WORK/ft-$ftag" --name "ft-$ftag" --task "$TASK" --retokenize -q > /dev/null
t3=$(date +%s)
frozen=$("$BIN/kd-teacher-cache" dump --db "$DB" --teacher "frozen-$tag" --split test | python3 "$HERE/teacher_f1.py")
tuned=$("$BIN/kd-teacher-cache" dump --db "$DB" --teacher "ft-$ftag" --split test | python3 "$HERE/teacher_f1.py")
python3 - "$TASK" "$FRAC" "$frozen" "$tuned" "$WORK/ft-$ftag.json" $((t1 - t0)) $((t2 - t1)) $((t3 - t2)) <<'PY'
import json, sys
task, frac, fz, ft, summary = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4]), json.load(open(sys.argv[5]))
print(json.dumps({"task": task, "label_fraction": frac, "frozen_fitted_head": fz, "fine_tuned": ft,
                  "delta_macro_f1_points": round(100 * (ft["macro_f1"] - fz["macro_f1"]), 2),
                  "fine_tune_epochs": [(e["epoch"], round(e["validation_macro_f1"], 4), round(e["train_seconds"])) for e in summary["epochs"]],
                  "best_epoch": summary["best_epoch"], "train_examples": summary["train_examples"],
                  "seconds": {"frozen_cache": int(sys.argv[6]), "fine_tune": int(sys.argv[7]), "fine_tuned_cache": int(sys.argv[8])}}))
PY
