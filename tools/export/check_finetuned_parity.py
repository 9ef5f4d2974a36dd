#!/usr/bin/env python3
"""Parity of a teacher fine-tuned with `kd-train teacher --pooling mean` (a sentence-transformers
folder: BertModel, mean 1_Pooling, optional Normalize, Dense classifier) with PyTorch: transformers' BertModel on the
folder, mean pooling over the attention mask, L2 normalisation when the folder has it, then the Dense layer, against the logits
kd-teacher-cache cached for the same examples (`kd-teacher-cache dump`). Examples longer than the
folder's max positions are skipped (kd averages windows for them). Exit 1 beyond --tol.

    python3 tools/export/check_finetuned_parity.py --db data.sqlite --teacher ft-medical --folder models/medical-ft
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, BertModel

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--teacher", required=True, help="the cached teacher's name in the store")
    ap.add_argument("--folder", required=True, help="the kd-train teacher --pooling mean output folder")
    ap.add_argument("--kd-bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    modules = json.load(open(os.path.join(a.folder, "modules.json")))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    assert kinds in (["Transformer", "Pooling", "Dense"], ["Transformer", "Pooling", "Normalize", "Dense"]), modules
    normalize = "Normalize" in kinds
    pooling = json.load(open(os.path.join(a.folder, "1_Pooling", "config.json")))
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"], pooling
    dense = load_file(os.path.join(a.folder, modules[-1]["path"], "model.safetensors"))
    model = BertModel.from_pretrained(a.folder, add_pooling_layer=False).eval()
    tok = AutoTokenizer.from_pretrained(a.folder)
    max_len = model.config.max_position_embeddings
    out = subprocess.run([os.path.join(a.kd_bin, "kd-teacher-cache"), "dump", "--db", a.db, "--teacher", a.teacher,
                          "--split", a.split, "--limit", str(a.limit), "-q"], check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    worst, compared, skipped = 0.0, 0, 0
    with torch.no_grad():
        for r in rows:
            ids = tok(r["text"], truncation=False)["input_ids"]
            if len(ids) > max_len:
                skipped += 1
                continue
            x = torch.tensor([ids])
            h = model(input_ids=x, attention_mask=torch.ones_like(x)).last_hidden_state[0]
            e = h.mean(0)
            if normalize:
                e = torch.nn.functional.normalize(e, p=2, dim=0)
            logits = dense["linear.weight"] @ e + dense["linear.bias"]
            worst = max(worst, float(np.max(np.abs(logits.numpy() - np.asarray(r["logits"], dtype=np.float32)))))
            compared += 1
    print(json.dumps({"teacher": a.teacher, "compared": compared, "skipped_longer_than_max_positions": skipped,
                      "max_abs_logit_diff": worst, "tol": a.tol}))
    return 0 if compared > 0 and worst <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
