#!/usr/bin/env python3
"""Creates a small kd database (schema from schemas/*.sql) with one task
`sentiment` (neg, pos) and a few labeled examples, without kd-ingest:
for checking external teachers end to end.  Usage: make_test_db.py DB"""
import glob
import os
import sqlite3
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
db = sys.argv[1]
if os.path.exists(db):
    os.remove(db)
con = sqlite3.connect(db)
version = 0
for path in sorted(glob.glob(os.path.join(root, "schemas", "[0-9][0-9][0-9][0-9]_*.sql"))):
    con.executescript(open(path).read())
    version = int(os.path.basename(path)[:4])
con.execute(f"PRAGMA user_version = {version}")
con.execute("INSERT INTO tasks (id, name) VALUES (1, 'sentiment')")
con.execute("INSERT INTO labels (id, task_id, name, position) VALUES (1, 1, 'neg', 0), (2, 1, 'pos', 1)")
con.execute("INSERT INTO sources (id, root, path, content_hash, size, mtime, format, domain, task_id, status, ingested_at)"
            " VALUES (1, '/tmp', 'reviews.txt', '0', 0, 0, 'lines', 'reviews', 1, 'ok', '2026-01-01T00:00:00Z')")
texts = [("the movie was great", "pos"), ("the food was awful", "neg"), ("very good", "pos"),
         ("not good", "neg"), ("a fine movie", "pos"), ("poor food", "neg"), ("the movie is bad " * 40, "neg")]
for i, (t, label) in enumerate(texts):
    split = "validation" if i == 4 else "train"
    con.execute("INSERT INTO documents (id, source_id, position, external_id, doc_key, domain, split)"
                " VALUES (?, 1, ?, ?, ?, 'reviews', ?)", (i + 1, i, f"review-{i}", f"k{i}", split))
    con.execute("INSERT INTO examples (id, document_id, position, text, split, domain, task_id, text_hash)"
                " VALUES (?, ?, 0, ?, ?, 'reviews', 1, ?)", (i + 1, i + 1, t, split, f"{i:016x}"))
    con.execute("INSERT INTO example_labels (example_id, label_id) VALUES (?, ?)", (i + 1, 1 if label == "neg" else 2))
con.commit()
print(db)
