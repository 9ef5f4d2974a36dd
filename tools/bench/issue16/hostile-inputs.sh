#!/usr/bin/env bash
# Issue 16: peak memory and time of kd-ingest on hostile inputs, for one or
# more builds.   tools/bench/issue16/hostile-inputs.sh BIN_DIR [BIN_DIR...]
#   - one 400 MB line in a ~400 KB .jsonl.gz (with one good row before it)
#   - 200,000 attributes on one element of a 2.3 MB USLM file
#   - CRLF JSON lines (3 rows): examples stored
# Prints one row per (build, input): peak RSS (MB), wall and CPU seconds, exit code.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BIN_DIR [BIN_DIR...]" >&2; exit 64; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import gzip, os, sys
w = sys.argv[1]
os.makedirs(f"{w}/longline/m/t"); os.makedirs(f"{w}/attrs/legal/laws"); os.makedirs(f"{w}/crlf/m/t")
with gzip.open(f"{w}/longline/m/t/huge.jsonl.gz", "wb", compresslevel=9) as f:
    f.write(b'{"text": "fine"}\n{"text": "')
    block = b"a" * (1 << 20)
    for _ in range(400): f.write(block)
    f.write(b'"}\n')
attrs = " ".join(f'a{i}="v"' for i in range(200000))
open(f"{w}/attrs/legal/laws/attrs.xml", "w").write(
    f'<?xml version="1.0"?>\n<pLaw xmlns="http://schemas.gpo.gov/xml/uslm"><main><section identifier="/s1" {attrs}>'
    '<num value="1">SEC. 1.</num><heading>Title.</heading><content>Some text here.</content></section></main></pLaw>\n')
open(f"{w}/crlf/m/t/rows.jsonl", "wb").write(b'{"text": "one"}\r\n{"text": "two"}\r\n{"text": "three"}\r\n')
PY
printf "%-40s %-9s %10s %8s %8s %5s %s\n" build input peak_MB wall_s cpu_s exit examples
for bin in "$@"; do
  for input in longline attrs crlf; do
    db="$work/$input-$RANDOM.sqlite"
    set +e
    /usr/bin/time -f "%M %e %U %S" -o "$work/time" "$bin/kd-ingest" "$work/$input" --db "$db" --tokenizer none -q >/dev/null 2>&1
    code=$?
    set -e
    read -r kb wall user sys < <(tail -n 1 "$work/time")   # GNU time prefixes "Command exited with non-zero status N"
    examples=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from examples').fetchone()[0])" "$db" 2>/dev/null || echo "-")
    printf "%-40s %-9s %10.0f %8.1f %8.1f %5s %s\n" "$bin" "$input" "$(echo "$kb/1024" | bc -l)" "$wall" "$(echo "$user+$sys" | bc -l)" "$code" "$examples"
  done
done
echo "input sizes: $(du -h "$work/longline/m/t/huge.jsonl.gz" | cut -f1) (.jsonl.gz), $(du -h "$work/attrs/legal/laws/attrs.xml" | cut -f1) (.xml)"
