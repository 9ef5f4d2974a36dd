"""Turning a list of examples into padded numpy arrays."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def collate(examples: Sequence[dict], pad_id: int = 0, max_length: int | None = None) -> dict:
    """Stacks examples from :class:`kdstore.KDReader` into a batch of numpy arrays.

    Returns a dict with ``ids`` (int64, ``(B,)``), ``store`` (int32), ``input_ids`` (int64,
    ``(B, L)``, padded with ``pad_id``), ``attention_mask`` (int64, 1 for real tokens),
    ``lengths`` (int64), ``labels`` (int64, -1 = none), ``teacher_logits`` (float32,
    ``(B, teachers, classes)``, NaN rows where a teacher has no output), ``has_teacher``
    (bool, ``(B, teachers)``) and, when the examples carry them, ``teacher_probs``
    (float32 ``(B, classes)``, zero rows where absent) with ``has_probs`` (bool ``(B,)``).
    """
    b = len(examples)
    lengths = np.fromiter((len(e["input_ids"]) for e in examples), dtype=np.int64, count=b)
    width = int(lengths.max()) if b else 0
    if max_length is not None:
        width = min(width, max_length)
        lengths = np.minimum(lengths, max_length)
    ids = np.full((b, width), pad_id, dtype=np.int64)
    real = np.arange(width)[None, :] < lengths[:, None]
    if b:
        seqs = [e["input_ids"] for e in examples]
        if max_length is not None:
            seqs = [x[:max_length] for x in seqs]
        ids[real] = np.concatenate(seqs)
    mask = real.astype(np.int64)
    out = {
        "ids": np.fromiter((e["id"] for e in examples), dtype=np.int64, count=b),
        "store": np.fromiter((e["store"] for e in examples), dtype=np.int32, count=b),
        "input_ids": ids,
        "attention_mask": mask,
        "lengths": lengths,
        "labels": np.fromiter((e["label"] for e in examples), dtype=np.int64, count=b),
    }
    if b:
        logits = np.stack([e["teacher_logits"] for e in examples]).astype(np.float32, copy=False)
    else:
        logits = np.zeros((0, 0, 0), dtype=np.float32)
    out["teacher_logits"] = logits
    out["has_teacher"] = ~np.isnan(logits).all(axis=-1) if logits.size else np.zeros(logits.shape[:2], dtype=bool)
    if b and "teacher_probs" in examples[0]:
        classes = logits.shape[-1]
        has = np.fromiter((e["teacher_probs"] is not None for e in examples), dtype=bool, count=b)
        probs = np.zeros((b, classes), dtype=np.float32)
        if has.any():
            probs[has] = np.stack([e["teacher_probs"] for e in examples if e["teacher_probs"] is not None])
        out["teacher_probs"] = probs
        out["has_probs"] = has
    return out
