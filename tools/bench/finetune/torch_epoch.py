#!/usr/bin/env python3
"""One epoch of teacher fine-tuning in PyTorch CPU: the reference for `kd-train teacher`.

Reads the same labelled training rows as kd (task, train split, single label, no
duplicates) from a kd database, tokenizes with the teacher's tokenizer (truncated to
--max-tokens, padded per batch), and trains transformers' BertForSequenceClassification
from the same folder for one epoch: AdamW, linear warmup 10% then decay, clip 1.0,
the same batch size and seed. Prints a JSON line: examples, seconds, examples/s,
CPU seconds, mean train loss.
  python3 torch_epoch.py DB --task medical_abstracts_tc --teacher models/all-MiniLM-L6-v2 --max-tokens 256 --threads 2
"""
import argparse, json, os, random, resource, sqlite3, time

ap = argparse.ArgumentParser()
ap.add_argument("db")
ap.add_argument("--task", required=True)
ap.add_argument("--teacher", default="models/all-MiniLM-L6-v2")
ap.add_argument("--max-tokens", type=int, default=256)
ap.add_argument("--batch-size", type=int, default=16)
ap.add_argument("--lr", type=float, default=5e-5)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--limit", type=int, default=0, help="at most this many training examples (0: all)")
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()

import torch
from transformers import AutoTokenizer, BertForSequenceClassification, get_linear_schedule_with_warmup

torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
con = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
(task_id,) = con.execute("SELECT id FROM tasks WHERE name = ?", (a.task,)).fetchone()
labels = [r[0] for r in con.execute("SELECT name FROM labels WHERE task_id = ? ORDER BY position", (task_id,))]
rows = con.execute(
    """SELECT e.id, e.text, MIN(l.position), COUNT(*) FROM examples e
       JOIN example_labels el ON el.example_id = e.id JOIN labels l ON l.id = el.label_id AND l.task_id = ?1
       WHERE e.task_id = ?1 AND e.split = 'train' AND e.duplicate_of IS NULL GROUP BY e.id ORDER BY e.id""",
    (task_id,)).fetchall()
rows = [(t, c) for (_, t, c, n) in rows if n == 1]
if a.limit and len(rows) > a.limit:
    random.Random(a.seed).shuffle(rows)
    rows = rows[: a.limit]
tok = AutoTokenizer.from_pretrained(a.teacher)
model = BertForSequenceClassification.from_pretrained(a.teacher, num_labels=len(labels))
model.train()
steps = (len(rows) + a.batch_size - 1) // a.batch_size
opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
sched = get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps)
random.Random(a.seed).shuffle(rows)
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
loss_sum = 0.0
for s in range(steps):
    batch = rows[s * a.batch_size:(s + 1) * a.batch_size]
    enc = tok([t for t, _ in batch], truncation=True, max_length=a.max_tokens, padding=True, return_tensors="pt")
    out = model(**enc, labels=torch.tensor([c for _, c in batch]))
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step(); sched.step(); opt.zero_grad()
    loss_sum += out.loss.item() * len(batch)
secs = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print(json.dumps({"tool": "pytorch", "examples": len(rows), "seconds": secs, "examples_per_s": len(rows) / secs,
                  "cpu_seconds": cpu, "train_loss": loss_sum / len(rows), "threads": a.threads,
                  "max_tokens": a.max_tokens, "torch": torch.__version__}))
