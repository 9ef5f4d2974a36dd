#!/usr/bin/env python3
"""Issue 14 bar: mean cosine similarity of mean-pooled embeddings, domain encoder vs teacher.

Both folders are loaded with transformers (AutoModel: the encoder as a plain BertModel, the teacher as
whatever it is), each text of one split of a task is encoded by both, token states are mean-pooled over
the attention mask (sentence-transformers' pooling for all-MiniLM-L6-v2), and the cosine of the two
pooled vectors is averaged over the texts. Reads the kd store read-only.
  python3 cosine.py DB --task banking77 --encoder models/bank-enc [--teacher models/all-MiniLM-L6-v2]
        [--split test] [--max-tokens 128] [--limit 0] [--threads 2]
Prints one JSON line: task, split, examples, mean / median / p10 cosine, seconds.
"""
import argparse, json, sqlite3, statistics, time

import torch
from transformers import AutoModel, AutoTokenizer

p = argparse.ArgumentParser()
p.add_argument("db")
p.add_argument("--task", required=True)
p.add_argument("--encoder", required=True)
p.add_argument("--teacher", default="models/all-MiniLM-L6-v2")
p.add_argument("--split", default="test")
p.add_argument("--max-tokens", type=int, default=128)
p.add_argument("--limit", type=int, default=0)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch-size", type=int, default=64)
a = p.parse_args()
torch.set_num_threads(a.threads)

con = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
row = con.execute("SELECT id FROM tasks WHERE name = ?", (a.task,)).fetchone()
if row is None:
    raise SystemExit(f"{a.db}: no task {a.task!r}")
texts = [r[0] for r in con.execute(
    "SELECT text FROM examples WHERE task_id = ? AND split = ? AND duplicate_of IS NULL ORDER BY id", (row[0], a.split))]
if a.limit:
    texts = texts[: a.limit]
if not texts:
    raise SystemExit(f"{a.db}: task {a.task!r} has no {a.split} examples")

tok = AutoTokenizer.from_pretrained(a.teacher)
models = [AutoModel.from_pretrained(d).eval() for d in (a.teacher, a.encoder)]
widths = [m.config.hidden_size for m in models]
if widths[0] != widths[1]:
    raise SystemExit(f"{a.encoder}: hidden size {widths[1]} differs from the teacher's {widths[0]}; "
                     "the cosine bar compares embeddings of the same width (an --init teacher encoder)")


def pooled(model, batch):
    out = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(out.dtype)
    return (out * mask).sum(1) / mask.sum(1).clamp(min=1)


t0 = time.time()
cos = []
with torch.no_grad():
    for i in range(0, len(texts), a.batch_size):
        batch = tok(texts[i : i + a.batch_size], padding=True, truncation=True, max_length=a.max_tokens, return_tensors="pt")
        batch.pop("token_type_ids", None)
        t, s = (pooled(m, batch) for m in models)
        cos += torch.nn.functional.cosine_similarity(t, s, dim=1).tolist()
cos.sort()
print(json.dumps({"task": a.task, "split": a.split, "examples": len(cos), "max_tokens": a.max_tokens,
                  "mean_cosine": round(statistics.fmean(cos), 4), "median_cosine": round(statistics.median(cos), 4),
                  "p10_cosine": round(cos[len(cos) // 10], 4), "encoder": a.encoder, "teacher": a.teacher,
                  "seconds": round(time.time() - t0, 1)}))
