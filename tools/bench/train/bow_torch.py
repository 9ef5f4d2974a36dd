#!/usr/bin/env python3
"""PyTorch CPU reference for `kd-train bench train`: the same bow student
(EmbeddingBag(mean, sparse) over token ids + hashed bigrams, then Linear), the
same loss (alpha*CE + (1-alpha)*T^2*KL on the teacher's cached logits), the
same batch size, SparseAdam for the embedding + AdamW for the linear layer,
on the train split of the same kd store. Data are prepared in memory first;
only the training steps are timed.

    python3 tools/bench/train/bow_torch.py DB --task bench --steps 3000 --threads 2
Prints one JSON object (examples_per_s, ...).
"""
import argparse, json, sqlite3, struct, time
import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("db")
ap.add_argument("--task", required=True)
ap.add_argument("--steps", type=int, default=3000)
ap.add_argument("--batch-size", type=int, default=32)
ap.add_argument("--dim", type=int, default=64)
ap.add_argument("--buckets", type=int, default=1 << 17)
ap.add_argument("--max-tokens", type=int, default=256)
ap.add_argument("--alpha", type=float, default=0.5)
ap.add_argument("--temperature", type=float, default=2.0)
ap.add_argument("--lr", type=float, default=0.01)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)

M = (1 << 64) - 1
def bucket(x, y, buckets):
    # EmbeddingBag.bigramBucket in Sources/KDTrain/Students/Layers.swift
    h = ((x * 0x9E3779B97F4A7C15) & M) ^ y
    h = ((h ^ (h >> 29)) * 0xBF58476D1CE4E5B9) & M
    h ^= h >> 32
    return h % buckets

db = sqlite3.connect(a.db)
task_id, = db.execute("SELECT id FROM tasks WHERE name = ?", (a.task,)).fetchone()
classes, = db.execute("SELECT COUNT(*) FROM labels WHERE task_id = ?", (task_id,)).fetchone()
teacher_id, storage = db.execute(
    "SELECT h.id, h.storage FROM teachers h WHERE h.task_id = ? AND EXISTS (SELECT 1 FROM teacher_outputs o WHERE o.teacher_id = h.id) ORDER BY h.name LIMIT 1",
    (task_id,)).fetchone()
assert storage in ("f32", "f16"), "the reference reads dense teacher outputs only"
tok_id, vocab = db.execute(
    "SELECT k.id, k.vocab_size FROM tokenizers k JOIN teachers h ON h.tokenizer_id = k.id WHERE h.id = ?", (teacher_id,)).fetchone()
rows = db.execute("""
  SELECT e.id, (SELECT l.position FROM example_labels el JOIN labels l ON l.id = el.label_id
                WHERE el.example_id = e.id AND l.task_id = ?1 LIMIT 1), t.width, t.ids, o.logits
  FROM examples e JOIN tokenizations t ON t.example_id = e.id AND t.tokenizer_id = ?2
  JOIN teacher_outputs o ON o.example_id = e.id AND o.teacher_id = ?3
  WHERE e.task_id = ?1 AND e.split = 'train' AND e.duplicate_of IS NULL""", (task_id, tok_id, teacher_id)).fetchall()

feats, labels, teach = [], [], []
dt = "<f4" if storage == "f32" else "<f2"
for _, label, width, blob, logits in rows:
    ids = list(struct.unpack(f"<{len(blob) // width}{'H' if width == 2 else 'I'}", blob))[: a.max_tokens]
    f = ids + [vocab + bucket(ids[i - 1], ids[i], a.buckets) for i in range(1, len(ids))]
    feats.append(f)
    labels.append(-1 if label is None else label)
    teach.append(np.frombuffer(logits, dtype=dt).astype(np.float32))
n = len(feats)
rng = np.random.default_rng(a.seed)
order = rng.permutation(n)
batches = []
for s in range(0, n - a.batch_size + 1, a.batch_size):
    idx = order[s:s + a.batch_size]
    flat = torch.tensor([x for i in idx for x in feats[i]], dtype=torch.long)
    offsets = torch.tensor(np.cumsum([0] + [len(feats[i]) for i in idx[:-1]]), dtype=torch.long)
    y = torch.tensor([labels[i] for i in idx], dtype=torch.long)
    q = torch.softmax(torch.tensor(np.stack([teach[i] for i in idx])) / a.temperature, dim=1)
    batches.append((flat, offsets, y, q))

class Bow(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.EmbeddingBag(vocab + a.buckets, a.dim, mode="mean", sparse=True)
        torch.nn.init.uniform_(self.emb.weight, -1 / a.dim, 1 / a.dim)
        self.out = torch.nn.Linear(a.dim, classes)
    def forward(self, flat, offsets):
        return self.out(self.emb(flat, offsets))

model = Bow()
opt_sparse = torch.optim.SparseAdam(list(model.emb.parameters()), lr=a.lr)
opt_dense = torch.optim.AdamW(list(model.out.parameters()), lr=a.lr, weight_decay=0.0)
T, alpha = a.temperature, a.alpha

def step(b):
    flat, offsets, y, q = b
    z = model(flat, offsets)
    has = y >= 0
    ce = torch.nn.functional.cross_entropy(z[has], y[has], reduction="sum") if has.any() else z.sum() * 0
    logp = torch.log_softmax(z / T, dim=1)
    kl = (q * (torch.log(q.clamp_min(1e-30)) - logp)).sum(dim=1) * T * T
    w_kd = torch.where(has, torch.full_like(kl, 1 - alpha), torch.ones_like(kl))
    loss = (alpha * ce + (w_kd * kl).sum()) / len(y)
    opt_sparse.zero_grad(); opt_dense.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.out.parameters(), 5.0)
    opt_sparse.step(); opt_dense.step()
    return loss.item()

for b in batches[:5]:
    step(b)
t0 = time.perf_counter()
c0 = time.process_time()
examples = 0
for s in range(a.steps):
    b = batches[s % len(batches)]
    last = step(b)
    examples += len(b[2])
sec = time.perf_counter() - t0
cpu = time.process_time() - c0
print(json.dumps({"examples": examples, "steps": a.steps, "seconds": sec, "examples_per_s": examples / sec,
                  "examples_per_cpu_s": examples / cpu, "cpu_seconds": cpu,
                  "final_loss": last, "threads": a.threads, "torch": torch.__version__}))
