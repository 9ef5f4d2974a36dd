#!/usr/bin/env python3
"""Makes Tests/KDExportTests/Resources/golden.json: what onnxruntime and transformers compute on
the exports of the fixture students (tools/export/make_fixtures.py), for `make test`.

    swift build && python3 tools/export/make_golden.py [--kd-train .build/debug/kd-train]

For each fixture student it runs `kd-train export` (ONNX fp32, ONNX fp16, and for the transformer
the Hugging Face folder), records the FNV-1a hash of every exported file (so the Swift test knows
that it re-created exactly the files these numbers were computed from), tokenizes the fixture texts
with the `tokenizers` library the way kd's Predictor does, and stores the logits of
- onnxruntime on the ONNX files (right-padded batch; each row is also run alone and must agree);
- transformers' AutoModelForSequenceClassification + AutoTokenizer on the Hugging Face folder
  (the ids AutoTokenizer gives must equal the `tokenizers` ids, and its logits must equal
  onnxruntime's within 1e-4).
The Swift test (Tests/KDExportTests/GoldenParityTests.swift) then checks kd's own outputs against them.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(__file__))
from common import fnv1a64, hf_logits, kd_ids, load_config, onnx_logits, run  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RES = os.path.join(ROOT, "Tests", "KDExportTests", "Resources")
TEXTS = [
    "I lost my card",
    "Why was my transfer declined?",
    "pending",
    "The clinical trial results for heart treatment were great, thanks!",
    "we may use your data and you agree to the terms of service; liability is not ours",
    "Zebra xylophone quantum",  # unknown words: [UNK] and word pieces
    "my new pin is not working at the atm and the exchange rate fee was charged twice, please help with a refund of the money",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kd-train", default=os.path.join(ROOT, ".build", "debug", "kd-train"))
    a = ap.parse_args()
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ["bow", "mlp", "transformer"]:
            folder = os.path.join(RES, "students", kind)
            student, labels = load_config(folder)
            tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
            ids = [kd_ids(tok, t, student["maxTokens"], student["vocabSize"]) for t in TEXTS]
            exports = [("onnx", False), ("onnx", True)] + ([("hf", False)] if kind == "transformer" else [])
            for fmt, fp16 in exports:
                out = os.path.join(tmp, "%s-%s%s" % (kind, fmt, "-fp16" if fp16 else "") + (".onnx" if fmt == "onnx" else ""))
                run([a.kd_train, "export", "--model", folder, "--format", fmt, "--out", out, "--quiet"] + (["--fp16"] if fp16 else []))
                files = {os.path.basename(out): out} if fmt == "onnx" else {f: os.path.join(out, f) for f in sorted(os.listdir(out))}
                hashes = {name: fnv1a64(open(p, "rb").read()) for name, p in files.items()}
                case = {"student": kind, "format": fmt, "fp16": fp16, "hashes": hashes, "ids": ids}
                if fmt == "onnx":
                    logits = onnx_logits(out, ids)
                    alone = np.concatenate([onnx_logits(out, [s]) for s in ids])
                    assert np.abs(logits - alone).max() < 1e-5, "padding changes the ONNX output"
                    case["onnxruntime_logits"] = logits.tolist()
                else:
                    from transformers import AutoTokenizer
                    at = AutoTokenizer.from_pretrained(out, local_files_only=True)
                    hf_ids = [at(t, truncation=True, max_length=student["maxTokens"])["input_ids"] for t in TEXTS]
                    assert hf_ids == ids, "AutoTokenizer ids differ from the tokenizer.json ids: %s vs %s" % (hf_ids, ids)
                    logits = hf_logits(out, ids)
                    onnx_out = os.path.join(tmp, "check.onnx")
                    run([a.kd_train, "export", "--model", folder, "--format", "onnx", "--out", onnx_out, "--force", "--quiet"])
                    diff = np.abs(logits - onnx_logits(onnx_out, ids)).max()
                    assert diff < 1e-4, "transformers and onnxruntime differ by %g" % diff
                    case["transformers_logits"] = logits.tolist()
                cases.append(case)
                print("%-11s %-4s fp16=%-5s logits[0]=%s" % (kind, fmt, fp16, np.round(np.array(logits[0]), 4)), file=sys.stderr)
    import onnxruntime
    import transformers
    golden = {"texts": TEXTS, "cases": cases, "made_by": "tools/export/make_golden.py",
              "versions": {"onnxruntime": onnxruntime.__version__, "transformers": transformers.__version__}}
    with open(os.path.join(RES, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print("wrote", os.path.join(RES, "golden.json"), file=sys.stderr)


if __name__ == "__main__":
    main()
