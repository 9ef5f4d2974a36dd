#!/usr/bin/env python3
"""Parity of a *trained* transformer student with its Hugging Face export, on the 200 real texts
of check_parity.py (100 banking77 + 100 medical_abstracts_tc test texts, ../shared/corpora):
`kd-train predict --json` probabilities against transformers' AutoModelForSequenceClassification
on `kd-train export --format hf` of the same checkpoint, with the exported tokenizer's own
truncation. Exit 1 beyond 1e-4.

    python3 tools/export/check_trained_parity.py --kd-bin .build/release --model kd-models/medical_abstracts_tc/kd/best
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

sys.path.insert(0, os.path.dirname(__file__))
from check_parity import texts  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kd-bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--model", required=True, help="a transformer student checkpoint folder")
    ap.add_argument("--corpora", default=os.path.join(ROOT, "..", "shared", "corpora"))
    a = ap.parse_args()
    lines, _ = texts(a.corpora)
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "texts.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        hf = os.path.join(work, "hf")
        subprocess.run([os.path.join(a.kd_bin, "kd-train"), "export", "--model", a.model, "--format", "hf", "--out", hf,
                        "-q"], check=True)
        out = subprocess.run([os.path.join(a.kd_bin, "kd-train"), "predict", "--model", a.model, "--json", path],
                             capture_output=True, text=True, check=True).stdout
        kd = [json.loads(x) for x in out.splitlines() if x.strip()]
        tok = AutoTokenizer.from_pretrained(hf)
        model = AutoModelForSequenceClassification.from_pretrained(hf).eval()
        names = model.config.id2label
        worst, same = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(lines), 16):
                enc = tok(lines[i:i + 16], padding=True, truncation=True, return_tensors="pt")
                for j, row in enumerate(torch.softmax(model(**enc).logits, -1).numpy()):
                    mine = np.array([kd[i + j]["probabilities"][names[c]] for c in range(len(row))])
                    worst = max(worst, float(np.abs(mine - row).max()))
                    same += int(mine.argmax() == row.argmax())
    summary = {"texts": len(kd), "max_abs_prob_diff": worst, "same_top_class": same, "tolerance": 1e-4}
    print(json.dumps(summary))
    sys.exit(0 if worst <= 1e-4 and len(kd) == len(lines) else 1)


if __name__ == "__main__":
    main()
