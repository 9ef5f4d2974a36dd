#!/usr/bin/env python3
"""Reference point for the loader: Python's sqlite3 reading the same rows
(ids, label, token blob, teacher blob) and decoding them with numpy, no
shuffling. Prints one JSON object.

    python3 tools/bench/train/loader_python.py DB --task bench
"""
import argparse, json, sqlite3, time
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("db")
ap.add_argument("--task", required=True)
a = ap.parse_args()
db = sqlite3.connect(a.db)
task_id, = db.execute("SELECT id FROM tasks WHERE name = ?", (a.task,)).fetchone()
teacher_id, = db.execute("SELECT id FROM teachers WHERE task_id = ? ORDER BY name LIMIT 1", (task_id,)).fetchone()
t0 = time.perf_counter()
c0 = time.process_time()
n = 0
for _, label, width, blob, logits in db.execute("""
  SELECT e.id, (SELECT l.position FROM example_labels el JOIN labels l ON l.id = el.label_id
                WHERE el.example_id = e.id AND l.task_id = ?1 LIMIT 1), t.width, t.ids, o.logits
  FROM examples e JOIN tokenizations t ON t.example_id = e.id
  LEFT JOIN teacher_outputs o ON o.example_id = e.id AND o.teacher_id = ?2
  WHERE e.task_id = ?1 AND e.split = 'train' AND e.duplicate_of IS NULL""", (task_id, teacher_id)):
    ids = np.frombuffer(blob, dtype="<u2" if width == 2 else "<u4")
    z = np.frombuffer(logits, dtype="<f4")
    p = np.exp(z - z.max()); p /= p.sum()
    n += 1
sec = time.perf_counter() - t0
cpu = time.process_time() - c0
print(json.dumps({"examples": n, "seconds": sec, "examples_per_s": n / sec, "examples_per_cpu_s": n / cpu}))
