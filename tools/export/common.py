"""Shared helpers of the export tools: kd's tokenization, ONNX and transformers runs, comparisons."""
import json
import os
import subprocess

import numpy as np


def fnv1a64(data: bytes) -> str:
    """KDCore.StableHash.fnv1a64 rendered as StableHash.hex (16 hex digits)."""
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def kd_ids(tokenizer, text, max_tokens, vocab_size):
    """Token ids exactly as kd's Predictor makes them: special tokens, the tail cut to max_tokens, ids < vocab."""
    ids = tokenizer.encode(text, add_special_tokens=True).ids[:max_tokens]
    return [i for i in ids if 0 <= i < vocab_size]


def pad(batch, pad_id=0):
    """Right-padded int64 ids and the attention mask."""
    n = max(1, max(len(s) for s in batch))
    ids = np.full((len(batch), n), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), n), dtype=np.int64)
    for i, s in enumerate(batch):
        ids[i, :len(s)] = s
        mask[i, :len(s)] = 1
    return ids, mask


def onnx_logits(path, batch, chunk=32):
    """Runs an exported graph with onnxruntime on right-padded chunks; returns logits [n, classes]."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    out = []
    for start in range(0, len(batch), chunk):
        part = batch[start:start + chunk]
        ids, mask = pad(part)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros_like(ids)
        out.append(sess.run(["logits"], feed)[0])
    return np.concatenate(out, axis=0)


def hf_logits(folder, batch, chunk=32):
    """Runs transformers' AutoModelForSequenceClassification on the same ids; returns logits."""
    import torch
    from transformers import AutoModelForSequenceClassification
    torch.set_num_threads(2)
    model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(batch), chunk):
            ids, mask = pad(batch[start:start + chunk])
            out.append(model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits.float().numpy())
    return np.concatenate(out, axis=0)


def run(cmd, timeout=600, **kw):
    """Runs a command with a timeout; raises with its stderr when it fails."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s" % (" ".join(cmd), p.returncode, p.stderr[-4000:]))
    return p.stdout


def softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def load_config(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    return cfg.get("student", cfg), cfg.get("labels", [])
