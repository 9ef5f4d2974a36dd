#!/usr/bin/env bash
# External-teacher benchmark (issue 15, part 7): kd-teacher-cache --teacher-cmd
# with a simulated GPU teacher (sim_teacher.py: sleeps MS milliseconds per 256
# examples, pipelined like a real GPU teacher) on banking77, 77 labels.
#
#   KD_BIN=.build/release tools/bench/teacher-cmd/run.sh [MS_PER_256] [BATCH]
#
# Bars: the teacher is >= 90% busy (device seconds / span from its first
# request to its last answer), and kd adds <= 5% per example on top of the
# teacher's own time: the slope of kd's seconds over examples (runs of N1 and
# N2 examples, --limit) divided by the teacher's device seconds per example.
# Medians of 3 runs per setting. Needs ../shared/corpora, models/all-MiniLM-L6-v2
# (tokenizer.json only) and python3 with `tokenizers`.
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${KD_BIN:?set KD_BIN to the folder of release binaries, e.g. .build/release}"
ms=${1:-20}
batch=${2:-256}
n1=${KD_BENCH_N1:-2000}
teacher=${KD_TEACHER:-models/all-MiniLM-L6-v2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 tools/bench/teacher-cache/make_db.py banking77 "$teacher" "$tmp/base.sqlite" >&2
sim="python3 tools/bench/teacher-cmd/sim_teacher.py --ms-per-256 $ms"

# one RUN_NAME LIMIT WINDOW [sim flags...]: prints kd_seconds examples device_seconds busy
one() {
  local name=$1 limit=$2 window=$3; shift 3
  cp "$tmp/base.sqlite" "$tmp/$name.sqlite"
  local lim=()
  [ "$limit" != all ] && lim=(--limit "$limit")
  "$KD_BIN/kd-teacher-cache" --db "$tmp/$name.sqlite" --teacher-cmd "$sim --stats $tmp/$name.stats $*" \
    --batch-size "$batch" --window "$window" "${lim[@]}" --json --quiet > "$tmp/$name.json"
  python3 - "$tmp/$name.json" "$tmp/$name.stats" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["teachers"][0]
s = json.load(open(sys.argv[2]))
print(t["seconds"], t["cached_now"], s["device_seconds"], s["busy"])
PY
}

python3 - "$ms" "$batch" "$n1" <<'PY' > "$tmp/plan"
import sys
ms, batch, n1 = sys.argv[1:]
# label | window | sim flags
print("window 4, token ids, base64 logits|4|")
print("window 4, token ids, JSON logits|4|--json-logits")
print("window 4, text, JSON logits|4|--text --json-logits")
print("window 1 (one batch at a time), token ids, base64|1|")
PY

rows=()
while IFS='|' read -r label window flags; do
  full=() small=()
  for i in 1 2 3; do
    full+=("$(one "f$i-$window" all "$window" $flags)")
    small+=("$(one "s$i-$window" "$n1" "$window" $flags)")
  done
  rows+=("$(python3 - "$label" "${full[@]}" -- "${small[@]}" <<'PY'
import statistics, sys
label = sys.argv[1]
args = sys.argv[2:]
cut = args.index("--")
full = [list(map(float, a.split())) for a in args[:cut]]
small = [list(map(float, a.split())) for a in args[cut + 1:]]
med = lambda xs: statistics.median(xs)
kd_full, n_full, dev_full, busy = (med([r[i] for r in full]) for i in range(4))
kd_small, n_small, dev_small = (med([r[i] for r in small]) for i in range(3))
slope_kd = (kd_full - kd_small) / (n_full - n_small)
slope_dev = (dev_full - dev_small) / (n_full - n_small)
print(f"| {label} | {int(n_full)} | {n_full / kd_full:,.0f} | {n_full / dev_full:,.0f} | {busy * 100:.1f}% | "
      f"{(slope_kd / slope_dev - 1) * 100:+.1f}% | {kd_full - n_full * slope_kd:.2f} s |")
PY
)")
done < "$tmp/plan"

echo "### kd-teacher-cache --teacher-cmd, simulated GPU teacher ($ms ms per 256 examples, batch $batch, banking77)"
echo
echo "| setting | examples | kd ex/s end to end | teacher's own ex/s | teacher busy | kd per-example overhead | kd fixed cost |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "Medians of 3 runs. Busy: the teacher's device seconds / the span from its first request to its last answer (bar >= 90%)."
echo "Overhead: the slope of kd's seconds over examples (runs of all and of $n1 examples) / the teacher's device seconds per example, minus 1 (bar <= 5%)."
echo "Fixed cost: kd's seconds minus examples x slope (teacher start-up, handshake, store queries)."
