"""Decoders for the blobs of a kd store, and the label-fraction rule.

They mirror kd's Swift code exactly (file names below are under Sources/):

- token ids (``tokenizations.ids``): little-endian uint16 (``width`` 2) or
  uint32 (``width`` 4), special tokens included, no padding;
- teacher logits (``teacher_outputs.logits``, KDStore/TeacherOutputCodec.swift):
  ``f32`` = n little-endian float32; ``f16`` = n little-endian float16; ``topk``
  = the k largest logits as k float16 in descending order, then their class
  indices bit-packed LSB-first with ``max(1, ceil(log2(n)))`` bits each;
- embeddings (``teacher_outputs.embedding``): little-endian float16;
- the label-fraction rule (KDCore/LabelFraction.swift): the label of example
  ``id`` is kept under ``(fraction, seed)`` when
  ``splitmix64(fnv1a64(le64(id) ++ le64(seed))) >> 11 / 2**53 < fraction``.
"""

from __future__ import annotations

import struct

import numpy as np

_MASK = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3

TOKEN_DTYPES = {2: np.dtype("<u2"), 4: np.dtype("<u4")}
F32 = np.dtype("<f4")
F16 = np.dtype("<f2")


class KDStoreError(Exception):
    """A store that cannot be read: not kd's, a schema this reader does not know, or a bad value.

    The message names the file (and the example, teacher or column where one is at fault).
    """


