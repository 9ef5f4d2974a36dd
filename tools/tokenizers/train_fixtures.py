#!/usr/bin/env python3
"""Train the small test tokenizers on ../shared/corpora text (offline, deterministic settings).

Writes Tests/KDTokenizersTests/Resources/{wordpiece-cased,bpe-bytelevel,unigram-metaspace}.json.
Usage: python3 tools/tokenizers/train_fixtures.py [--corpora ../shared/corpora]
"""
import argparse, os, sys
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, decoders, trainers, AddedToken
sys.path.insert(0, os.path.dirname(__file__))
from corpus_lines import corpus_lines

ap = argparse.ArgumentParser()
ap.add_argument("--corpora", default="../shared/corpora")
ap.add_argument("--out", default="Tests/KDTokenizersTests/Resources")
args = ap.parse_args()
texts = [t for _, lines in corpus_lines(args.corpora) for t in lines]

def save(tok, name):
    path = os.path.join(args.out, name)
    tok.save(path, pretty=False)
    print(path, os.path.getsize(path), "bytes, vocab", tok.get_vocab_size())

# Cased BERT WordPiece.
wp = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
wp.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
wp.train_from_iterator(texts, trainers.WordPieceTrainer(
    vocab_size=8000, min_frequency=2, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
cls, sep = wp.token_to_id("[CLS]"), wp.token_to_id("[SEP]")
wp.post_processor = processors.BertProcessing(("[SEP]", sep), ("[CLS]", cls))
wp.decoder = decoders.WordPiece(prefix="##")
save(wp, "wordpiece-cased.json")

# RoBERTa-style byte-level BPE.
bpe = Tokenizer(models.BPE())
bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
bpe.decoder = decoders.ByteLevel()
bpe.train_from_iterator(texts, trainers.BpeTrainer(
    vocab_size=8000, min_frequency=2, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
bpe.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
bpe.post_processor = processors.RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")),
                                                  trim_offsets=True, add_prefix_space=True)
save(bpe, "bpe-bytelevel.json")

# T5-style Unigram with Metaspace.
uni = Tokenizer(models.Unigram())
uni.normalizer = normalizers.NFKC()
uni.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
uni.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
uni.train_from_iterator(texts, trainers.UnigramTrainer(
    vocab_size=8000, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>", max_piece_length=16))
uni.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", uni.token_to_id("</s>"))])
save(uni, "unigram-metaspace.json")
