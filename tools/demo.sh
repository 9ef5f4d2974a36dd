#!/usr/bin/env bash
# The whole pipeline on a corpus folder: kd-ingest -> kd-teacher-cache ->
# kd-train --compare -> kd-report. Called by `make demo`:
#   tools/demo.sh CORPUS DB BIN_DIR
# Environment:
#   DEMO_TASKS      tasks to distil (default: the labeled tasks of corpora/, or
#                   of ../shared/corpora when CORPUS is that folder)
#   DEMO_MANIFEST   a manifest for the corpus root (default: corpora/shared.kd-corpus.yaml
#                   for ../shared/corpora, else none)
#   DEMO_TRAIN_ARGS extra kd-train flags (e.g. "--label-fraction 0.1")
# A second run reuses the store, the cached teacher outputs and the model.
set -euo pipefail
corpus=${1:-corpora}
db=${2:-out/demo/data.sqlite}
bin=${3:-.build/release}
root=$(cd "$(dirname "$0")/.." && pwd)
teacher=$root/models/all-MiniLM-L6-v2
mkdir -p "$(dirname "$db")"

manifest=${DEMO_MANIFEST:-}
tasks=${DEMO_TASKS:-}
if [ -z "$manifest" ] && [ -d "$corpus" ] && [ "$(cd "$corpus" && pwd)" = "$(cd "$root/.." && pwd)/shared/corpora" ]; then
  manifest=$root/corpora/shared.kd-corpus.yaml
  tasks=${tasks:-"medical_abstracts_tc claudette banking77"}
fi
if [ "$(cd "$corpus" && pwd)" = "$root/corpora" ]; then
  tasks=${tasks:-"abstract_topics clause_fairness banking_intents"}
fi

step() { printf '\n== %s\n' "$*" >&2; }
t0=$(date +%s)

step "kd-ingest $corpus"
args=("$corpus" --db "$db" --tokenizer "$teacher/tokenizer.json")
[ -n "$manifest" ] && args+=(--manifest "$manifest")
set +e
"$bin/kd-ingest" "${args[@]}"
rc=$?
set -e
# 3 = some files were bad and skipped: reported above, the pipeline goes on.
[ $rc -eq 0 ] || [ $rc -eq 3 ] || exit $rc

task_args=()
for t in $tasks; do task_args+=(--task "$t"); done

step "kd-teacher-cache (teacher: all-MiniLM-L6-v2 with a fitted head)"
"$bin/kd-teacher-cache" --db "$db" --teacher "$teacher" "${task_args[@]}"

step "kd-train --compare (KD student vs no-KD baseline vs teacher)"
# shellcheck disable=SC2086
"$bin/kd-train" --db "$db" --compare "${task_args[@]}" ${DEMO_TRAIN_ARGS:-}

step "kd-report"
report=$(dirname "$db")/report.html
if [ -x "$bin/kd-report" ]; then
  "$bin/kd-report" --db "$db" --out "$report" && echo "report: $report" >&2
fi
echo "demo finished in $(( $(date +%s) - t0 )) s (store: $db)" >&2
