#!/usr/bin/env python3
"""Python reference for the teacher-cache benchmark and parity check.

Recomputes a kd teacher's logits with PyTorch/transformers on the same
examples, the same stored token ids, the same windows (max_tokens from the
teacher's config_json, [CLS]/[SEP] kept, 25 % overlap, outputs averaged) and
the head kd recorded (teachers.head_blob), then compares them with kd's cache.

usage: reference.py DB TEACHER_DIR TEACHER_NAME [--threads N]
prints one JSON object: examples, seconds (forward passes only), examples_per_second,
max_abs_logit_diff, argmax_agreement."""
import argparse
import json
import os
import sqlite3
import struct
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
import torch
from safetensors.numpy import load as st_load
from transformers import AutoModel


def windows(ids, max_tokens):
    if len(ids) <= max_tokens or max_tokens < 3:
        return [ids]
    prefix, suffix, content = ids[0], ids[-1], ids[1:-1]
    span = max_tokens - 2
    stride = max(1, span - span // 4)
    out, start = [], 0
    while True:
        end = min(start + span, len(content))
        begin = max(0, end - span)
        out.append([prefix] + content[begin:end] + [suffix])
        if end == len(content):
            return out
        start += stride


def main():
    p = argparse.ArgumentParser()
    p.add_argument("db")
    p.add_argument("teacher_dir")
    p.add_argument("name")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    con = sqlite3.connect(a.db)
    tid, tok_id, config, head_json, head_blob, storage, n = con.execute(
        "SELECT id, tokenizer_id, config_json, head_json, head_blob, storage, num_outputs FROM teachers WHERE name = ?", (a.name,)).fetchone()
    config = json.loads(config)
    max_tokens = config["max_tokens"]
    normalize = config.get("normalize_embeddings", False)
    if head_blob is None:
        raise SystemExit("reference.py compares fitted heads only (teachers.head_blob is empty)")
    head = st_load(bytes(head_blob))
    W, b = head["weight"], head["bias"]
    rows = con.execute(
        "SELECT o.example_id, o.logits, t.width, t.ids FROM teacher_outputs o JOIN tokenizations t"
        " ON t.example_id = o.example_id AND t.tokenizer_id = ? WHERE o.teacher_id = ? ORDER BY t.length",
        (tok_id, tid)).fetchall()
    if storage != "f32":
        raise SystemExit("reference.py compares f32 storage only")
    model = AutoModel.from_pretrained(a.teacher_dir, local_files_only=True).eval()
    seqs, owner = [], []
    for i, (_, _, width, blob) in enumerate(rows):
        ids = list(struct.unpack(f"<{len(blob) // width}{'H' if width == 2 else 'I'}", blob))
        for w in windows(ids, max_tokens):
            seqs.append(w)
            owner.append(i)
    emb = np.zeros((len(rows), W.shape[1]), dtype=np.float64)
    count = np.zeros(len(rows))
    start = time.perf_counter()
    with torch.no_grad():
        for s in range(0, len(seqs), a.batch_size):
            part = seqs[s:s + a.batch_size]
            L = max(len(x) for x in part)
            ids = torch.zeros((len(part), L), dtype=torch.long)
            mask = torch.zeros((len(part), L), dtype=torch.long)
            for j, x in enumerate(part):
                ids[j, :len(x)] = torch.tensor(x)
                mask[j, :len(x)] = 1
            h = model(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).float()
            e = (h * m).sum(1) / m.sum(1)
            if normalize:
                e = torch.nn.functional.normalize(e, dim=-1)
            for j, v in enumerate(e.numpy()):
                emb[owner[s + j]] += v
                count[owner[s + j]] += 1
    seconds = time.perf_counter() - start
    emb /= count[:, None]
    ref = emb @ W.T.astype(np.float64) + b
    ours = np.array([struct.unpack(f"<{n}f", r[1]) for r in rows])
    print(json.dumps({
        "examples": len(rows), "windows": len(seqs), "seconds": round(seconds, 3),
        "examples_per_second": round(len(rows) / seconds, 2),
        "max_abs_logit_diff": float(np.abs(ref - ours).max()),
        "argmax_agreement": float((ref.argmax(1) == ours.argmax(1)).mean()),
    }))


if __name__ == "__main__":
    main()
