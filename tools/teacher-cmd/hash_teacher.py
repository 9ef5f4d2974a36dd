#!/usr/bin/env python3
"""A deterministic external teacher for pipeline tests (kd teacher protocol v1).

A fixed linear bag-of-words model: the logit of label L for a text is the mean,
over the text's lower-cased words, of a weight drawn from a hash of
(word, L). Its outputs depend only on the text and the label names, never on
which store or shard an example sits in, so a sharded pipeline must reproduce
an unsharded one exactly. It answers in its own (sorted) label order, so kd's
reordering by name is exercised too.

    kd-teacher-cache --db data.sqlite --teacher-cmd 'python3 tools/teacher-cmd/hash_teacher.py'
"""
import hashlib
import json
import re
import struct
import sys

WORD = re.compile(r"\w+")


def weight(word, label):
    h = hashlib.blake2b(f"{word}\x00{label}".encode(), digest_size=8).digest()
    return (struct.unpack("<Q", h)[0] / 2**64) * 4.0 - 2.0


def main():
    labels = None
    for line in sys.stdin:
        msg = json.loads(line)
        if labels is None:
            labels = sorted(msg["labels"])
            print(json.dumps({"kd_protocol": 1, "name": "hash-teacher", "num_outputs": len(labels),
                              "labels": labels, "checkpoint": "hash-teacher-v1"}), flush=True)
            continue
        words = WORD.findall(msg["text"].lower()) or [""]
        logits = [sum(weight(w, l) for w in words) / len(words) for l in labels]
        print(json.dumps({"id": msg["id"], "logits": logits}), flush=(msg.get("end_of_batch") is True))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
