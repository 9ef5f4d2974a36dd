#!/usr/bin/env bash
# Issue 15 benchmark: the three shared sets ingested and cached as one store and
# as 4 shards; kd-merge time; the streaming loader (kd-train bench loader) on
# the unsharded store vs the 4 shards read together (--db glob, through the
# merged view), paired runs alternating; the cost of the writing stages'
# quick_check. Release binaries in $KD_BIN; the shared corpora in
# $KD_SHARED_CORPORA (default ../shared/corpora). Prints a markdown table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
KD_BIN=${KD_BIN:-$root/.build/release}
corpora=${KD_SHARED_CORPORA:-$root/../shared/corpora}
tok=${KD_TOKENIZER:-$root/models/all-MiniLM-L6-v2/tokenizer.json}
runs=${RUNS:-5}
[ -d "$corpora" ] || { echo "shared corpora absent: $corpora" >&2; exit 0; }
work=$(mktemp -d /tmp/kd-bench-shards.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
teacher="python3 $root/tools/teacher-cmd/hash_teacher.py"
tasks=(--task medical_abstracts_tc --task claudette --task banking77)
now() { date +%s.%N; }
t0=$(now)
"$KD_BIN/kd-ingest" "$corpora" --manifest "$root/corpora/shared.kd-corpus.yaml" --tokenizer "$tok" --db whole.sqlite -q || [ $? -eq 3 ]
"$KD_BIN/kd-teacher-cache" --db whole.sqlite --teacher-cmd "$teacher" "${tasks[@]}" -q
t1=$(now)
for k in 0 1 2 3; do
  "$KD_BIN/kd-ingest" "$corpora" --manifest "$root/corpora/shared.kd-corpus.yaml" --tokenizer "$tok" --db s.sqlite --shard $k/4 -q || [ $? -eq 3 ]
  "$KD_BIN/kd-teacher-cache" --db s.sqlite --shard $k/4 --teacher-cmd "$teacher" "${tasks[@]}" -q
done
t2=$(now)
"$KD_BIN/kd-merge" merged.sqlite 's.shard-*-of-4.sqlite' -q
t3=$(now)
"$KD_BIN/kd-merge" merged.sqlite 's.shard-*-of-4.sqlite' -q
t4=$(now)
# Build the view once (its build time is kd-merge's), then measure reads.
"$KD_BIN/kd-train" bench loader --db 's.shard-*-of-4.sqlite' --task banking77 --passes 1 -q >/dev/null
one=() many=()
for ((i = 0; i < runs; i++)); do
  one+=("$("$KD_BIN/kd-train" bench loader --db whole.sqlite --task banking77 --passes 5 -q | python3 -c 'import json,sys; print(json.load(sys.stdin)["examples_per_s"])')")
  many+=("$("$KD_BIN/kd-train" bench loader --db 's.shard-*-of-4.sqlite' --task banking77 --passes 5 -q | python3 -c 'import json,sys; print(json.load(sys.stdin)["examples_per_s"])')")
done
qc=$(python3 - whole.sqlite <<'PY'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1]); t = time.time(); c.execute("PRAGMA quick_check(1)").fetchall(); print("%.3f" % (time.time() - t))
PY
)
size=$(du -m whole.sqlite | cut -f1)
examples=$(python3 -c "import sqlite3; print(sqlite3.connect('whole.sqlite').execute('select count(*) from examples').fetchone()[0])")
python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$qc" "$size" "$examples" "${one[*]}" "${many[*]}" <<'PY'
import statistics, sys
t0, t1, t2, t3, t4, qc = map(float, sys.argv[1:7]); size, examples = sys.argv[7], sys.argv[8]
one = [float(x) for x in sys.argv[9].split()]; many = [float(x) for x in sys.argv[10].split()]
ratios = [m / o for o, m in zip(one, many)]
print(f"| what | value |\n|---|---|")
print(f"| examples in the store | {examples} ({size} MB) |")
print(f"| ingest + teacher, one store | {t1 - t0:.1f} s |")
print(f"| ingest + teacher, 4 shards one after another | {t2 - t1:.1f} s |")
print(f"| kd-merge of the 4 shards | {t3 - t2:.1f} s |")
print(f"| kd-merge rerun (up to date) | {t4 - t3:.2f} s |")
print(f"| loader, one store: median examples/s ({len(one)} runs) | {statistics.median(one):,.0f} |")
print(f"| loader, 4 shards read together: median examples/s | {statistics.median(many):,.0f} |")
print(f"| paired ratio shards/one: median (min-max) | {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")
print(f"| PRAGMA quick_check(1) on the one store (added to each writing stage's start) | {qc:.3f} s |")
PY
