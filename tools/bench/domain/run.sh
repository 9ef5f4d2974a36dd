#!/usr/bin/env bash
# Issue 14, domain-distillation bars, per task (default: the three shared sets):
#  (a) a domain encoder (kd-train encoder over the task's domain text), then the mean cosine of
#      mean-pooled embeddings, encoder vs teacher, on the task's test split (cosine.py, transformers);
#  (b) task students (kd-train --student transformer) initialised from that encoder vs from truncated
#      teacher layers (DistilBERT-style 1,3,5 of 6), same flags and budget, test macro-F1 as the mean
#      of the seeds.
#   KD_BIN=.build/release tools/bench/domain/run.sh DB [tasks="medical_abstracts_tc claudette banking77"] [work=out/domain]
# DB: a kd store with the sets ingested with the teacher's tokenizer (kd-ingest ../shared/corpora
#   --manifest corpora/shared.kd-corpus.yaml; the default tokenizer is all-MiniLM-L6-v2's) and, for (b),
#   a teacher cached per task under the name $CACHED (kd-teacher-cache --teacher TEACHER --name frozen
#   --task T --fit-head): the task students distil from it.
# Environment:
#   PART=ab          a: encoder + cosine only; b: students only (reuses WORK/enc-T); ab: both
#   LAYERS=3         encoder and student layers
#   TEXT=domain      domain: all text of the task's domain(s) (labelled or not); task: the task's text only
#   ENCODER_ARGS     extra kd-train encoder flags (e.g. "--epochs 1 --steps 300 --max-tokens 64")
#   STUDENT_ARGS     extra kd-train flags for both students (e.g. "--label-fraction 0.1 --epochs 3")
#   SEEDS="1 2 3"    student seeds; CACHED=frozen; TEACHER=models/all-MiniLM-L6-v2; THREADS=2
# Prints one JSON line per encoder, cosine and student run, then a summary line per task.
set -euo pipefail
BIN=${KD_BIN:?set KD_BIN to the folder of release binaries}
DB=${1:?kd database}
TASKS=${2:-medical_abstracts_tc claudette banking77}
WORK=${3:-out/domain}
PART=${PART:-ab}; LAYERS=${LAYERS:-3}; TEXT=${TEXT:-domain}; SEEDS=${SEEDS:-1 2 3}
CACHED=${CACHED:-frozen}; TEACHER=${TEACHER:-models/all-MiniLM-L6-v2}; THREADS=${THREADS:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$WORK"
export OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
for T in $TASKS; do
  enc=$WORK/enc-$T
  if [[ $PART == *a* ]]; then
    text=(--task "$T")
    if [ "$TEXT" = domain ]; then
      text=()
      for d in $(python3 -c "import sqlite3,sys; c=sqlite3.connect(f'file:{sys.argv[1]}?mode=ro',uri=True); print(' '.join(r[0] for r in c.execute('SELECT DISTINCT e.domain FROM examples e JOIN tasks t ON t.id = e.task_id WHERE t.name = ?', (sys.argv[2],))))" "$DB" "$T"); do
        text+=(--domain "$d")
      done
    fi
    t0=$(date +%s)
    # shellcheck disable=SC2086
    "$BIN/kd-train" encoder --db "$DB" "${text[@]}" --teacher "$TEACHER" --out "$enc" --force --restart --layers "$LAYERS" \
      --threads "$THREADS" ${ENCODER_ARGS:-} --json > "$WORK/enc-$T.json"
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps({'run':'encoder','task':sys.argv[2],'text':sys.argv[3],'train_examples':d['train_examples'],'steps':d['steps'],'best_epoch':d['best_epoch'],'validation_loss':d.get('best_validation_loss'),'examples_per_s':round(d['examples_per_second'],1),'seconds':int(sys.argv[4])}))" \
      "$WORK/enc-$T.json" "$T" "$TEXT" $(( $(date +%s) - t0 ))
    python3 "$HERE/cosine.py" "$DB" --task "$T" --encoder "$enc" --teacher "$TEACHER" --threads "$THREADS" | tee "$WORK/cos-$T.json"
  fi
  if [[ $PART == *b* ]]; then
    : > "$WORK/students-$T.jsonl"
    for S in $SEEDS; do
      for init in encoder teacher; do
        from=$TEACHER; [ "$init" = encoder ] && from=$enc
        t0=$(date +%s)
        # shellcheck disable=SC2086
        "$BIN/kd-train" --db "$DB" --task "$T" --teacher "$CACHED" --student transformer --init teacher --init-from "$from" \
          --layers "$LAYERS" --seed "$S" --threads "$THREADS" --name "domain-$init-s$S" --out "$WORK/students" --restart \
          ${STUDENT_ARGS:-} --json > "$WORK/st-$T-$init-$S.json"
        python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['tasks'][0]['results'][0]; print(json.dumps({'run':'student','task':sys.argv[2],'init':sys.argv[3],'seed':int(sys.argv[4]),'test_macro_f1':r['test']['macro_f1'],'test_accuracy':r['test']['accuracy'],'steps':r['steps'],'seconds':int(sys.argv[5])}))" \
          "$WORK/st-$T-$init-$S.json" "$T" "$init" "$S" $(( $(date +%s) - t0 )) | tee -a "$WORK/students-$T.jsonl"
      done
    done
    python3 - "$WORK/students-$T.jsonl" "$T" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {i: [r["test_macro_f1"] for r in rows if r["init"] == i] for i in ("encoder", "teacher")}
m = {i: statistics.fmean(v) for i, v in by.items() if v}
print(json.dumps({"run": "summary", "task": sys.argv[2], "seeds": len(by["encoder"]),
                  "macro_f1_from_encoder": round(m.get("encoder", float("nan")), 4),
                  "macro_f1_from_teacher_layers": round(m.get("teacher", float("nan")), 4),
                  "encoder_wins": m.get("encoder", 0) > m.get("teacher", 0)}))
PY
  fi
done
