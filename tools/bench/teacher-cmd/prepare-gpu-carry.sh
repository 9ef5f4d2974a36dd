#!/usr/bin/env bash
# Builds the folder gpu.sh needs on a GPU machine without Swift or internet:
#   CARRY/bin/kd-teacher-cache   release build, Swift runtime linked in (--static-swift-stdlib), stripped
#   CARRY/lib/*.so*              the shared libraries it needs beyond glibc (from ldd: OpenBLAS,
#                                gfortran, SQLite, libxml2, zlib, ...), run with LD_LIBRARY_PATH
#   CARRY/stores/{banking77,medical}.sqlite   the two corpora, tokenized with all-MiniLM-L6-v2's
#                                tokenizer.json (tools/bench/teacher-cache/make_db.py)
#   CARRY/tokenizer/             that tokenizer (copied into the random BERT-base models on the GPU machine)
# Then it checks that the carried binary runs from CARRY alone: `env -i` with
# only LD_LIBRARY_PATH, against a store, with a simulated teacher.
#
#   tools/bench/teacher-cmd/prepare-gpu-carry.sh [CARRY]      (default .gpu-carry, git-ignored; < 60 MB)
#
# Needs: swift, python3 with `tokenizers`, models/all-MiniLM-L6-v2, ../shared/corpora.
set -euo pipefail
cd "$(dirname "$0")/../../.."
carry=${1:-.gpu-carry}
case "$carry" in /*) ;; *) carry="$PWD/$carry" ;; esac
teacher=${KD_TEACHER:-models/all-MiniLM-L6-v2}
rm -rf "$carry"
mkdir -p "$carry/bin" "$carry/lib" "$carry/stores" "$carry/tokenizer"

echo "== release build (static Swift runtime)" >&2
swift build -c release --static-swift-stdlib -j "$(nproc)" --product kd-teacher-cache >&2
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
cp "$bin/kd-teacher-cache" "$carry/bin/"
strip "$carry/bin/kd-teacher-cache" 2>/dev/null || true

echo "== shared libraries (ldd), glibc's own left out" >&2
ldd "$carry/bin/kd-teacher-cache" | awk '/=> \// {print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libresolv.so*|libutil.so*) continue ;;
  esac
  cp -L "$lib" "$carry/lib/"
done
ls -la "$carry/lib" >&2

echo "== stores" >&2
python3 tools/bench/teacher-cache/make_db.py banking77 "$teacher" "$carry/stores/banking77.sqlite" >&2
python3 tools/bench/teacher-cache/make_db.py medical "$teacher" "$carry/stores/medical.sqlite" >&2
for db in "$carry"/stores/*.sqlite; do sqlite3 "$db" "PRAGMA journal_mode=DELETE; VACUUM;" >/dev/null 2>&1 || true; done
for f in tokenizer.json vocab.txt tokenizer_config.json special_tokens_map.json; do
  [ -f "$teacher/$f" ] && cp "$teacher/$f" "$carry/tokenizer/"
done

echo "== check: the carried binary from CARRY alone (env -i, LD_LIBRARY_PATH only)" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
env -i LD_LIBRARY_PATH="$carry/lib" "$carry/bin/kd-teacher-cache" --help > "$tmp/help.txt"
grep -q -- "--teacher-cmd" "$tmp/help.txt"
cp "$carry/stores/medical.sqlite" "$tmp/m.sqlite"
env -i LD_LIBRARY_PATH="$carry/lib" PATH=/usr/bin:/bin HOME="$tmp" "$carry/bin/kd-teacher-cache" --db "$tmp/m.sqlite" \
  --teacher-cmd "$(command -v python3) $PWD/tools/bench/teacher-cmd/sim_teacher.py --ms-per-256 1 --stats $tmp/s.json" \
  --limit 300 --batch-size 64 --json --quiet > "$tmp/run.json"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["status"]=="ok" and s["teachers"][0]["cached_now"]==300, s; print("carried binary: ok, 300 examples cached")' "$tmp/run.json" >&2
# Only glibc's libraries come from the system:
env -i LD_LIBRARY_PATH="$carry/lib" ldd "$carry/bin/kd-teacher-cache" | grep -v "$carry/lib" | grep "=>" >&2 || true
du -sh "$carry" >&2
total=$(du -sm "$carry" | cut -f1)
[ "$total" -lt 60 ] || { echo "$carry is $total MB (over 60 MB)" >&2; exit 1; }
echo "$carry ready ($total MB)" >&2
