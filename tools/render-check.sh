#!/usr/bin/env bash
# Renders a kd report and checks that a real browser draws it.
#
#   tools/render-check.sh [DB] [OUT_DIR]
#
# DB       a kd database to report on. Default: build one in OUT_DIR by running
#          the pipeline on corpora/ (kd-ingest, then kd-teacher-cache and
#          kd-train --compare when they are built and the teacher is present).
# OUT_DIR  where report.html, report.png, dom.html and summary.json go
#          (default out/render-check).
#
# Binaries come from $KD_BIN (default .build/release, else .build/debug).
# Chromium (Debian's `chromium` package) is installed with apt-get when missing.
# Checks: the HTML is well-formed XML; headless Chromium parses it into the same
# sections and charts (--dump-dom); the screenshot is a real PNG, large, and
# not blank (enough non-white pixels and distinct colours).
# Exit 0 when every check passes, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "render-check: FAIL: $*" >&2; exit 1; }
info() { echo "render-check: $*" >&2; }

bin=${KD_BIN:-}
if [ -z "$bin" ]; then
  for d in .build/release .build/debug; do
    if [ -x "$d/kd-report" ]; then bin=$d; break; fi
  done
fi
[ -n "$bin" ] && [ -x "$bin/kd-report" ] || fail "kd-report is not built (run: swift build --product kd-report, or set KD_BIN)"

out=${2:-out/render-check}
mkdir -p "$out"
out=$(cd "$out" && pwd)
db=${1:-}

if [ -z "$db" ]; then
  db="$out/data.sqlite"
  rm -f "$db" "$db-wal" "$db-shm" "$db.lock"
  [ -x "$bin/kd-ingest" ] || fail "no DB given and $bin/kd-ingest is not built"
  info "building a DB from corpora/ with $bin"
  "$bin/kd-ingest" corpora --db "$db" --quiet || [ $? -eq 3 ] || fail "kd-ingest failed"
  # The labeled demo tasks (corpora/README.md); the others are unlabeled or too small to train.
  tasks=(--task abstract_topics --task banking_intents --task clause_fairness)
  if [ -x "$bin/kd-teacher-cache" ] && [ -f models/all-MiniLM-L6-v2/model.safetensors ]; then
    "$bin/kd-teacher-cache" --db "$db" "${tasks[@]}" --quiet \
      || info "kd-teacher-cache failed (exit $?); the report shows what exists"
    if [ -x "$bin/kd-train" ]; then
      "$bin/kd-train" --db "$db" "${tasks[@]}" --compare --epochs 8 --quiet \
        || info "kd-train failed (exit $?); the report shows what exists"
    fi
  else
    info "kd-teacher-cache or the teacher (make teacher) is missing: the report covers the ingested data only"
  fi
fi
[ -f "$db" ] || fail "no such database: $db"

html="$out/report.html"
"$bin/kd-report" --db "$db" --out "$html" --json > "$out/summary.json" || fail "kd-report exited $?"
info "report: $html ($(wc -c < "$html") bytes)"

# 1. Well-formed (the page is polyglot HTML/XML) and free of scripts.
python3 - "$html" <<'PY' || fail "the HTML is not well-formed"
import sys, xml.etree.ElementTree as ET
text = open(sys.argv[1], encoding="utf-8").read()
ET.fromstring(text.split("\n", 1)[1])  # after <!DOCTYPE html>
assert "<script" not in text.lower(), "the page contains a script element"
PY

# 2. A browser: Debian's chromium, installed when missing.
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  info "installing chromium with apt-get"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  browser=$(command -v chromium) || fail "chromium did not install"
fi
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-extensions
       --user-data-dir="$out/.chromium-profile")
png="$out/report.png"
rm -f "$png"
timeout 180 "$browser" "${flags[@]}" --screenshot="$png" --window-size=1280,4000 "file://$html" \
  > "$out/chromium.log" 2>&1 || fail "chromium --screenshot failed (see $out/chromium.log)"
timeout 180 "$browser" "${flags[@]}" --dump-dom "file://$html" > "$out/dom.html" 2>> "$out/chromium.log" \
  || fail "chromium --dump-dom failed (see $out/chromium.log)"

# 3. The browser's DOM holds every section and chart; the screenshot is not blank.
python3 - "$html" "$out/dom.html" "$png" "$out/summary.json" <<'PY' || fail "browser checks failed"
import sys, re, json, zlib, struct
html, dom, png, summary = sys.argv[1:5]
src = open(html, encoding="utf-8").read()
got = open(dom, encoding="utf-8").read()
ids = json.load(open(summary))["sections"] + json.load(open(summary))["empty_sections"]
missing = [i for i in ids if f'id="{i}"' not in got]
assert not missing, f"sections missing from the browser DOM: {missing}"
n_src, n_dom = src.count("<svg"), got.count("<svg")
assert n_src == n_dom and n_src > 0, f"charts: {n_src} in the file, {n_dom} in the browser DOM"

data = open(png, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
assert len(data) > 40_000, f"PNG too small ({len(data)} bytes)"

def pixels_with_pillow(path):
    from PIL import Image
    im = Image.open(path).convert("RGB")
    w, h = im.size
    px = im.load()
    return w, h, [px[x, y] for y in range(0, h, 4) for x in range(0, w, 4)]

def pixels_by_hand(data, max_rows=1600):
    """Decodes an 8-bit RGB/RGBA PNG with the standard library (the first max_rows rows: pure Python is slow)."""
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), f"unexpected PNG format {depth}/{ctype}"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride, prev, out = w * bpp, bytearray(w * bpp), []
    for y in range(min(h, max_rows)):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 2:
            line = bytearray((x + p) & 255 for x, p in zip(line, prev))
        elif f != 0:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                if f == 1: line[i] = (line[i] + a) & 255
                elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
                elif f == 4:
                    p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        if y % 4 == 0:
            out.extend(tuple(line[x * bpp:x * bpp + 3]) for x in range(0, w, 4))
    return w, h, out

try:
    w, h, sample = pixels_with_pillow(png)
except ImportError:
    w, h, sample = pixels_by_hand(data)
colors = set(sample)
ink, total = sum(1 for px in sample if sum(px) < 720), len(sample)
share = ink / max(1, total)
print(f"render-check: screenshot {w}x{h}, {len(data)} bytes, {share:.1%} non-white, {len(colors)} colours; "
      f"{n_dom} charts and {len(ids)} sections in the browser DOM")
assert share > 0.03, "the screenshot is (almost) blank"
assert len(colors) > 40, "the screenshot has too few colours to hold charts"
PY
info "OK: $png"
