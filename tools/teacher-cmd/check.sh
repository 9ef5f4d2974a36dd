#!/usr/bin/env bash
# End-to-end check of the reference external teacher: a tiny random BERT
# classifier (made here in seconds, offline) serves kd-teacher-cache through
# hf_teacher.py on a small DB; every protocol line is validated against
# schemas/teacher-protocol.schema.json when the `jsonschema` module exists.
# Needs python3 with torch + transformers, and built binaries in $KD_BIN
# (default .build/debug). Usage: tools/teacher-cmd/check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
KD_BIN=${KD_BIN:-.build/debug}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 tools/teacher-cmd/make_tiny_checkpoint.py "$tmp/tiny" >/dev/null 2>&1
python3 tools/teacher-cmd/make_test_db.py "$tmp/db.sqlite" >/dev/null

# Record both directions of the conversation for schema validation.
cat > "$tmp/tee-teacher.sh" <<SH
#!/usr/bin/env bash
tee -a "$tmp/to-teacher.jsonl" | python3 tools/teacher-cmd/hf_teacher.py "$tmp/tiny" 2>"$tmp/teacher.err" | tee -a "$tmp/from-teacher.jsonl"
SH
chmod +x "$tmp/tee-teacher.sh"

echo "== first run"
"$KD_BIN/kd-teacher-cache" --db "$tmp/db.sqlite" --teacher-cmd "$tmp/tee-teacher.sh" --embeddings --json --quiet > "$tmp/summary.json"
python3 - "$tmp/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["teachers"][0]
assert s["status"] == "ok", s
assert t["cached_now"] == 7 and t["kind"] == "external" and t["embedding_dim"] == 32, t
print(f"cached {t['cached_now']} examples, {t['bytes_per_example']:.0f} bytes/example ({t['storage']} + f16 embedding)")
PY
echo "== second run (incremental: nothing to do)"
"$KD_BIN/kd-teacher-cache" --db "$tmp/db.sqlite" --teacher-cmd "$tmp/tee-teacher.sh" --embeddings --json --quiet \
  | python3 -c 'import json,sys; t=json.load(sys.stdin)["teachers"][0]; assert t["cached_now"]==0 and t["already_cached"]==7, t; print("ok")'
echo "== dump"
"$KD_BIN/kd-teacher-cache" dump --db "$tmp/db.sqlite" --limit 2
echo "== protocol lines against the schema"
python3 - "$tmp" <<'PY'
import json, sys
try:
    import jsonschema
except ImportError:
    print("jsonschema not installed: schema validation skipped"); sys.exit(0)
schema = json.load(open("schemas/teacher-protocol.schema.json"))
n = 0
for name in ("to-teacher.jsonl", "from-teacher.jsonl"):
    for line in open(f"{sys.argv[1]}/{name}"):
        jsonschema.validate(json.loads(line), schema)
        n += 1
print(f"{n} lines valid")
PY
