#!/usr/bin/env python3
"""Dev fallback: fill `tokenizations` for every example of a kd store with the
HF `tokenizers` library (special tokens, no truncation, no padding), and
register the tokenizer the way kd-teacher-cache identifies it (FNV-1a 64 of the
file bytes). Used only while KDTokenizers was not merged; kd-ingest
--tokenizer does the same natively.

    python3 tools/train/tokenize_store.py DB models/all-MiniLM-L6-v2/tokenizer.json
"""
import datetime, os, sqlite3, struct, sys
from tokenizers import Tokenizer

db_path, tok_path = sys.argv[1], sys.argv[2]
data = open(tok_path, "rb").read()
h = 0xCBF29CE484222325
for b in data:
    h ^= b
    h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
content_hash = f"{h:016x}"
tok = Tokenizer.from_file(tok_path)
tok.no_truncation()
tok.no_padding()
vocab = tok.get_vocab_size()
name = os.path.basename(os.path.dirname(os.path.abspath(tok_path))) + "/" + os.path.basename(tok_path)
db = sqlite3.connect(db_path, isolation_level=None)
row = db.execute("SELECT id FROM tokenizers WHERE content_hash = ?", (content_hash,)).fetchone()
if row:
    tid = row[0]
else:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    db.execute("INSERT INTO tokenizers (name, content_hash, vocab_size, json, created_at) VALUES (?,?,?,?,?)",
               (name, content_hash, vocab, data, now))
    tid = db.execute("SELECT last_insert_rowid()").fetchone()[0]
rows = db.execute("SELECT e.id, e.text FROM examples e WHERE NOT EXISTS "
                  "(SELECT 1 FROM tokenizations t WHERE t.example_id = e.id AND t.tokenizer_id = ?)", (tid,)).fetchall()
width = 2 if vocab <= 65536 else 4
db.execute("BEGIN")
for i in range(0, len(rows), 2048):
    chunk = rows[i:i + 2048]
    encs = tok.encode_batch([t for _, t in chunk])
    db.executemany("INSERT OR REPLACE INTO tokenizations (example_id, tokenizer_id, width, length, ids) VALUES (?,?,?,?,?)",
                   [(eid, tid, width, len(e.ids), struct.pack(f"<{len(e.ids)}{'H' if width == 2 else 'I'}", *e.ids))
                    for (eid, _), e in zip(chunk, encs)])
db.execute("COMMIT")
print(f"{db_path}: tokenized {len(rows)} examples with {name} ({content_hash}, vocab {vocab})")
