"""Streaming examples, labels and cached teacher outputs out of kd stores.

The rows are selected exactly as kd-train's loader selects them
(Sources/KDTrain/StreamingLoader.swift and Sources/KDStore/Store+Training.swift):

- examples of the task and split, duplicates (``examples.duplicate_of``) skipped,
  with token ids of the task's tokenizer (the first teacher's, else the one most
  of the task's examples use);
- the label is the smallest class position among the example's labels of the task
  (-1 when unlabeled); with ``label_fraction < 1`` only the labels kd's
  label-fraction rule keeps remain (kd-train applies ``--label-fraction`` to the
  train split only);
- an example is yielded when it has something the loss can use: a (kept) label, or
  an output of one of the teachers (``require_label=True``: a kept label only, as
  kd-train evaluates; ``keep_all=True``: every example);
- the teachers' soft targets (``temperature`` given) are the weighted mean of
  ``softmax(z / T)`` over the teachers that have an output, as kd-train computes them.

Order: stores in the order given, then ascending example id. This is kd-train's
order with shuffling and length bucketing off (``kd-train dump-loader``). With
``shuffle=True`` blocks of ids are shuffled and examples pass a shuffle buffer, like
kd-train's loader but with numpy's generator: the same seed and epoch give the same
order, which is not kd-train's permutation.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from .codec import (TOKEN_DTYPES, KDStoreError, decode_embedding, decode_logits, decode_logits_block,
                    content_key, label_kept_mask)
from .schema import connect

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class TeacherInfo:
    """A teacher registered in a store (``teachers`` row)."""

    id: int
    name: str
    task_id: int | None
    tokenizer_id: int | None
    storage: str
    top_k: int | None
    num_outputs: int
    embedding_dim: int | None
    has_outputs: bool
    #: The calibration temperature kd-teacher-cache fitted on validation
    #: (``teachers.head_json`` → ``calibration.temperature``); 1.0 when none.
    #: kd-train divides the raw logits by it before its own softmax(z / T).
    calibration: float = 1.0


@dataclass
class StoreInfo:
    """What the reader resolved in one store: the task, tokenizer and teachers."""

    path: str
    schema_version: int
    task_id: int
    multi_label: bool
    labels: list[str]
    tokenizer_id: int
    tokenizer_name: str
    vocab_size: int
    teachers: list[TeacherInfo] = field(default_factory=list)


def list_tasks(path: str | os.PathLike) -> list[dict]:
    """The tasks of a store: name, labels, multi_label and whether any teacher output is cached."""
    conn = connect(path)
    try:
        out = []
        for tid, name, multi in conn.execute("SELECT id, name, multi_label FROM tasks ORDER BY name"):
            labels = [r[0] for r in conn.execute("SELECT name FROM labels WHERE task_id = ? ORDER BY position", (tid,))]
            cached = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM teachers h JOIN teacher_outputs o ON o.teacher_id = h.id "
                "WHERE h.task_id = ?)", (tid,)).fetchone()[0]
            out.append({"name": name, "labels": labels, "multi_label": bool(multi), "teacher_outputs": bool(cached)})
        return out
    finally:
        conn.close()


class KDReader:
    """Iterates one or several kd stores by task and split.

    Each example is a dict:

    - ``id`` (int): ``examples.id`` in its store; ``store`` (int): index into ``paths``;
    - ``input_ids`` (int32 array): token ids, special tokens included, no padding
      (cut to ``max_tokens`` when given; kd-train cuts to its ``--max-tokens``, 256 by default);
    - ``label`` (int): class position, -1 when unlabeled or masked by ``label_fraction``;
    - ``teacher_logits`` (float32 array, shape ``(len(teachers), num_classes)``): raw
      cached logits per teacher; a teacher without an output for the example gives a row
      of NaN; classes outside a top-k teacher's kept k are ``-inf``;
    - ``teacher_probs`` (float32 array, ``(num_classes,)``, or None when no teacher has an
      output or ``use_teachers`` is off), only when ``temperature`` is given: the soft
      targets kd-train trains on;
    - ``teacher_embeddings`` (list of float32 arrays or None, one per teacher), only with
      ``embeddings=True``.

    Arrays from the store may be read-only views: copy one before writing to it.

    For example::

        reader = KDReader("data.sqlite", task="banking77", split="train", temperature=2.0)
        for ex in reader:
            ex["input_ids"], ex["label"], ex["teacher_probs"]

    Args:
        paths: one store or a list of stores (the same task and label vocabulary in each).
        task: the task's name; may be omitted when the first store has exactly one task.
        split: ``train``, ``validation`` or ``test``.
        teachers: teacher names; default: the task's only teacher with cached outputs
            (none when no teacher has outputs; an error when several do).
        teacher_weights: weight of each teacher in ``teacher_probs`` (default all 1).
        temperature: T of ``teacher_probs``; None leaves them out.
        label_fraction, label_seed: keep labels only for this share of examples, by kd's rule.
        use_labels, use_teachers: kd-train's ``alpha > 0`` and ``alpha < 1``: what makes
            an example useful, and whether labels / soft targets are given.
        require_label: only examples with a kept label (kd-train's evaluation reads).
        keep_all: every example of the split, useful or not.
        max_tokens: cut ``input_ids`` to this many ids.
        domains: only examples of these domains.
        embeddings: also read cached pooled embeddings.
        shuffle, seed, shuffle_buffer, block_size: see the module docstring.

    Raises:
        KDStoreError: a store that is not kd's or of an unknown schema version, an unknown
            task or teacher, stores that disagree, or a bad value (naming file and example).
    """

    def __init__(self, paths: str | os.PathLike | Sequence[str | os.PathLike], task: str | None = None,
                 split: str = "train", teachers: Sequence[str] | None = None,
                 teacher_weights: Sequence[float] | None = None, temperature: float | None = None,
                 label_fraction: float = 1.0, label_seed: int = 0, use_labels: bool = True,
                 use_teachers: bool = True, require_label: bool = False, keep_all: bool = False,
                 max_tokens: int | None = None, domains: Sequence[str] | None = None, embeddings: bool = False,
                 shuffle: bool = False, seed: int = 0, shuffle_buffer: int = 16384, block_size: int = 4096):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [os.fspath(p) for p in paths]
        if not self.paths:
            raise KDStoreError("KDReader needs at least one store")
        if split not in SPLITS:
            raise KDStoreError(f"split '{split}': expected one of {', '.join(SPLITS)}")
        if temperature is not None and not temperature > 0:
            raise KDStoreError(f"temperature must be positive, got {temperature}")
        if max_tokens is not None and max_tokens <= 0:
            raise KDStoreError(f"max_tokens must be positive, got {max_tokens}")
        self.split = split
        self.temperature = temperature
        self.label_fraction = float(label_fraction)
        self.label_seed = int(label_seed)
        self.use_labels = use_labels
        self.use_teachers = use_teachers
        self.require_label = require_label
        self.keep_all = keep_all
        self.max_tokens = max_tokens
        self.domains = list(domains or [])
        self.embeddings = embeddings
        self.shuffle = shuffle
        self.seed = int(seed)
        self.shuffle_buffer = max(1, int(shuffle_buffer))
        self.block_size = max(1, int(block_size))
        self.task = task if task is not None else self._only_task(self.paths[0])
        self.teacher_names = list(teachers or [])
        self.stores: list[StoreInfo] = []
        for i, p in enumerate(self.paths):
            self.stores.append(self._resolve(p, i))
        first = self.stores[0]
        self.labels = first.labels
        self.vocab_size = first.vocab_size
        self.teacher_weights = [float(w) for w in teacher_weights] if teacher_weights else [1.0] * len(self.teacher_names)
        if len(self.teacher_weights) != len(self.teacher_names):
            raise KDStoreError(f"{len(self.teacher_weights)} teacher weights for {len(self.teacher_names)} teachers")

    # ---- metadata --------------------------------------------------------------------------

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def teachers(self) -> list[str]:
        return list(self.teacher_names)

    @staticmethod
    def _only_task(path: str) -> str:
        tasks = list_tasks(path)
        with_outputs = [t["name"] for t in tasks if t["teacher_outputs"]]
        if len(with_outputs) == 1:
            return with_outputs[0]
        if len(tasks) == 1:
            return tasks[0]["name"]
        names = ", ".join(t["name"] for t in tasks) or "none"
        raise KDStoreError(f"{path}: name a task (tasks: {names})")

    def _resolve(self, path: str, index: int) -> StoreInfo:
        conn = connect(path)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            row = conn.execute("SELECT id, multi_label FROM tasks WHERE name = ?", (self.task,)).fetchone()
            if row is None:
                known = ", ".join(r[0] for r in conn.execute("SELECT name FROM tasks ORDER BY name")) or "none"
                raise KDStoreError(f"{path}: no task '{self.task}' (tasks: {known})")
            task_id, multi = int(row[0]), bool(row[1])
            labels = [r[0] for r in conn.execute("SELECT name FROM labels WHERE task_id = ? ORDER BY position", (task_id,))]
            if index > 0 and labels != self.stores[0].labels:
                raise KDStoreError(f"{path}: label vocabulary of task '{self.task}' differs from {self.paths[0]}'s "
                                   f"({len(labels)} vs {len(self.stores[0].labels)} labels, in class order)")
            available = []
            for r in conn.execute(
                    "SELECT h.id, h.name, h.task_id, h.tokenizer_id, h.storage, h.top_k, h.num_outputs, h.embedding_dim, "
                    "EXISTS (SELECT 1 FROM teacher_outputs o WHERE o.teacher_id = h.id), "
                    "CASE WHEN json_valid(h.head_json) THEN json_extract(h.head_json, '$.calibration.temperature') END "
                    "FROM teachers h WHERE h.task_id = ? OR h.task_id IS NULL ORDER BY h.name", (task_id,)):
                cal = r[9]
                if cal is not None and not (isinstance(cal, (int, float)) and cal > 0):
                    raise KDStoreError(f"{path}: teacher '{r[1]}': calibration temperature is not positive: {cal!r} "
                                       "(teachers.head_json.calibration)")
                available.append(TeacherInfo(int(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6]), r[7], bool(r[8]),
                                             float(cal) if cal is not None else 1.0))
            if not self.teacher_names:
                with_outputs = [t.name for t in available if t.has_outputs]
                if len(with_outputs) == 1:
                    self.teacher_names = with_outputs
                elif len(with_outputs) > 1:
                    raise KDStoreError(f"{path}: task '{self.task}' has several teachers with outputs "
                                       f"({', '.join(with_outputs)}); choose with teachers=[...]")
            chosen = []
            for name in self.teacher_names:
                t = next((t for t in available if t.name == name), None)
                if t is None:
                    raise KDStoreError(f"{path}: no teacher '{name}' for task '{self.task}' "
                                       f"(teachers: {', '.join(a.name for a in available) or 'none'})")
                if t.num_outputs != len(labels):
                    raise KDStoreError(f"{path}: teacher '{name}' has {t.num_outputs} outputs but task '{self.task}' "
                                       f"has {len(labels)} labels (label vocabulary mismatch)")
                if t.storage not in ("f32", "f16", "topk"):
                    raise KDStoreError(f"{path}: teacher '{name}': unknown storage '{t.storage}'")
                chosen.append(t)
            toks = conn.execute(
                "SELECT k.id, k.name, k.vocab_size FROM tokenizers k "
                "JOIN (SELECT tokenizer_id, COUNT(*) AS n FROM tokenizations t JOIN examples e ON e.id = t.example_id "
                "WHERE e.task_id = ? GROUP BY tokenizer_id) c ON c.tokenizer_id = k.id ORDER BY c.n DESC, k.id",
                (task_id,)).fetchall()
            if not toks:
                raise KDStoreError(f"{path}: task '{self.task}' has no tokenized examples (run kd-ingest with a tokenizer)")
            preferred = chosen[0].tokenizer_id if chosen else None
            tok = next((t for t in toks if t[0] == preferred), toks[0])
            if index > 0 and tok[2] != self.stores[0].vocab_size:
                raise KDStoreError(f"{path}: tokenizer '{tok[1]}' (vocab {tok[2]}) differs from {self.paths[0]}'s "
                                   f"(vocab {self.stores[0].vocab_size})")
            return StoreInfo(path, version, task_id, multi, labels, int(tok[0]), tok[1], int(tok[2]), chosen)
        finally:
            conn.close()

    # ---- reading -------------------------------------------------------------------------------

    def _sql(self, info: StoreInfo) -> str:
        cols = ["e.id AS id",
                "IFNULL((SELECT MIN(l.position) FROM example_labels el CROSS JOIN labels l ON l.id = el.label_id "
                "WHERE el.example_id = e.id AND l.task_id = :task), -1) AS label",
                "t.width AS width", "t.ids AS ids"]
        joins = []
        for i, _ in enumerate(info.teachers):
            cols.append(f"o{i}.logits AS logits{i}")
            if self.embeddings:
                cols.append(f"o{i}.embedding AS embedding{i}")
            joins.append(f"LEFT JOIN teacher_outputs o{i} ON o{i}.teacher_id = :teacher{i} AND o{i}.example_id = e.id")
        cols.append("e.text_hash AS text_hash")
        sql = ("SELECT " + ", ".join(cols) + " FROM examples e "
               "JOIN tokenizations t ON t.example_id = e.id AND t.tokenizer_id = :tokenizer " + " ".join(joins)
               + " WHERE e.id >= :lo AND e.id < :hi AND e.task_id = :task AND e.split = :split"
               " AND e.duplicate_of IS NULL")
        if self.domains:
            sql += " AND e.domain IN (" + ", ".join(f":domain{i}" for i in range(len(self.domains))) + ")"
        return sql + " ORDER BY e.id"

    def _params(self, info: StoreInfo) -> dict:
        p = {"task": info.task_id, "tokenizer": info.tokenizer_id, "split": self.split}
        for i, t in enumerate(info.teachers):
            p[f"teacher{i}"] = t.id
        for i, d in enumerate(self.domains):
            p[f"domain{i}"] = d
        return p

    def blocks(self) -> list[tuple[int, int, int]]:
        """The id blocks ``(store, lo, hi)`` of the split, in order (the unit of sharding)."""
        out = []
        for si, info in enumerate(self.stores):
            conn = connect(info.path)
            try:
                lo, hi = conn.execute("SELECT MIN(id), MAX(id) FROM examples WHERE task_id = ? AND split = ?",
                                      (info.task_id, self.split)).fetchone()
            finally:
                conn.close()
            if lo is None:
                continue
            start = int(lo)
            while start <= hi:
                end = min(int(hi) + 1, start + self.block_size)
                out.append((si, start, end))
                start = end
        return out

    def __iter__(self) -> Iterator[dict]:
        return self.iter()

    def iter(self, shard: int = 0, num_shards: int = 1, epoch: int = 0) -> Iterator[dict]:
        """The examples of shard ``shard`` of ``num_shards`` (blocks of ids dealt round-robin).

        The shards of one ``num_shards`` are disjoint and together hold every example.
        """
        if not 0 <= shard < num_shards:
            raise KDStoreError(f"shard {shard} is not in 0..<{num_shards}")
        blocks = [b for i, b in enumerate(self.blocks()) if i % num_shards == shard]
        if not self.shuffle:
            yield from self._read(blocks)
            return
        rng = random.Random(f"kdstore:{self.seed}:{epoch}:{shard}:{num_shards}")
        rng.shuffle(blocks)
        buffer: list[dict] = []
        size = self.shuffle_buffer
        for ex in self._read(blocks):
            buffer.append(ex)
            if len(buffer) >= size:
                j = rng.randrange(len(buffer))
                buffer[j], buffer[-1] = buffer[-1], buffer[j]
                yield buffer.pop()
        rng.shuffle(buffer)
        yield from buffer

    def _read(self, blocks: list[tuple[int, int, int]]) -> Iterator[dict]:
        conns: dict[int, object] = {}
        try:
            for si, lo, hi in blocks:
                if si not in conns:
                    conns[si] = connect(self.stores[si].path)
                yield from self._read_block(conns[si], si, lo, hi)
        finally:
            for c in conns.values():
                c.close()

    def _read_block(self, conn, si: int, lo: int, hi: int) -> Iterator[dict]:
        """The examples of one id block, decoded a block at a time (columns, then one dict per example)."""
        info = self.stores[si]
        params = self._params(info)
        params["lo"], params["hi"] = lo, hi
        rows = conn.execute(self._sql(info), params).fetchall()
        if not rows:
            return
        nt = len(info.teachers)
        nc = len(self.labels)
        stride = 2 if self.embeddings else 1
        cols = list(zip(*rows))
        count = len(rows)
        ids = np.fromiter(cols[0], dtype=np.int64, count=count)
        labels = np.fromiter(cols[1], dtype=np.int64, count=count)
        present = [np.fromiter((b is not None for b in cols[4 + i * stride]), dtype=bool, count=count)
                   for i in range(nt)]
        any_teacher = np.logical_or.reduce(present) if nt else np.zeros(count, dtype=bool)

        # Which rows the loss can use, with kd-train's label masking.
        if self.label_fraction < 1:
            keys = np.fromiter((content_key(h) for h in cols[-1]), dtype=np.uint64, count=count)
            labels = np.where((labels >= 0) & ~label_kept_mask(keys, self.label_fraction, self.label_seed), -1, labels)
        if self.keep_all:
            keep = np.ones(count, dtype=bool)
        elif self.require_label:
            keep = labels >= 0
        else:
            keep = ((labels >= 0) & self.use_labels) | (any_teacher & self.use_teachers)
        if not keep.any():
            return
        if not self.use_labels:
            labels = np.full(count, -1, dtype=np.int64)
        bad = keep & (labels >= nc)
        if bad.any():
            i = int(np.argmax(bad))
            raise KDStoreError(f"{info.path}: example {ids[i]}: label position {labels[i]} >= {nc} classes "
                               "(labels.position)")

        # Token ids: one buffer per block, a view per example.
        widths = cols[2]
        width = widths[0]
        blobs = cols[3]
        if width in TOKEN_DTYPES and widths.count(width) == count:
            flat = np.frombuffer(b"".join(blobs), dtype=TOKEN_DTYPES[width]).astype(np.int32)
            lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=count) // width
        else:
            for i, w in enumerate(widths):
                if w not in TOKEN_DTYPES:
                    raise KDStoreError(f"{info.path}: example {ids[i]}: token width {w} (expected 2 or 4) "
                                       "(tokenizations.width)")
            parts = [np.frombuffer(b, dtype=TOKEN_DTYPES[w]).astype(np.int32) for b, w in zip(blobs, widths)]
            flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
            lengths = np.fromiter((len(x) for x in parts), dtype=np.int64, count=count)
        offsets = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if len(flat) and int(flat.max()) >= self.vocab_size:
            at = int(np.searchsorted(offsets, int(np.argmax(flat >= self.vocab_size)), side="right")) - 1
            raise KDStoreError(f"{info.path}: example {ids[at]}: token id {int(flat.max())} outside the vocabulary "
                               f"(size {self.vocab_size}) (tokenizations.ids)")
        ends = offsets[1:] if self.max_tokens is None else np.minimum(offsets[1:], offsets[:-1] + self.max_tokens)

        # Teacher logits: (rows, teachers, classes), NaN where a teacher has no output.
        logits = np.full((count, nt, nc), np.nan, dtype=np.float32)
        for t, teacher in enumerate(info.teachers):
            have = present[t]
            if not have.any():
                continue
            column = cols[4 + t * stride]
            chosen = [b for b in column if b is not None]
            try:
                logits[have, t, :] = decode_logits_block(chosen, teacher.storage, teacher.num_outputs, teacher.top_k)
            except ValueError:
                for i, b in enumerate(column):  # find and name the bad example
                    if b is not None:
                        try:
                            decode_logits(b, teacher.storage, teacher.num_outputs, teacher.top_k)
                        except ValueError as e:
                            raise KDStoreError(f"{info.path}: example {ids[i]}, teacher '{teacher.name}': {e} "
                                               "(teacher_outputs.logits)") from None
                raise
        probs = None
        if self.temperature is not None:
            probs = self._targets(logits, present, keep & any_teacher, ids, info)
        embeddings = None
        if self.embeddings:
            embeddings = []
            for t in range(nt):
                column = cols[5 + t * 2]
                embeddings.append([None if b is None else decode_embedding(b) for b in column])

        starts = offsets[:-1].tolist()
        ends = ends.tolist()
        id_list = ids.tolist()
        label_list = labels.tolist()
        give_probs = probs is not None and self.use_teachers
        with_probs = self.temperature is not None
        probs_ok = (keep & any_teacher).tolist() if give_probs else None
        for i in np.flatnonzero(keep).tolist():
            ex = {"id": id_list[i], "store": si, "input_ids": flat[starts[i]:ends[i]], "label": label_list[i],
                  "teacher_logits": logits[i]}
            if with_probs:
                ex["teacher_probs"] = probs[i] if give_probs and probs_ok[i] else None
            if embeddings is not None:
                ex["teacher_embeddings"] = [e[i] for e in embeddings]
            yield ex

    def _targets(self, logits: np.ndarray, present: list, rows: np.ndarray, ids: np.ndarray, info: StoreInfo):
        """kd-train's soft targets: the weighted mean over teachers with an output of softmax(z / T)."""
        count, nt, nc = logits.shape
        inv = np.float32(1.0 / self.temperature)
        target = np.zeros((count, nc), dtype=np.float32)
        weight_sum = np.zeros(count, dtype=np.float32)
        for t in range(nt):
            have = present[t]
            if not have.any():
                continue
            z = logits[have, t, :]
            # kd-train reads raw logits times 1/T_cal (its calibration), then softmax(z / T).
            scale = np.float32(1) / np.float32(info.teachers[t].calibration) if t < len(info.teachers) else np.float32(1)
            if scale != 1:
                z = z * scale
            e = np.exp((z - z.max(axis=1, keepdims=True)) * inv)
            w = np.float32(self.teacher_weights[t]) if t < len(self.teacher_weights) else np.float32(1)
            target[have] += e * (w / e.sum(axis=1, keepdims=True, dtype=np.float32))
            weight_sum[have] += w
        positive = weight_sum > 0
        target[positive] *= (np.float32(1) / weight_sum[positive])[:, None]
        bad = rows & ~np.isfinite(target).all(axis=1)
        if bad.any():
            raise KDStoreError(f"{info.path}: example {ids[int(np.argmax(bad))]}: teacher output is not finite "
                               "(NaN or inf logits) (teacher_outputs.logits)")
        return target

    def count(self) -> int:
        """Examples one pass yields (reads every row)."""
        return sum(1 for _ in self._read(self.blocks()))

    def batches(self, batch_size: int = 256, pad_id: int = 0, shard: int = 0, num_shards: int = 1,
                epoch: int = 0) -> Iterator[dict]:
        """Padded numpy batches of ``batch_size`` examples (see :func:`kdstore.collate`)."""
        from .collate import collate
        chunk: list[dict] = []
        for ex in self.iter(shard, num_shards, epoch):
            chunk.append(ex)
            if len(chunk) == batch_size:
                yield collate(chunk, pad_id=pad_id)
                chunk = []
        if chunk:
            yield collate(chunk, pad_id=pad_id)

    def config(self) -> dict:
        """The constructor's arguments (to rebuild the reader in another process)."""
        return {"paths": self.paths, "task": self.task, "split": self.split, "teachers": self.teacher_names,
                "teacher_weights": self.teacher_weights, "temperature": self.temperature,
                "label_fraction": self.label_fraction, "label_seed": self.label_seed, "use_labels": self.use_labels,
                "use_teachers": self.use_teachers, "require_label": self.require_label, "keep_all": self.keep_all,
                "max_tokens": self.max_tokens, "domains": self.domains, "embeddings": self.embeddings,
                "shuffle": self.shuffle, "seed": self.seed, "shuffle_buffer": self.shuffle_buffer,
                "block_size": self.block_size}
