#!/usr/bin/env python3
"""PyTorch CPU reference for `kd-train bench transformer`: one training step
(forward, CE, backward, grad clipping, AdamW) of Hugging Face
BertForSequenceClassification with the same shape, batch and threads, on a
synthetic batch of random token ids; and inference of the same batch.

    transformer_torch.py --layers 3 --hidden 384 --heads 12 --intermediate 1536 \
        --batch 32 --seq 128 --threads 2 --steps 10
Prints one JSON object (step_seconds, step_median_s, inference_median_s)."""
import argparse, json, statistics, time

import torch
from transformers import BertConfig, BertForSequenceClassification

ap = argparse.ArgumentParser()
ap.add_argument("--layers", type=int, default=3)
ap.add_argument("--hidden", type=int, default=384)
ap.add_argument("--heads", type=int, default=12)
ap.add_argument("--intermediate", type=int, default=1536)
ap.add_argument("--vocab", type=int, default=30522)
ap.add_argument("--classes", type=int, default=5)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--seq", type=int, default=128)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--steps", type=int, default=10)
ap.add_argument("--bf16", action="store_true", help="torch.autocast(cpu, bfloat16): bf16 matmuls, fp32 weights and optimizer")
a = ap.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(1)
cfg = BertConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                 intermediate_size=a.intermediate, max_position_embeddings=512, num_labels=a.classes,
                 attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.1)
model = BertForSequenceClassification(cfg)
model.train()
no_decay = ["bias", "LayerNorm.weight"]
groups = [
    {"params": [p for n, p in model.named_parameters() if not any(x in n for x in no_decay)], "weight_decay": 0.01},
    {"params": [p for n, p in model.named_parameters() if any(x in n for x in no_decay)], "weight_decay": 0.0},
]
opt = torch.optim.AdamW(groups, lr=1e-4)
ids = torch.randint(1000, a.vocab, (a.batch, a.seq))
ids[:, 0] = 101
ids[:, -1] = 102
mask = torch.ones_like(ids)
labels = torch.randint(0, a.classes, (a.batch,))


def step():
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


step()
times = []
for _ in range(a.steps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
model.eval()
inf = []
with torch.inference_mode():
    model(input_ids=ids, attention_mask=mask)
    for _ in range(max(3, a.steps)):
        t0 = time.perf_counter()
        model(input_ids=ids, attention_mask=mask)
        inf.append(time.perf_counter() - t0)
print(json.dumps({"torch": torch.__version__, "threads": a.threads, "bf16": a.bf16, "step_seconds": times,
                  "step_median_s": statistics.median(times), "inference_median_s": statistics.median(inf),
                  "inference_examples_per_s": a.batch / statistics.median(inf)}))
