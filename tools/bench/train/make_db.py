#!/usr/bin/env python3
"""Build a synthetic kd store for the training benchmarks.

Shaped like the pipeline's output (schemas/*.sql applied in order): one task
with C classes, N examples split 80/10/10, uint16 token ids of 8..48 tokens
(vocab 30522), class-dependent tokens, and one teacher with f32 logits.

    python3 tools/bench/train/make_db.py OUT.sqlite --examples 200000 --classes 77
"""
import argparse, glob, os, random, sqlite3, struct, time

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--examples", type=int, default=200000)
ap.add_argument("--classes", type=int, default=77)
ap.add_argument("--vocab", type=int, default=30522)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()

root = os.path.dirname(os.path.abspath(__file__)) + "/../../.."
if os.path.exists(a.out):
    os.remove(a.out)
db = sqlite3.connect(a.out, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
version = 0
for path in sorted(glob.glob(root + "/schemas/[0-9]*.sql")):
    db.executescript(open(path).read())
    version = int(os.path.basename(path).split("_")[0])
db.execute(f"PRAGMA user_version = {version}")
rng = random.Random(a.seed)
now = "2026-01-01T00:00:00Z"
db.execute("INSERT INTO tasks (id, name) VALUES (1, 'bench')")
db.executemany("INSERT INTO labels (task_id, name, position) VALUES (1, ?, ?)",
               [(f"class{c}", c) for c in range(a.classes)])
db.execute("INSERT INTO tokenizers (id, name, content_hash, vocab_size, json, created_at) VALUES (1, 'bench', 'bench', ?, ?, ?)",
           (a.vocab, b'{"bench": true}', now))
db.execute("INSERT INTO teachers (id, name, kind, task_id, tokenizer_id, storage, num_outputs, created_at) "
           "VALUES (1, 'bench-teacher', 'external', 1, 1, 'f32', ?, ?)", (a.classes, now))
db.execute("INSERT INTO sources (id, root, path, content_hash, size, mtime, format, domain, task_id, status, ingested_at) "
           "VALUES (1, '/bench', 'bench.csv', '0', 0, 0, 'csv', 'bench', 1, 'ok', ?)", (now,))
t0 = time.time()
db.execute("BEGIN")
for i in range(1, a.examples + 1):
    split = "train" if i % 10 < 8 else ("validation" if i % 10 == 8 else "test")
    label = rng.randrange(a.classes)
    n = rng.randint(8, 48)
    ids = [101] + [(label * 37 + rng.randrange(40)) % a.vocab if rng.random() < 0.4 else rng.randrange(1000, a.vocab)
                   for _ in range(n)] + [102]
    logits = [rng.gauss(0, 1) for _ in range(a.classes)]
    logits[label] += 3
    db.execute("INSERT INTO documents (id, source_id, position, doc_key, domain, split) VALUES (?, 1, ?, ?, 'bench', ?)",
               (i, i, f"d{i}", split))
    db.execute("INSERT INTO examples (id, document_id, position, text, split, domain, task_id, text_hash) "
               "VALUES (?, ?, 0, '', ?, 'bench', 1, ?)", (i, i, split, f"{i:016x}"))
    db.execute("INSERT INTO example_labels (example_id, label_id) VALUES (?, ?)", (i, label + 1))
    db.execute("INSERT INTO tokenizations (example_id, tokenizer_id, width, length, ids) VALUES (?, 1, 2, ?, ?)",
               (i, len(ids), struct.pack(f"<{len(ids)}H", *ids)))
    db.execute("INSERT INTO teacher_outputs (example_id, teacher_id, logits) VALUES (?, 1, ?)",
               (i, struct.pack(f"<{a.classes}f", *logits)))
    if i % 50000 == 0:
        db.execute("COMMIT")
        db.execute("BEGIN")
db.execute("COMMIT")
db.close()
print(f"{a.out}: {a.examples} examples, {a.classes} classes in {time.time() - t0:.1f}s")
