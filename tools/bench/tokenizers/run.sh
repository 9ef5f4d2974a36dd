#!/usr/bin/env bash
# Tokenizer throughput: kd (Swift, `kd-tokenize --benchmark`) vs HF tokenizers (Rust, Python encode_batch),
# same input, same run, 1 and 2 threads. Builds nothing: KD_BIN must hold release binaries.
# Usage: KD_BIN=.build/release tools/bench/tokenizers/run.sh [MB=8] [ROUNDS=5]
set -euo pipefail
: "${KD_BIN:?set KD_BIN to the folder with release binaries, e.g. .build/release}"
MB="${1:-8}"; ROUNDS="${2:-5}"
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(cd "$HERE/../../.." && pwd)"
CORPORA="${KD_CORPORA:-$ROOT/../shared/corpora}"
INPUT="$(mktemp)"; trap 'rm -f "$INPUT"' EXIT
python3 "$HERE/make_input.py" --corpora "$CORPORA" --mb "$MB" "$INPUT"
declare -a NAMES=(); declare -a PATHS=()
if [ -f "$ROOT/models/all-MiniLM-L6-v2/tokenizer.json" ]; then NAMES+=("WordPiece (all-MiniLM-L6-v2)"); PATHS+=("$ROOT/models/all-MiniLM-L6-v2/tokenizer.json"); fi
NAMES+=("WordPiece cased 8k" "byte-level BPE 8k" "Unigram+Metaspace 8k")
PATHS+=("$ROOT/Tests/KDTokenizersTests/Resources/wordpiece-cased.json" "$ROOT/Tests/KDTokenizersTests/Resources/bpe-bytelevel.json" "$ROOT/Tests/KDTokenizersTests/Resources/unigram-metaspace.json")
echo "input: $(wc -c < "$INPUT") bytes, $(wc -l < "$INPUT") lines of ../shared/corpora text; median of $ROUNDS rounds; $(nproc) cores"
echo
echo "| tokenizer | threads | kd MB/s | kd Mtok/s | HF MB/s | HF Mtok/s | kd / HF |"
echo "|---|---|---|---|---|---|---|"
for i in "${!NAMES[@]}"; do
  for T in 1 2; do
    KD=$("$KD_BIN/kd-tokenize" --tokenizer "${PATHS[$i]}" --benchmark "$ROUNDS" --threads "$T" < "$INPUT")
    HF=$(RAYON_NUM_THREADS=$T TOKENIZERS_PARALLELISM=true python3 "$HERE/bench_hf.py" "${PATHS[$i]}" "$INPUT" "$ROUNDS")
    python3 - "$KD" "$HF" "${NAMES[$i]}" "$T" <<'PY'
import json, sys
kd, hf, name, t = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
assert kd["tokens"] == hf["tokens"], f"token counts differ: kd {kd['tokens']} HF {hf['tokens']}"
mb = lambda r: r["bytes"] / r["median_s"] / 1e6
tk = lambda r: r["tokens"] / r["median_s"] / 1e6
print(f"| {name} | {t} | {mb(kd):.2f} | {tk(kd):.2f} | {mb(hf):.2f} | {tk(hf):.2f} | {hf['median_s'] / kd['median_s']:.2f}x |")
PY
  done
done
echo
for i in "${!NAMES[@]}"; do
  "$KD_BIN/kd-tokenize" --tokenizer "${PATHS[$i]}" --benchmark 1 < /dev/null | python3 -c "import json,sys; r=json.load(sys.stdin); print(f'- ${NAMES[$i]}: tokenizer structures ~{r[\"memory_bytes\"]/1e6:.1f} MB')"
done
