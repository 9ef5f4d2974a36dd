#!/usr/bin/env bash
# The quality bar of issue 6 on ../shared/corpora (low-label setting):
# training labels kept for 10% of the train examples (label seed 0); the
# teacher's head and the baseline see only those; the KD student also learns
# from the rest of the train text through the teacher's soft targets.
#   tools/quality.sh [DB] [BIN]      (default out/quality/data.sqlite, .build/release)
# Prints one comparison table per task; BENCHMARKS.md quotes them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
db=${1:-$root/out/quality/data.sqlite}
bin=${2:-$root/.build/release}
shared=${KD_SHARED_CORPORA:-$root/../shared/corpora}
teacher=$root/models/all-MiniLM-L6-v2
tasks=${QUALITY_TASKS:-"banking77 claudette medical_abstracts_tc"}
mkdir -p "$(dirname "$db")"
set +e
"$bin/kd-ingest" "$shared" --db "$db" --manifest "$root/corpora/shared.kd-corpus.yaml" --tokenizer "$teacher/tokenizer.json" -q
rc=$?; set -e; [ $rc -eq 0 ] || [ $rc -eq 3 ] || exit $rc
for t in $tasks; do
  echo "== $t" >&2
  "$bin/kd-teacher-cache" --db "$db" --teacher "$teacher" --name "minilm-10pct/$t" --task "$t" \
    --label-fraction 0.1 --label-seed 0 -q
  "$bin/kd-train" --db "$db" --task "$t" --teacher "minilm-10pct/$t" --compare \
    --label-fraction 0.1 --label-seed 0 ${QUALITY_TRAIN_ARGS:-}
done
