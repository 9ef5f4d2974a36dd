#!/usr/bin/env bash
# Teacher-cache benchmark: kd-teacher-cache (native, release build) beside the
# PyTorch reference on the same examples, same token ids, same windows and the
# same fitted head; plus bytes per cached example for each storage mode.
#
#   KD_BIN=.build/release tools/bench/teacher-cache/run.sh [medical|banking77] [N]
#
# Needs: models/all-MiniLM-L6-v2 (make models), ../shared/corpora, python3 with
# torch + transformers + tokenizers + safetensors. Builds nothing itself.
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${KD_BIN:?set KD_BIN to the folder of release binaries, e.g. .build/release}"
corpus=${1:-medical}
n=${2:-500}
threads=${KD_THREADS:-2}
teacher=${KD_TEACHER:-models/all-MiniLM-L6-v2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/bench.sqlite
python3 tools/bench/teacher-cache/make_db.py "$corpus" "$teacher" "$db" --limit "$n" >&2

median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

# 1. Fit + cache (first run), then cache only (a second teacher reusing the
#    recorded head, so that only forward passes are timed), 3 times.
"$KD_BIN/kd-teacher-cache" --db "$db" --teacher "$teacher" --threads "$threads" --json --quiet > "$tmp/first.json"
ours=()
for i in 1 2 3; do
  "$KD_BIN/kd-teacher-cache" --db "$db" --teacher "$teacher" --threads "$threads" --name "rerun$i" --json --quiet > "$tmp/r$i.json"
  ours+=("$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["teachers"][0]; print(t["cached_now"]/t["seconds"])' "$tmp/r$i.json")")
done
mode=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("matmul", "fp32"))' "$tmp/r1.json")
# Where the default is AMX, also time OpenBLAS fp32 (--matmul fp32).
fp32=()
if [ "$mode" != fp32 ]; then
  for i in 1 2 3; do
    "$KD_BIN/kd-teacher-cache" --db "$db" --teacher "$teacher" --threads "$threads" --matmul fp32 --name "fp32-$i" --json --quiet > "$tmp/f$i.json"
    fp32+=("$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["teachers"][0]; print(t["cached_now"]/t["seconds"])' "$tmp/f$i.json")")
  done
fi
# The reused head means every example of the second teacher still needs a
# forward pass except those embedded for fitting in *this* process (none: the
# head was fitted by the first run), so rerun$i times pure caching.
refs=()
for i in 1 2 3; do
  python3 tools/bench/teacher-cache/reference.py "$db" "$teacher" rerun1 --threads "$threads" 2>/dev/null > "$tmp/ref$i.json"
  refs+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["examples_per_second"])' "$tmp/ref$i.json")")
done
ours_med=$(median "${ours[@]}")
ref_med=$(median "${refs[@]}")
fp32_med=$([ ${#fp32[@]} -gt 0 ] && median "${fp32[@]}" || echo 0)
python3 - "$tmp" "$ours_med" "$ref_med" "$corpus" "$n" "$threads" "$mode" "$fp32_med" <<'PY'
import json, sys
tmp, ours, ref, corpus, n, threads, mode, fp32 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:8], float(sys.argv[8])
first = json.load(open(f"{tmp}/first.json"))["teachers"][0]
r = json.load(open(f"{tmp}/ref1.json"))
print(f"## teacher-cache: all-MiniLM-L6-v2 on {corpus} ({first['cached_now']} examples, {first['windowed']} windowed at {256} tokens, {threads} threads)\n")
print("| | examples/s (median of 3) | ratio |")
print("|---|---|---|")
print(f"| kd-teacher-cache (default: {mode}) | {ours:.1f} | {ours / ref:.2f}x |")
if fp32 > 0:
    print(f"| kd-teacher-cache --matmul fp32 (OpenBLAS) | {fp32:.1f} | {fp32 / ref:.2f}x |")
print(f"| PyTorch reference (transformers) | {ref:.1f} | 1.00x |")
print(f"\nFirst run (fit a head on {json.load(open(f'{tmp}/first.json'))['teachers'][0]['num_outputs']}-class labels + cache): {first['seconds']:.1f} s.")
print(f"Parity of kd's cached logits ({mode}) with the reference: max |Δ logit| = {r['max_abs_logit_diff']:.2e}, argmax agreement {r['argmax_agreement'] * 100:.1f} %.")
PY

# 2. Bytes per cached example for each storage mode (measured in the DB).
echo
echo "| storage | bytes/example (logits) | with --embeddings |"
echo "|---|---|---|"
for s in f32 f16 topk; do
  k=""
  [ "$s" = topk ] && k="--top-k 3"
  b=$("$KD_BIN/kd-teacher-cache" --db "$db" --teacher "$teacher" --threads "$threads" --name "size-$s" --storage "$s" $k --limit 50 --json --quiet \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["teachers"][0]["bytes_per_example"])')
  e=$("$KD_BIN/kd-teacher-cache" --db "$db" --teacher "$teacher" --threads "$threads" --name "size-$s-emb" --storage "$s" $k --embeddings --limit 50 --json --quiet \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["teachers"][0]["bytes_per_example"])')
  echo "| $s${k:+ (k=3)} | $b | $e |"
done
