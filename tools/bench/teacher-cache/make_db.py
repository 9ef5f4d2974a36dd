#!/usr/bin/env python3
"""Builds a kd database for the teacher-cache benchmark without kd-ingest:
the medical abstracts corpus (5 classes) or banking77 (77 intents), split
80/10/10 by a hash of the row, tokenized with the teacher's tokenizer.json
exactly as kd-ingest stores it (special tokens, no truncation, no padding;
tokenizers.content_hash = FNV-1a 64 of the file's bytes).

usage: make_db.py {medical,banking77} TEACHER_DIR DB [--limit N]"""
import argparse
import csv
import glob
import hashlib
import os
import sqlite3
import struct

from tokenizers import Tokenizer

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
CORPORA = os.environ.get("KD_SHARED_CORPORA", os.path.join(ROOT, "..", "shared", "corpora"))


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def rows(corpus):
    if corpus == "medical":
        d = os.path.join(CORPORA, "medical", "medical_abstracts_tc")
        names = {r["condition_label"]: r["condition_name"] for r in csv.DictReader(open(f"{d}/medical_tc_labels.csv"))}
        for r in csv.DictReader(open(f"{d}/medical_tc_test.csv", newline="")):
            yield r["medical_abstract"], names[r["condition_label"]]
    else:
        d = os.path.join(CORPORA, "financial", "banking77")
        for f in ("train.csv", "test.csv"):
            for r in csv.DictReader(open(f"{d}/{f}", newline="")):
                yield r["text"], r["category"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("corpus", choices=["medical", "banking77"])
    p.add_argument("teacher")
    p.add_argument("db")
    p.add_argument("--limit", type=int)
    a = p.parse_args()
    tok_path = os.path.join(a.teacher, "tokenizer.json")
    tok_bytes = open(tok_path, "rb").read()
    tok = Tokenizer.from_str(tok_bytes.decode())
    tok.no_truncation()
    tok.no_padding()
    if os.path.exists(a.db):
        os.remove(a.db)
    con = sqlite3.connect(a.db)
    version = 0
    for path in sorted(glob.glob(os.path.join(ROOT, "schemas", "[0-9][0-9][0-9][0-9]_*.sql"))):
        con.executescript(open(path).read())
        version = int(os.path.basename(path)[:4])
    con.execute(f"PRAGMA user_version = {version}")
    con.execute("INSERT INTO tasks (id, name) VALUES (1, ?)", (a.corpus,))
    con.execute("INSERT INTO sources (id, root, path, content_hash, size, mtime, format, domain, task_id, status, ingested_at)"
                " VALUES (1, ?, ?, '0', 0, 0, 'csv', ?, 1, 'ok', '2026-01-01T00:00:00Z')", (CORPORA, a.corpus, a.corpus))
    con.execute("INSERT INTO tokenizers (id, name, content_hash, vocab_size, json, created_at) VALUES (1, ?, ?, ?, ?, '2026-01-01T00:00:00Z')",
                (os.path.basename(os.path.normpath(a.teacher)) + "/tokenizer.json", fnv1a64(tok_bytes), tok.get_vocab_size(), tok_bytes))
    labels = {}
    data = list(rows(a.corpus))
    if a.limit and a.limit < len(data):  # an even sample across the (label-sorted) files
        data = data[:: len(data) // a.limit][: a.limit]
    texts = [t for t, _ in data]
    encs = tok.encode_batch(texts)
    for i, ((text, label), enc) in enumerate(zip(data, encs)):
        if label not in labels:
            labels[label] = len(labels) + 1
            con.execute("INSERT INTO labels (id, task_id, name, position) VALUES (?, 1, ?, ?)", (labels[label], label, labels[label] - 1))
        u = int(hashlib.sha1(f"{a.corpus}:{i}".encode()).hexdigest()[:8], 16) / 2**32
        split = "train" if u < 0.8 else ("validation" if u < 0.9 else "test")
        con.execute("INSERT INTO documents (id, source_id, position, external_id, doc_key, domain, split) VALUES (?, 1, ?, ?, ?, ?, ?)",
                    (i + 1, i, f"row-{i + 1}", f"row-{i + 1}", a.corpus, split))
        con.execute("INSERT INTO examples (id, document_id, position, text, split, domain, task_id, text_hash) VALUES (?, ?, 0, ?, ?, ?, 1, ?)",
                    (i + 1, i + 1, text, split, a.corpus, fnv1a64(text.encode())))
        con.execute("INSERT INTO example_labels (example_id, label_id) VALUES (?, ?)", (i + 1, labels[label]))
        ids = enc.ids
        con.execute("INSERT INTO tokenizations (example_id, tokenizer_id, width, length, ids) VALUES (?, 1, 2, ?, ?)",
                    (i + 1, len(ids), struct.pack(f"<{len(ids)}H", *ids)))
    # Same rule as Store.refreshDuplicates: later copies of a text point at the first.
    con.execute("""WITH f AS (SELECT id, MIN(id) OVER (PARTITION BY task_id, text_hash, text) AS first FROM examples)
                   UPDATE examples SET duplicate_of = NULLIF(f.first, examples.id) FROM f WHERE f.id = examples.id""")
    con.commit()
    print(f"{a.db}: {len(data)} examples, {len(labels)} labels")


if __name__ == "__main__":
    main()
