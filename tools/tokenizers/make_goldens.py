#!/usr/bin/env python3
"""Produce golden ids/offsets with HF `tokenizers` for the Swift parity tests.

For each test tokenizer this writes, under Tests/KDTokenizersTests/Resources/:
- golden-<name>.json: full ids and offsets for hard cases and a sample of short corpus
  lines, overflow windows, file truncation/padding, and decode results;
- corpus-digest-<name>.json: for every corpus file, a digest of the HF ids and offsets of
  each chunk of CHUNK lines (see corpus_lines.py), so that the Swift test can check every
  line of ../shared/corpora without Python and without committing megabytes.

Usage: python3 tools/tokenizers/make_goldens.py [--corpora ../shared/corpora]
"""
import argparse, hashlib, json, os, random, sys
from tokenizers import Tokenizer
sys.path.insert(0, os.path.dirname(__file__))
from corpus_lines import corpus_lines

CHUNK = 256
MASK = (1 << 64) - 1

HARD = [
    "", " ", "   ", "\t\n", "Hello world!", "Hello, World! How are you?", "don't stop-believing... 'quoted' \"double\"",
    "UPPER lower MiXeD", "naïve café résumé Ångström Ærø", "e\u0301 a\u0300 o\u0308 combining marks",
    "İstanbul ǅ ß ﬁ ẞ Σσς", "中文字符和日本語の文章と한국어", "Emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flags 🇺🇸 🥰🫠",
    "Arabic: مرحبا بالعالم, Hebrew: שלום עולם", "zero\u200bwidth\u200cjoiner\u200d and\u00a0nbsp\u2009thin\u3000ideographic",
    "control\x00chars\x01\x07\x1b[0m\x7f\x85here", "soft\u00adhyphen bom\ufeffmark \ufffd replacement",
    "x" * 150, "pneumonoultramicroscopicsilicovolcanoconiosis" * 3, "a" * 99 + " " + "b" * 100 + " " + "c" * 101,
    "1234567890 3.14159 1,000,000 ½ ² ٣ ४ 12th", "tabs\tand\nnewlines\r\nmixed", "multiple    spaces   here  ",
    "  leading and trailing  ", "[CLS] [SEP] [MASK] [PAD] [UNK] <s> </s> <mask> <pad> <unk>",
    "Mask<mask>inside and  <mask> spaced", "he said [MASK]. then[MASK]x", "URL https://example.com/a?b=c&d=e#f email a.b@c.de",
    "p53 IL-6 TNF-α β-blocker 5-HT₃ Na⁺/K⁺-ATPase 10⁻⁶ mg/kg·day", "§ 1983(a)(2)(B)(iii) U.S.C. ¶ 12",
    "$1,234.56 €99 £5 ¥100 ₹20 10% Q3-2024", "Ελληνικά кириллица ไทย देवनागरी ქართული", "‘smart’ “quotes” — dashes – … ellipsis",
    "\u0301leading combining", "trailing combining\u0301", "Hangul jamo \u1100\u1161\u11a8 and syllable 각",
    "fullwidth ＡＢＣ１２３ halfwidth ｶﾀｶﾅ", "ligatures ﬀ ﬃ ﬆ and roman Ⅻ ⅻ", "math 𝐀𝐁𝐂 𝔸𝔹 ∑∫∂√∞≠≤≥",
    "'s 't 're 've 'm 'll 'd 'S 'T it's we're I'M", "a\u0308\u0301\u0323 stacked", "\U0001F600" * 30,
    "The quick brown fox jumps over the lazy dog. " * 20,
]

def line_digest_update(h, ids, offsets):
    for v in ids:
        h = ((h ^ (v & 0xFFFFFFFF)) * 0x100000001B3) & MASK
    h = ((h ^ 0xFFFFFFFF) * 0x100000001B3) & MASK
    for s, e in offsets:
        h = ((h ^ s) * 0x100000001B3) & MASK
        h = ((h ^ e) * 0x100000001B3) & MASK
    h = ((h ^ 0xFFFFFFFE) * 0x100000001B3) & MASK
    return h

