#!/usr/bin/env python3
"""The plain PyTorch loop kd's --teacher-cmd path is compared with (gpu.sh):
the same texts (every example of TASK in the kd store DB that kd computes:
one per duplicate group), tokenized here with the model's tokenizer (as a
plain user loop does), sorted by length like kd sorts, forward passes in
batches, logits copied back to the host. The model load and one warm-up batch
are left out of the timing. Prints one JSON line.

usage: torch_loop.py DB TASK MODEL_DIR [--batch-size N] [--fp16] [--max-length 512]"""
import argparse, json, sqlite3, time

p = argparse.ArgumentParser()
p.add_argument("db"); p.add_argument("task"); p.add_argument("model")
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--fp16", action="store_true")
p.add_argument("--max-length", type=int, default=512)
p.add_argument("--device", default=None)
a = p.parse_args()
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

dev = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
con = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
texts = [r[0] for r in con.execute(
    """SELECT e.text FROM examples e JOIN tasks t ON t.id = e.task_id
       WHERE t.name = ? AND e.duplicate_of IS NULL""", (a.task,))]
tok = AutoTokenizer.from_pretrained(a.model, local_files_only=True)
model = AutoModelForSequenceClassification.from_pretrained(a.model, local_files_only=True).to(dev).eval()
if a.fp16 and dev == "cuda":
    model.half()
lengths = [len(x) for x in tok(texts, truncation=True, max_length=a.max_length)["input_ids"]]
order = sorted(range(len(texts)), key=lambda i: lengths[i])
texts = [texts[i] for i in order]

def run(batch):
    enc = tok(batch, padding=True, truncation=True, max_length=a.max_length, return_tensors="pt").to(dev)
    with torch.inference_mode():
        return model(**enc).logits.float().cpu()

run(texts[: a.batch_size])  # warm-up (CUDA context, kernels), not timed
if dev == "cuda":
    torch.cuda.synchronize()
t0, e0 = time.perf_counter(), time.time()
for s in range(0, len(texts), a.batch_size):
    run(texts[s : s + a.batch_size])
secs = time.perf_counter() - t0
print(json.dumps({"examples": len(texts), "seconds": secs, "examples_per_second": len(texts) / secs, "device": dev,
                  "batch_size": a.batch_size, "fp16": a.fp16, "start": e0, "end": e0 + secs}))
