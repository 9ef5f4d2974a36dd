#!/usr/bin/env python3
"""Live parity check of `kd-train export` on 200 real texts (`make test-slow` runs it through
Tests/KDExportTests/SlowParityTests.swift; it can also run alone):

    python3 tools/export/check_parity.py --kd-bin .build/debug --work /tmp/kd-export-check

Texts: the first 100 of banking77's test.csv and the first 100 of medical_abstracts_tc
(../shared/corpora), one line each. Students, written into --work:
- transformer: all-MiniLM-L6-v2's real encoder weights renamed to `bert.*`, with a seeded pooler
  and 5-class classifier (the medical label names), in kd's transformer student layout;
- bow and mlp: kd's default sizes over the MiniLM vocabulary (30,522 tokens + 131,072 bigram
  buckets, dimension 64; mlp with one hidden layer of 64), seeded weights.
Checks (each fails the run, exit 1, beyond 1e-4):
1. bow, mlp: `kd-train predict --json` probabilities against onnxruntime on the ONNX export;
2. transformer: transformers' AutoModelForSequenceClassification on the exported folder against
   onnxruntime on the ONNX export (same ids), and AutoTokenizer's ids against kd's;
3. transformer round trip: kd-ingest the texts with the exported tokenizer, kd-teacher-cache
   --teacher <exported folder>, kd-teacher-cache dump: the cached logits against transformers.
fp16 ONNX exports are measured against the fp32 outputs and reported (not held to 1e-4).
Prints one JSON summary on stdout.
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(__file__))
from common import hf_logits, kd_ids, onnx_logits, run, softmax  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOL = 1e-4


def texts(corpora, n_each=100):
    out = []
    with open(os.path.join(corpora, "financial", "banking77", "test.csv"), newline="", encoding="utf-8") as f:
        out += [r["text"] for r in csv.DictReader(f)][:n_each]
    med = os.path.join(corpora, "medical", "medical_abstracts_tc")
    with open(os.path.join(med, "medical_tc_test.csv"), newline="", encoding="utf-8") as f:
        out += [r["medical_abstract"] for r in csv.DictReader(f)][:n_each]
    with open(os.path.join(med, "medical_tc_labels.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    labels = [r[-1].strip() for r in rows[1:] if r]
    return [" ".join(t.split()) for t in out], labels


def write_student(folder, student, labels, tensors, tokenizer_json):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"format": "kd-student-v1", "student": student, "labels": labels, "task": "export_check",
                   "tokenizer": "all-MiniLM-L6-v2"}, f, indent=2)
    save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    with open(tokenizer_json, "rb") as src, open(os.path.join(folder, "tokenizer.json"), "wb") as dst:
        dst.write(src.read())


def make_students(work, teacher, labels):
    rng = np.random.default_rng(17)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    tok_json = os.path.join(teacher, "tokenizer.json")
    cfg = json.load(open(os.path.join(teacher, "config.json")))
    V, C = cfg["vocab_size"], len(labels)
    buckets, dim = 1 << 17, 64
    table = f32(rng.normal(0, 1.0, (V + buckets, dim)))
    base = {"vocabSize": V, "buckets": buckets, "dimension": dim, "numClasses": C, "maxTokens": 512}
    write_student(os.path.join(work, "bow"), dict(base, kind="bow", hidden=[]), labels,
                  {"embedding.weight": table, "output.weight": f32(rng.normal(0, 1.0, (C, dim))),
                   "output.bias": f32(rng.normal(0, 0.3, C))}, tok_json)
    write_student(os.path.join(work, "mlp"), dict(base, kind="mlp", hidden=[64]), labels,
                  {"embedding.weight": table, "hidden.0.weight": f32(rng.normal(0, 0.5, (64, dim))),
                   "hidden.0.bias": f32(rng.normal(0, 0.1, 64)), "output.weight": f32(rng.normal(0, 0.5, (C, 64))),
                   "output.bias": f32(rng.normal(0, 0.3, C))}, tok_json)
    w = {("bert." + k if not k.startswith("bert.") else k): f32(v)
         for k, v in load_file(os.path.join(teacher, "model.safetensors")).items() if not k.endswith("position_ids")}
    H = cfg["hidden_size"]
    w["bert.pooler.dense.weight"] = f32(rng.normal(0, 0.1, (H, H)))
    w["bert.pooler.dense.bias"] = f32(rng.normal(0, 0.1, H))
    w["classifier.weight"] = f32(rng.normal(0, 0.5, (C, H)))
    w["classifier.bias"] = f32(rng.normal(0, 0.1, C))
    student = {"kind": "transformer", "layers": cfg["num_hidden_layers"], "hiddenSize": H, "heads": cfg["num_attention_heads"],
               "intermediateSize": cfg["intermediate_size"], "maxTokens": cfg["max_position_embeddings"], "vocabSize": V,
               "typeVocabSize": cfg["type_vocab_size"], "layerNormEps": cfg["layer_norm_eps"], "hiddenAct": "gelu",
               "padTokenId": cfg["pad_token_id"], "numClasses": C}
    write_student(os.path.join(work, "transformer"), student, labels, w, tok_json)


def predict_probabilities(kd_bin, model, labels, text_file):
    out = run([os.path.join(kd_bin, "kd-train"), "predict", "--model", model, "--json", "--top", str(len(labels)), text_file])
    rows = []
    for line in out.splitlines():
        o = json.loads(line)
        if isinstance(o.get("probabilities"), dict):
            p = o["probabilities"]
        else:
            p = {t["label"]: t["probability"] for t in o["top"]}
        rows.append([p[l] for l in labels])
    return np.array(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kd-bin", default=os.path.join(ROOT, ".build", "debug"))
    ap.add_argument("--work", required=True)
    ap.add_argument("--corpora", default=os.path.join(ROOT, "..", "shared", "corpora"))
    ap.add_argument("--teacher", default=os.path.join(ROOT, "models", "all-MiniLM-L6-v2"))
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    all_texts, labels = texts(a.corpora)
    text_file = os.path.join(a.work, "texts.txt")
    with open(text_file, "w", encoding="utf-8") as f:
        f.write("\n".join(all_texts) + "\n")
    make_students(a.work, a.teacher, labels)
    tok = Tokenizer.from_file(os.path.join(a.teacher, "tokenizer.json"))
    kd_train = os.path.join(a.kd_bin, "kd-train")
    summary, failures = {"texts": len(all_texts), "tolerance": TOL}, []

    def export(kind, fmt, fp16=False):
        out = os.path.join(a.work, "export-%s%s" % (kind, "-fp16" if fp16 else "")) + (".onnx" if fmt == "onnx" else "-hf")
        run([kd_train, "export", "--model", os.path.join(a.work, kind), "--format", fmt, "--out", out, "--force", "--quiet"]
            + (["--fp16"] if fp16 else []))
        return out

    def check(name, diff, bound=TOL):
        summary[name] = float(diff)
        if not diff <= bound:
            failures.append("%s: %g > %g" % (name, diff, bound))

    for kind in ["bow", "mlp"]:
        ids = [kd_ids(tok, t, 512, tok.get_vocab_size()) for t in all_texts]
        kd_p = predict_probabilities(a.kd_bin, os.path.join(a.work, kind), labels, text_file)
        ort_p = softmax(onnx_logits(export(kind, "onnx"), ids))
        check("%s_onnx_vs_kd_predict_max_abs_prob" % kind, np.abs(kd_p - ort_p).max())
        summary["%s_onnx_fp16_vs_kd_predict_max_abs_prob" % kind] = float(
            np.abs(kd_p - softmax(onnx_logits(export(kind, "onnx", True), ids))).max())

    # Transformer: transformers vs onnxruntime on kd's ids (texts longer than 512 tokens are cut as kd cuts them).
    hf = export("transformer", "hf")
    ids = [kd_ids(tok, t, 512, tok.get_vocab_size()) for t in all_texts]
    hf_l = hf_logits(hf, ids)
    check("transformer_hf_vs_onnx_max_abs_logit", np.abs(hf_l - onnx_logits(export("transformer", "onnx"), ids)).max())
    summary["transformer_onnx_fp16_vs_hf_max_abs_logit"] = float(
        np.abs(hf_l - onnx_logits(export("transformer", "onnx", True), ids)).max())
    from transformers import AutoTokenizer
    at = AutoTokenizer.from_pretrained(hf, local_files_only=True)
    fits = {i for i, t in enumerate(all_texts) if len(tok.encode(t).ids) <= 512}
    mismatched = [i for i in sorted(fits) if at(all_texts[i])["input_ids"] != ids[i]]
    summary["autotokenizer_ids_equal"] = "%d/%d" % (len(fits) - len(mismatched), len(fits))
    if mismatched:
        failures.append("AutoTokenizer ids differ from kd's on %d texts (first: %d)" % (len(mismatched), mismatched[0]))

    # Round trip: the exported folder as kd's teacher.
    corpus = os.path.join(a.work, "corpus")
    os.makedirs(corpus, exist_ok=True)
    with open(os.path.join(corpus, "texts.csv"), "w", newline="", encoding="utf-8") as f:
        wr = csv.writer(f)
        wr.writerow(["text", "label"])
        for i, t in enumerate(all_texts):
            wr.writerow([t, labels[i % len(labels)]])
    with open(os.path.join(a.work, "manifest.yaml"), "w") as f:
        f.write('files:\n  - path: "texts.csv"\n    task: export_check\n    text: text\n    label: label\n')
    db = os.path.join(a.work, "check.sqlite")
    for suffix in ["", "-wal", "-shm"]:
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    run([os.path.join(a.kd_bin, "kd-ingest"), corpus, "--db", db, "--manifest", os.path.join(a.work, "manifest.yaml"),
         "--tokenizer", os.path.join(hf, "tokenizer.json"), "--quiet"])
    run([os.path.join(a.kd_bin, "kd-teacher-cache"), "--db", db, "--teacher", hf, "--name", "exported", "--storage", "f32",
         "--matmul", "fp32", "--quiet"], timeout=1800)
    dump = run([os.path.join(a.kd_bin, "kd-teacher-cache"), "dump", "--db", db, "--teacher", "exported"])
    by_text = {}
    for line in dump.splitlines():
        o = json.loads(line)
        by_text[" ".join(o["text"].split())] = o
    index = {t: i for i, t in enumerate(all_texts)}
    worst, compared = 0.0, 0
    import sqlite3
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    task_labels = [r[0] for r in con.execute(
        "SELECT l.name FROM labels l JOIN tasks t ON t.id = l.task_id WHERE t.name = 'export_check' ORDER BY l.position")]
    con.close()
    for t, o in by_text.items():
        i = index.get(t)
        if i is None or i not in fits:
            continue  # kd-teacher-cache averages windows over texts longer than 512 tokens
        row = np.array([o["logits"][task_labels.index(l)] for l in labels])
        worst = max(worst, float(np.abs(row - hf_l[i]).max()))
        compared += 1
    summary["teacher_cache_round_trip_texts"] = compared
    check("teacher_cache_vs_transformers_max_abs_logit", worst)
    if compared < 150:
        failures.append("only %d texts came back from kd-teacher-cache" % compared)
    summary["failures"] = failures
    print(json.dumps(summary, indent=1, sort_keys=True))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
