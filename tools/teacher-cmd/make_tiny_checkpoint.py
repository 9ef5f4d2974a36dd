#!/usr/bin/env python3
"""Writes a tiny random BERT sequence classifier (labels neg, pos) with its
tokenizer into DIR, for checking hf_teacher.py offline in seconds."""
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/kd-tiny-classifier"
os.makedirs(out, exist_ok=True)
words = ["good", "great", "fine", "bad", "awful", "poor", "the", "a", "movie", "food", "was", "is", "very", "not"]
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz.,!?")
with open(os.path.join(out, "vocab.txt"), "w") as f:
    f.write("\n".join(vocab) + "\n")
t = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
t.normalizer = normalizers.BertNormalizer(lowercase=True)
t.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
t.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
tok = PreTrainedTokenizerFast(tokenizer_object=t, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                              sep_token="[SEP]", mask_token="[MASK]")
tok.save_pretrained(out)
torch.manual_seed(0)
cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=48, max_position_embeddings=64, initializer_range=0.5, id2label={0: "neg", 1: "pos"},
                 label2id={"neg": 0, "pos": 1}, architectures=["BertForSequenceClassification"])
BertForSequenceClassification(cfg).eval().save_pretrained(out, safe_serialization=True)
print(out)
