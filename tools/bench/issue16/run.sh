#!/usr/bin/env bash
# Issue 16 (findings 12-14) on the three shared sets of ../shared/corpora:
# teacher calibration (ECE), the KD student vs the no-KD baseline, and the
# student-size sweep that chose kd-train's defaults.
#   tools/bench/issue16/run.sh [OUT_DIR] [BIN]     (default out/issue16, .build/release)
# Env: TASKS (default: the three), FRACTIONS (default "0.1 1"), SWEEP (student
# settings, ";"-separated kd-train flags; default: the old and new defaults and
# one other small one; the first runs with --compare, the others train the KD
# student only). Prints one JSON line per (task, fraction, setting) on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${1:-$root/out/issue16}
bin=${2:-$root/.build/release}
shared=${KD_SHARED_CORPORA:-$root/../shared/corpora}
teacher=$root/models/all-MiniLM-L6-v2
tasks=${TASKS:-"medical_abstracts_tc claudette banking77"}
fractions=${FRACTIONS:-"0.1 1"}
sweep=${SWEEP:-"--dim 32 --buckets 0;--dim 64 --buckets 131072;--dim 16 --buckets 32768"}
db=$out/data.sqlite
mkdir -p "$out"
if [ ! -d "$shared" ]; then echo "skip: $shared is absent" >&2; exit 0; fi
set +e
"$bin/kd-ingest" "$shared" --db "$db" --manifest "$root/corpora/shared.kd-corpus.yaml" --tokenizer "$teacher/tokenizer.json" -q
rc=$?; set -e; [ $rc -eq 0 ] || [ $rc -eq 3 ] || exit $rc
for t in $tasks; do
  for f in $fractions; do
    name="minilm-$f/$t"
    "$bin/kd-teacher-cache" --db "$db" --teacher "$teacher" --name "$name" --task "$t" \
      --label-fraction "$f" --label-seed 0 -q
    IFS=';' read -ra settings <<< "$sweep"
    first=1
    for s in "${settings[@]}"; do
      tag=$(echo "$s" | tr -d ' -')
      # The first setting: teacher vs KD vs baseline (--compare); the others: the KD student only (size sweep).
      mode=""; [ $first -eq 1 ] && mode=--compare
      first=0
      # shellcheck disable=SC2086
      "$bin/kd-train" --db "$db" --task "$t" --teacher "$name" $mode --label-fraction "$f" --label-seed 0 \
        --out "$out/models/$f/$tag" $s ${TRAIN_ARGS:-} --json -q > "$out/compare-$t-$f-$tag.json"
      python3 - "$out/compare-$t-$f-$tag.json" "$t" "$f" "$s" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for task in d["tasks"]:
    row = {r["model"]: r for r in task["rows"]}
    res = {r["name"]: r for r in task["results"]}
    o = {"task": sys.argv[2], "label_fraction": float(sys.argv[3]), "student": sys.argv[4]}
    for m in ("teacher", "kd", "baseline"):
        r = row.get(m, {})
        o[m] = {k: r.get(k) for k in ("test_accuracy", "test_macro_f1", "test_ece", "parameters", "size_bytes",
                                      "inference_examples_per_second", "collapsed", "calibration_temperature")}
        if m in res:
            o[m]["epochs"] = res[m]["epochs"]; o[m]["best_epoch"] = res[m]["best_epoch"]
    o["skipped_duplicates"] = task.get("skipped_duplicates")
    print(json.dumps(o))
PY
    done
  done
done