_file_hashes = {}
def file_hash(path):
    """FNV-1a 64 of the file bytes (KDCore StableHash), so the test can tell a changed corpus file."""
    if path not in _file_hashes:
        h = 0xCBF29CE484222325
        for b in open(path, "rb").read():
            h = ((h ^ b) * 0x100000001B3) & MASK
        _file_hashes[path] = "%016x" % h
    return _file_hashes[path]

def enc_dict(e):
    return {"ids": e.ids, "offsets": [list(o) for o in e.offsets]}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpora", default="../shared/corpora")
    ap.add_argument("--res", default="Tests/KDTokenizersTests/Resources")
    ap.add_argument("--minilm", default="models/all-MiniLM-L6-v2/tokenizer.json")
    args = ap.parse_args()
    toks = {
        "minilm": args.minilm,
        "wordpiece-cased": os.path.join(args.res, "wordpiece-cased.json"),
        "bpe-bytelevel": os.path.join(args.res, "bpe-bytelevel.json"),
        "unigram-metaspace": os.path.join(args.res, "unigram-metaspace.json"),
    }
    corpus = list(corpus_lines(args.corpora)) if os.path.isdir(args.corpora) else []
    rng = random.Random(1234)
    short = [t for _, lines in corpus for t in lines if 0 < len(t) <= 200]
    sample = rng.sample(short, min(60, len(short)))
    for name, path in toks.items():
        raw = Tokenizer.from_file(path)
        file_trunc, file_pad = raw.truncation, raw.padding
        tok = Tokenizer.from_file(path)
        tok.no_truncation(); tok.no_padding()
        cases = []
        for text in HARD + sample:
            e = tok.encode(text)
            n = tok.encode(text, add_special_tokens=False)
            cases.append({"text": text, **enc_dict(e), "ids_no_special": n.ids,
                          "special_tokens_mask": e.special_tokens_mask, "type_ids": e.type_ids,
                          "decoded": tok.decode(e.ids), "decoded_with_special": tok.decode(e.ids, skip_special_tokens=False)})
        windows = []
        for text in [HARD[-1], HARD[12] * 3, sample[0] * 4 if sample else HARD[4] * 40]:
            for max_len, stride in [(16, 4), (32, 0), (12, 9)]:
                t2 = Tokenizer.from_file(path); t2.no_padding()
                t2.enable_truncation(max_length=max_len, stride=stride)
                e = t2.encode(text)
                windows.append({"text": text, "max_length": max_len, "stride": stride,
                                "windows": [enc_dict(e)] + [enc_dict(o) for o in e.overflowing]})
        file_settings = []
        if file_trunc or file_pad:
            for text in [HARD[4], HARD[-1]]:
                e = raw.encode(text)
                file_settings.append({"text": text, **enc_dict(e), "attention_mask": e.attention_mask,
                                      "overflowing": [enc_dict(o) for o in e.overflowing]})
        golden = {"tokenizer": name, "tokenizers_version": __import__("tokenizers").__version__,
                  "cases": cases, "windows": windows, "file_settings": file_settings,
                  "vocab_size": tok.get_vocab_size()}
        out = os.path.join(args.res, f"golden-{name}.json")
        with open(out, "w") as f:
            json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        print(out, os.path.getsize(out))
        if not corpus:
            continue
        files = {}
        for rel, lines in corpus:
            encs = tok.encode_batch(lines) if lines else []
            chunks = []
            for c in range(0, len(lines), CHUNK):
                h = 0xCBF29CE484222325
                for e in encs[c:c + CHUNK]:
                    h = line_digest_update(h, e.ids, e.offsets)
                chunks.append("%016x" % h)
            files[rel] = {"fnv1a64": file_hash(os.path.join(args.corpora, rel)), "lines": len(lines), "chunks": chunks}
        out = os.path.join(args.res, f"corpus-digest-{name}.json")
        with open(out, "w") as f:
            json.dump({"tokenizer": name, "chunk": CHUNK, "files": files}, f, indent=0)
        print(out, os.path.getsize(out))

main()
