#!/usr/bin/env python3
"""A BERT-base-sized sequence classifier with random weights, made on the
spot from a config (no download), for the GPU benchmark (gpu.sh).

usage: make_bert.py OUT_DIR TOKENIZER_DIR DB TASK [--small]

Labels are the task's, read from the kd store DB in class-index order, so that
hf_teacher.py maps them one to one. The tokenizer files (tokenizer.json,
vocab.txt, ...) are copied from TOKENIZER_DIR: the same file kd's store was
tokenized with, so the teacher reads kd's token ids. --small makes a 2-layer
model (for a CPU check of the script)."""
import argparse, os, shutil, sqlite3

p = argparse.ArgumentParser()
p.add_argument("out"); p.add_argument("tokenizer_dir"); p.add_argument("db"); p.add_argument("task")
p.add_argument("--small", action="store_true")
a = p.parse_args()
import torch
from transformers import BertConfig, BertForSequenceClassification

con = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
labels = [r[0] for r in con.execute(
    "SELECT l.name FROM labels l JOIN tasks t ON t.id = l.task_id WHERE t.name = ? ORDER BY l.position", (a.task,))]
assert labels, f"task {a.task} has no labels in {a.db}"
torch.manual_seed(0)
cfg = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 max_position_embeddings=512, num_labels=len(labels),
                 id2label={i: l for i, l in enumerate(labels)}, label2id={l: i for i, l in enumerate(labels)})
if a.small:
    cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size = 64, 2, 2, 128
cfg.architectures = ["BertForSequenceClassification"]
model = BertForSequenceClassification(cfg).eval()
model.save_pretrained(a.out, safe_serialization=True)
for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
    src = os.path.join(a.tokenizer_dir, f)
    if os.path.exists(src):
        shutil.copy(src, os.path.join(a.out, f))
n = sum(p.numel() for p in model.parameters())
print(f"{a.out}: BERT {cfg.num_hidden_layers} layers x {cfg.hidden_size}, {n / 1e6:.1f}M parameters, {len(labels)} labels")