def _splitmix_finalise(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def content_key(text_hash) -> int:
    """The content key of an example: its stored ``examples.text_hash`` (16 hex digits) read as a number.

    kd keys label-fraction sampling by content, so the kept labels do not depend on row ids or on
    how a corpus was sharded. A value that is not 1-16 hex digits (never written by kd) is keyed by
    the FNV-1a hash of its UTF-8 bytes, as kd does.
    """
    if isinstance(text_hash, bytes):
        text_hash = text_hash.decode("utf-8", "replace")
    if 1 <= len(text_hash) <= 16:
        try:
            return int(text_hash, 16)
        except ValueError:
            pass
    h = _FNV_OFFSET
    for b in text_hash.encode("utf-8"):
        h = ((h ^ b) * _FNV_PRIME) & _MASK
    return h


def label_unit_value(key: int, seed: int) -> float:
    """The example's position in [0, 1) under ``seed`` (its label is kept iff this is < fraction).

    ``key`` is the example's :func:`content_key`.
    """
    h = _FNV_OFFSET
    for b in struct.pack("<QQ", key & _MASK, seed & _MASK):
        h = ((h ^ b) * _FNV_PRIME) & _MASK
    return (_splitmix_finalise(h) >> 11) / float(1 << 53)


def label_kept(key: int, fraction: float, seed: int) -> bool:
    """Whether kd-train (and kd-teacher-cache's head fit) keep the label of the example with this content key."""
    if fraction >= 1:
        return True
    if not fraction > 0:
        return False
    return label_unit_value(key, seed) < fraction


def label_kept_mask(keys: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """:func:`label_kept` for an array of content keys at once (numpy uint64 arithmetic wraps like Swift's &*)."""
    u = np.asarray(keys, dtype=np.uint64)
    if fraction >= 1:
        return np.ones(len(u), dtype=bool)
    if not fraction > 0:
        return np.zeros(len(u), dtype=bool)
    prime = np.uint64(_FNV_PRIME)
    h = np.full(len(u), _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(8):
            h = (h ^ ((u >> np.uint64(8 * i)) & np.uint64(0xFF))) * prime
        for b in struct.pack("<Q", seed & _MASK):
            h = (h ^ np.uint64(b)) * prime
        z = h + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53) < fraction


def bits_per_index(num_outputs: int) -> int:
    bits = 1
    while (1 << bits) < num_outputs:
        bits += 1
    return bits


def decode_tokens(blob: bytes, width: int) -> np.ndarray:
    """Token ids as an int32 array (a fresh, writable copy)."""
    return np.frombuffer(blob, dtype=TOKEN_DTYPES[width]).astype(np.int32)


def decode_logits(blob: bytes, storage: str, num_outputs: int, top_k: int | None = None) -> np.ndarray:
    """Dense float32 logits of length ``num_outputs``.

    For ``topk`` storage, classes outside the kept k are ``-inf``: a softmax of
    the result is the teacher's distribution renormalised over the kept classes,
    which is what kd-train trains on.

    Raises:
        ValueError: when the blob's size does not match the storage, or a top-k index is out of range.
    """
    n = num_outputs
    if storage == "f32":
        if len(blob) != 4 * n:
            raise ValueError(f"teacher output blob has {len(blob)} bytes, expected {4 * n}")
        return np.frombuffer(blob, dtype=F32)
    if storage == "f16":
        if len(blob) != 2 * n:
            raise ValueError(f"teacher output blob has {len(blob)} bytes, expected {2 * n}")
        return np.frombuffer(blob, dtype=F16).astype(np.float32)
    if storage == "topk":
        if not top_k or top_k <= 0:
            raise ValueError("top-k storage needs k > 0")
        k = min(top_k, n)
        bits = bits_per_index(n)
        want = 2 * k + (k * bits + 7) // 8
        if len(blob) != want:
            raise ValueError(f"teacher output blob has {len(blob)} bytes, expected {want}")
        values = np.frombuffer(blob, dtype=F16, count=k).astype(np.float32)
        packed = np.frombuffer(blob, dtype=np.uint8, offset=2 * k)
        unpacked = np.unpackbits(packed, bitorder="little")[: k * bits].reshape(k, bits)
        indices = unpacked.astype(np.int64) @ (np.int64(1) << np.arange(bits, dtype=np.int64))
        if k and int(indices.max()) >= n:
            raise ValueError(f"top-k index {int(indices.max())} out of range ({n} outputs)")
        dense = np.full(n, -np.inf, dtype=np.float32)
        dense[indices] = values
        return dense
    raise ValueError(f"unknown teacher storage '{storage}' (expected f32, f16 or topk)")


def decode_logits_block(blobs: list, storage: str, num_outputs: int, top_k: int | None = None) -> np.ndarray:
    """:func:`decode_logits` for several blobs of one teacher at once: a ``(len(blobs), num_outputs)`` array.

    Raises:
        ValueError: as :func:`decode_logits` (the caller names the example).
    """
    n, count = num_outputs, len(blobs)
    if count == 0:
        return np.zeros((0, n), dtype=np.float32)
    if storage in ("f32", "f16"):
        size = (4 if storage == "f32" else 2) * n
        joined = b"".join(blobs)
        if len(joined) != size * count or any(len(b) != size for b in blobs):
            raise ValueError("blob size")
        return np.frombuffer(joined, dtype=F32 if storage == "f32" else F16).reshape(count, n).astype(np.float32)
    if storage == "topk":
        if not top_k or top_k <= 0:
            raise ValueError("top-k storage needs k > 0")
        k = min(top_k, n)
        bits = bits_per_index(n)
        size = 2 * k + (k * bits + 7) // 8
        if any(len(b) != size for b in blobs):
            raise ValueError("blob size")
        raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(count, size)
        values = raw[:, : 2 * k].copy().view(F16).astype(np.float32)
        unpacked = np.unpackbits(raw[:, 2 * k:], axis=1, bitorder="little")[:, : k * bits].reshape(count, k, bits)
        indices = unpacked.astype(np.int64) @ (np.int64(1) << np.arange(bits, dtype=np.int64))
        if k and int(indices.max()) >= n:
            raise ValueError("top-k index out of range")
        dense = np.full((count, n), -np.inf, dtype=np.float32)
        np.put_along_axis(dense, indices, values, axis=1)
        return dense
    raise ValueError(f"unknown teacher storage '{storage}' (expected f32, f16 or topk)")


def decode_embedding(blob: bytes) -> np.ndarray:
    """A pooled embedding (float16 on disk) as float32."""
    return np.frombuffer(blob, dtype=F16).astype(np.float32)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(z / T) in float32 along the last axis; ``-inf`` entries get probability 0."""
    z = np.asarray(logits, dtype=np.float32)
    m = z.max(axis=-1, keepdims=True)
    e = np.exp((z - m) * np.float32(1.0 / temperature))
    return e / e.sum(axis=-1, keepdims=True, dtype=np.float32)
