#!/usr/bin/env python3
"""Makes the small student folders that Tests/KDExportTests uses (run once; the output is committed).

    python3 tools/export/make_fixtures.py            # writes Tests/KDExportTests/Resources/students/

Three students in kd's checkpoint layout (config.json with a "student" object,
model.safetensors, tokenizer.json), all over one 96-token WordPiece vocabulary:
- bow: 96 token rows + 16 bigram buckets, dimension 8, 3 classes;
- mlp: the same bag, one hidden ReLU layer of 6, 3 classes;
- transformer: the weights of Tests/KDModelsTests/Resources/tiny-bert (a real
  BertForSequenceClassification saved by transformers: 2 layers, hidden 32,
  4 heads, intermediate 48, 40 positions) under kd's transformer config.
Bag weights are seeded normals large enough that every logit matters
(fastText's own init, +-1/dim, would make logits nearly constant).
"""
import json
import os
import shutil
import sys

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "KDExportTests", "Resources", "students")
TINY_BERT = os.path.join(ROOT, "Tests", "KDModelsTests", "Resources", "tiny-bert")
LABELS = ["negative", "neutral", "positive"]

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = """the a card my i lost was is not of to and in for it you have bank account money transfer
pending payment refund why can how do new pin atm cash fee charged twice app top up declined exchange
rate patient pain heart cancer tumor blood treatment study clinical trial results terms service may we
use your data agree law court liability good bad great terrible fine slow fast help please thanks
""".split()
PIECES = ["##s", "##ed", "##ing", "##ly", "##er", "##al", "##ment", "##ion", "##y", "##e", "##es"]


def tokenizer(vocab_size):
    vocab = SPECIALS + WORDS + PIECES
    extra = vocab_size - len(vocab)
    assert extra >= 0, len(vocab)
    vocab += ["##" + c for c in "bcdfghjklmnopqrstuvwxz"[:extra]]
    assert len(vocab) == vocab_size and len(set(vocab)) == vocab_size
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.decoder = decoders.WordPiece(prefix="##")
    from tokenizers import AddedToken
    tok.add_special_tokens([AddedToken(t, special=True) for t in SPECIALS])
    return tok


def write_student(name, student, tensors, tok):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    cfg = {"format": "kd-student-v1", "student": student, "labels": LABELS, "task": "fixture", "tokenizer": "fixture-wordpiece"}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    save_file(tensors, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    tok.save(os.path.join(d, "tokenizer.json"))


def main():
    vocab, buckets, dim = 96, 16, 8
    tok = tokenizer(vocab)
    rng = np.random.default_rng(20261204)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    table = f32(rng.normal(0, 1.0, (vocab + buckets, dim)))
    write_student("bow", {"kind": "bow", "vocabSize": vocab, "buckets": buckets, "dimension": dim, "hidden": [],
                          "numClasses": 3, "maxTokens": 40},
                  {"embedding.weight": table, "output.weight": f32(rng.normal(0, 1.0, (3, dim))),
                   "output.bias": f32(rng.normal(0, 0.5, 3))}, tok)
    write_student("mlp", {"kind": "mlp", "vocabSize": vocab, "buckets": buckets, "dimension": dim, "hidden": [6],
                          "numClasses": 3, "maxTokens": 40},
                  {"embedding.weight": table, "hidden.0.weight": f32(rng.normal(0, 0.8, (6, dim))),
                   "hidden.0.bias": f32(rng.normal(0, 0.3, 6)), "output.weight": f32(rng.normal(0, 1.0, (3, 6))),
                   "output.bias": f32(rng.normal(0, 0.5, 3))}, tok)
    cfg = json.load(open(os.path.join(TINY_BERT, "config.json")))
    d = os.path.join(OUT, "transformer")
    os.makedirs(d, exist_ok=True)
    student = {"kind": "transformer", "layers": cfg["num_hidden_layers"], "hiddenSize": cfg["hidden_size"],
               "heads": cfg["num_attention_heads"], "intermediateSize": cfg["intermediate_size"],
               "maxTokens": cfg["max_position_embeddings"], "vocabSize": cfg["vocab_size"],
               "typeVocabSize": cfg["type_vocab_size"], "layerNormEps": cfg["layer_norm_eps"], "hiddenAct": "gelu",
               "padTokenId": cfg["pad_token_id"], "numClasses": len(cfg["id2label"])}
    assert [cfg["id2label"][str(i)] for i in range(3)] == LABELS
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"format": "kd-student-v1", "student": student, "labels": LABELS, "task": "fixture",
                   "tokenizer": "fixture-wordpiece"}, f, indent=2, sort_keys=True)
        f.write("\n")
    shutil.copyfile(os.path.join(TINY_BERT, "model.safetensors"), os.path.join(d, "model.safetensors"))
    tok.save(os.path.join(d, "tokenizer.json"))
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
