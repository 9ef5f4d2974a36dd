#!/usr/bin/env bash
# Runs every benchmark (tools/bench/*/run.sh) with the release binaries in
# $KD_BIN and prints their markdown tables. `make bench` calls this; the
# numbers in BENCHMARKS.md come from it. Reference tools (HF tokenizers,
# datasets, transformers, torch, onnxruntime, lxml) are pip-installed into a
# user site when missing: they are development tools, never product deps.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export KD_BIN=${KD_BIN:-$(cd "$here/../.." && pwd)/.build/release}
py=$(command -v python3)
need=()
for mod in tokenizers:tokenizers datasets:datasets transformers:transformers lxml:lxml onnxruntime:onnxruntime onnx:onnx torch:torch; do
  m=${mod%%:*}; pkg=${mod##*:}
  "$py" -c "import $m" 2>/dev/null || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing reference tools: ${need[*]}" >&2
  "$py" -m pip install --quiet "${need[@]}" || true
fi
status=0
for b in ingest tokenizers readers teacher teacher-cache teacher-cmd train python-reader shards; do
  script="$here/$b/run.sh"
  [ -x "$script" ] || continue
  echo
  echo "## $b"
  echo
  "$script" || { echo "(benchmark $b failed)"; status=1; }
done
exit $status
