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
#   DEMO_RECIPE     the issue 14 flow on one task with small settings: fine-tune the teacher ->
#                   cache -> domain encoder -> transformer student -> compare (default:
#                   banking_intents on the sample corpora, else none; "" skips it)
#   DEMO_RECIPE_DOMAIN the domain whose text the encoder is distilled on (default: the folder
#                   above CORPUS/*/DEMO_RECIPE, kd's <domain>/<task> layout)
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
# The frozen teacher by name: after a first run the recipe's fine-tuned teacher is cached for its task too.
if [ -n "$tasks" ]; then
  for t in $tasks; do
    # shellcheck disable=SC2086
    "$bin/kd-train" --db "$db" --compare --task "$t" --teacher "$(basename "$teacher")/$t" ${DEMO_TRAIN_ARGS:-}
  done
else
  # shellcheck disable=SC2086
  "$bin/kd-train" --db "$db" --compare ${DEMO_TRAIN_ARGS:-}
fi

recipe=${DEMO_RECIPE-$( [ "$(cd "$corpus" && pwd)" = "$root/corpora" ] && echo banking_intents || true)}
if [ -n "$recipe" ]; then
  models=$(dirname "$db")/models
  # kd's corpus layout is <domain>/<task>/...: the domain is the folder above the task's.
  domain=${DEMO_RECIPE_DOMAIN:-$(basename "$(dirname "$(find "$corpus" -mindepth 2 -maxdepth 2 -type d -name "$recipe" | head -n 1)")")}
  if [ -z "$domain" ] || [ "$domain" = . ]; then
    echo "demo: no folder <domain>/$recipe under $corpus; set DEMO_RECIPE_DOMAIN" >&2
    exit 64
  fi
  step "recipe 1/4: kd-train teacher (fine-tune the teacher on $recipe; 1 epoch, 64 tokens)"
  "$bin/kd-train" teacher --db "$db" --task "$recipe" --teacher "$teacher" --out "$models/$recipe-ft" --force \
    --epochs 1 --max-tokens 64 --batch-size 16 --lr 1e-4 --no-test
  step "recipe 2/4: kd-teacher-cache (the fine-tuned teacher, its own head)"
  # --replace: step 1 has just rewritten the folder (--force), so outputs cached by an earlier run are stale.
  "$bin/kd-teacher-cache" --db "$db" --teacher "$models/$recipe-ft" --name "$recipe-ft" --task "$recipe" --replace
  step "recipe 3/4: kd-train encoder (3-layer domain encoder from it over all '$domain' text; 40 steps)"
  "$bin/kd-train" encoder --db "$db" --domain "$domain" --teacher "$models/$recipe-ft" --out "$models/$domain-encoder" --force \
    --steps 40 --batch-size 16 --max-tokens 64 --lr 2e-4 --validation-examples 64
  step "recipe 4/4: kd-train (transformer student from the domain encoder, vs the bow student and the fine-tuned teacher)"
  "$bin/kd-train" --db "$db" --task "$recipe" --teacher "$recipe-ft" --student transformer --init teacher \
    --init-from "$models/$domain-encoder" --max-tokens 64 --epochs 2 --steps 60 --name kd-from-encoder --compare-bow
fi

step "kd-report"
report=$(dirname "$db")/report.html
if [ -x "$bin/kd-report" ]; then
  "$bin/kd-report" --db "$db" --out "$report" && echo "report: $report" >&2
fi
echo "demo finished in $(( $(date +%s) - t0 )) s (store: $db)" >&2
