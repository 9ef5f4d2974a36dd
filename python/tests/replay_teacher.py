#!/usr/bin/env python3
"""An external teacher (kd's JSON-lines protocol) that answers with another teacher's cached logits.

    kd-teacher-cache --teacher-cmd "python3 replay_teacher.py DB SOURCE_TEACHER" --name NAME --storage f16

The tests cache the real all-MiniLM-L6-v2 logits once (f32), then store the same
values again as f16 and top-k teachers through kd's own codec, without running
the encoder twice more.
"""
import json
import sqlite3
import struct
import sys

db, source = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
hello = json.loads(sys.stdin.readline())
teacher_id, n = conn.execute("SELECT id, num_outputs FROM teachers WHERE name = ?", (source,)).fetchone()
assert n == len(hello["labels"]), (n, hello["labels"])
print(json.dumps({"kd_protocol": 1, "name": "replay", "num_outputs": n}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    row = conn.execute("SELECT logits FROM teacher_outputs WHERE teacher_id = ? AND example_id = ?",
                       (teacher_id, req["id"])).fetchone()
    if row is None:
        print(json.dumps({"id": req["id"], "error": "no cached output to replay"}), flush=True)
        continue
    print(json.dumps({"id": req["id"], "logits": list(struct.unpack(f"<{n}f", row[0]))}), flush=True)
