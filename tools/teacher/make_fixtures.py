#!/usr/bin/env python3
"""Golden fixtures for the Swift teacher runtime (KDModels), computed with PyTorch `transformers`.

Writes small, committed fixtures under Tests/KDModelsTests/Resources/:

  tiny-bert/            random BertForSequenceClassification, fp32 safetensors (+ golden.json)
  tiny-bert-bf16/       the same weights stored as bf16
  tiny-roberta-fp16/    random RobertaForSequenceClassification, fp16
  tiny-distilbert-fp16/ random DistilBertForSequenceClassification, fp16

Each golden.json holds token-id sequences of different lengths, and for each
sequence: the CLS and mean pooled last hidden states and the classifier logits.
The reference runs the sequences as ONE padded batch with an attention mask,
so the Swift side (which packs sequences without padding) is checked against
masked attention. For reduced-precision checkpoints the reference model is the
same stored weights widened back to fp32.

With --minilm DIR (all-MiniLM-L6-v2, HF layout) it also writes minilm_parity.json:
real corpus lines tokenized with the model's own tokenizer.json (truncation 128,
padding off), their ids, and mean/CLS pooled last hidden states.

Usage: python3 tools/teacher/make_fixtures.py [--minilm models/all-MiniLM-L6-v2]
"""
import argparse
import csv
import json
import os
import shutil

import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RES = os.path.join(ROOT, "Tests", "KDModelsTests", "Resources")


def r7(x):
    return [float("%.7g" % v) for v in x]


def sequences(vocab, max_len, seed):
    g = torch.Generator().manual_seed(seed)
    lens = [1, 5, 12, 29, max_len]
    out = []
    for n in lens:
        ids = torch.randint(3, vocab, (n,), generator=g).tolist()
        out.append(ids)
    return out


@torch.no_grad()
def reference(model, seqs, pad_id, base):
    """One padded batch with an attention mask; pooled = CLS/mean of last hidden state."""
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    kwargs = dict(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    out = model(**kwargs)
    last = out.hidden_states[-1]
    m = mask.unsqueeze(-1).float()
    mean = (last * m).sum(1) / m.sum(1)
    cls = last[:, 0]
    return {
        "sequences": seqs,
        "cls": [r7(v) for v in cls.tolist()],
        "mean": [r7(v) for v in mean.tolist()],
        "logits": [r7(v) for v in out.logits.tolist()],
    }


def save(model, name, dtype, seqs, pad_id):
    d = os.path.join(RES, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    model.config.to_json_file(os.path.join(d, "config.json"))
    state = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()
             if v.is_floating_point()}
    save_file(state, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    # Reference = the stored (possibly rounded) weights, widened to fp32.
    widened = {k: v.float() for k, v in state.items()}
    model.load_state_dict(widened, strict=False)
    golden = reference(model, seqs, pad_id, name)
    golden["dtype"] = str(dtype).replace("torch.", "")
    golden["labels"] = [model.config.id2label[i] for i in range(model.config.num_labels)]
    with open(os.path.join(d, "golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
    print(name, os.path.getsize(os.path.join(d, "model.safetensors")), "bytes")


def tiny_models():
    from transformers import (BertConfig, BertForSequenceClassification, DistilBertConfig,
                              DistilBertForSequenceClassification, RobertaConfig,
                              RobertaForSequenceClassification)
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    common = dict(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=48, hidden_act="gelu", initializer_range=0.2,
                  id2label=labels, label2id={v: k for k, v in labels.items()})
    torch.manual_seed(0)
    bert = BertForSequenceClassification(BertConfig(max_position_embeddings=40, type_vocab_size=2, **common)).eval()
    bert.config.architectures = ["BertForSequenceClassification"]
    seqs = sequences(96, 40, 1)
    # LayerNorm weights are 1/0 at init: perturb them so a wrong gamma/beta would show.
    with torch.no_grad():
        for n, p in bert.named_parameters():
            if "LayerNorm" in n:
                p.add_(torch.randn_like(p) * 0.1)
    save(bert, "tiny-bert", torch.float32, seqs, 0)
    save(bert, "tiny-bert-bf16", torch.bfloat16, seqs, 0)

    torch.manual_seed(1)
    rob = RobertaForSequenceClassification(RobertaConfig(max_position_embeddings=42, type_vocab_size=1,
                                                         pad_token_id=1, bos_token_id=0, eos_token_id=2,
                                                         layer_norm_eps=1e-5, **common)).eval()
    rob.config.architectures = ["RobertaForSequenceClassification"]
    save(rob, "tiny-roberta-fp16", torch.float16, sequences(96, 40, 2), 1)

    torch.manual_seed(2)
    dcfg = DistilBertConfig(vocab_size=96, dim=32, n_layers=2, n_heads=4, hidden_dim=48,
                            max_position_embeddings=40, activation="gelu", initializer_range=0.2,
                            id2label=labels, label2id={v: k for k, v in labels.items()})
    dis = DistilBertForSequenceClassification(dcfg).eval()
    dis.config.architectures = ["DistilBertForSequenceClassification"]
    save(dis, "tiny-distilbert-fp16", torch.float16, sequences(96, 40, 3), 0)


def corpus_lines(n):
    """Real lines from ../shared/corpora, varied in length (medical, legal, financial)."""
    base = os.path.join(ROOT, "..", "shared", "corpora")
    lines = []
    with open(os.path.join(base, "financial", "banking77", "test.csv"), newline="") as f:
        rows = list(csv.reader(f))[1:]
        lines += [r[0] for r in rows[:: max(1, len(rows) // 3)][:3]]
    tos = os.path.join(base, "legal", "claudette_unfair_tos_en", "sentences")
    names = sorted(os.listdir(tos))[:2]
    for nm in names:
        with open(os.path.join(tos, nm), encoding="utf-8") as f:
            ls = [l.strip() for l in f if len(l.split()) > 8]
        lines += ls[:1]
    med = os.path.join(base, "medical", "medical_abstracts_tc")
    csvs = sorted(p for p in os.listdir(med) if p.endswith(".csv") and "label" not in p)
    with open(os.path.join(med, csvs[0]), newline="") as f:
        rows = list(csv.reader(f))[1:]
        lines += [rows[0][1], rows[1][1][:300]]
    return lines[:n]


@torch.no_grad()
def minilm(directory):
    from tokenizers import Tokenizer
    from transformers import AutoModel
    tok = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(128)
    texts = corpus_lines(8)
    seqs = [tok.encode(t).ids for t in texts]
    model = AutoModel.from_pretrained(directory).eval()
    golden = reference_plain(model, seqs)
    golden["texts"] = texts
    with open(os.path.join(RES, "minilm_parity.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
    print("minilm lengths", [len(s) for s in seqs])


@torch.no_grad()
def reference_plain(model, seqs):
    L = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), L), dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    last = model(input_ids=ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).float()
    mean = (last * m).sum(1) / m.sum(1)
    return {"sequences": seqs, "mean": [r7(v) for v in mean.tolist()],
            "cls": [r7(v) for v in last[:, 0].tolist()]}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--minilm", help="all-MiniLM-L6-v2 directory (writes minilm_parity.json)")
    ap.add_argument("--skip-tiny", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if not a.skip_tiny:
        tiny_models()
    if a.minilm:
        minilm(a.minilm)
