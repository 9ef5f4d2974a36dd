"""The numpy reader on a real store: equal to kd-train's loader, the codecs, the schema check, sharding."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from conftest import TASK, dump_loader, run_kd
from kdstore import (SUPPORTED_SCHEMA_VERSIONS, KDReader, KDStoreError, collate, decode_logits, label_kept,
                     label_unit_value, list_tasks, schema_version)
from kdstore.codec import decode_logits_block, label_kept_mask


def teacher_names(db) -> dict:
    """Teacher names in the store by storage (f32, f16, topk)."""
    with sqlite3.connect(db) as c:
        return {storage: name for name, storage in c.execute("SELECT name, storage FROM teachers")}


def f32_reader(db, **kw) -> KDReader:
    """A reader of the default (f32) teacher: the store has three, so one must be named."""
    return KDReader(db, task=TASK, teachers=[teacher_names(db)["f32"]], **kw)


def assert_same_as_loader(expected: list[dict], reader: KDReader, probs: bool = True) -> None:
    got = list(reader)
    assert [e["id"] for e in got] == [e["id"] for e in expected]
    assert len(got) > 20
    for g, e in zip(got, expected):
        assert g["store"] == e["source"]
        assert g["label"] == e["label"], g["id"]
        assert g["input_ids"].tolist() == e["tokens"], g["id"]
        if not probs:
            continue
        if e["teacher"]:
            assert g["teacher_probs"] is not None, g["id"]
            np.testing.assert_allclose(g["teacher_probs"], np.array(e["teacher"], dtype=np.float32), atol=2e-7,
                                       rtol=1e-5, err_msg=f"example {g['id']}")
        else:
            assert g["teacher_probs"] is None


def test_train_split_equals_kd_train_loader_with_label_fraction_and_temperature(store):
    f32 = teacher_names(store)["f32"]
    expected = dump_loader(store, "--teacher", f32, "--split", "train", "--temperature", "2", "--label-fraction", "0.5",
                           "--label-seed", "3", "--max-tokens", "24")
    # The label fraction masks some labels and keeps the unlabeled rows that have teacher outputs.
    assert any(e["label"] == -1 for e in expected) and any(e["label"] >= 0 for e in expected)
    assert any(len(e["tokens"]) == 24 for e in expected)
    reader = KDReader(store, task=TASK, split="train", teachers=[f32], temperature=2.0, label_fraction=0.5,
                      label_seed=3, max_tokens=24)
    assert_same_as_loader(expected, reader)


def test_evaluation_reads_equal_kd_train_loader(store):
    expected = dump_loader(store, "--teacher", teacher_names(store)["f32"], "--split", "test", "--eval")
    assert all(e["label"] >= 0 for e in expected)
    reader = f32_reader(store, split="test", require_label=True, temperature=1.0, max_tokens=256)
    assert_same_as_loader(expected, reader)


def test_baseline_without_teachers_equals_loader(store):
    # --alpha 1: only labeled rows are useful and no soft targets are given.
    expected = dump_loader(store, "--teacher", teacher_names(store)["f32"], "--split", "train", "--alpha", "1")
    assert all(e["label"] >= 0 and not e["teacher"] for e in expected)
    reader = f32_reader(store, split="train", use_teachers=False, temperature=2.0, max_tokens=256)
    assert_same_as_loader(expected, reader)


@pytest.mark.parametrize("storage", ["f16", "topk"])
def test_f16_and_topk_teachers_equal_loader(store, storage):
    name = teacher_names(store)[storage]
    expected = dump_loader(store, "--teacher", name, "--split", "validation", "--temperature", "3")
    reader = KDReader(store, task=TASK, split="validation", teachers=[name], temperature=3.0, max_tokens=256)
    assert_same_as_loader(expected, reader)
    if storage == "topk":
        ex = next(iter(reader))
        assert np.isfinite(ex["teacher_logits"][0]).sum() == 3
        assert (ex["teacher_probs"] > 0).sum() == 3


def test_two_weighted_teachers_and_two_stores_equal_loader(store, store_copy):
    names = teacher_names(store)
    expected = dump_loader(store, "--extra-db", str(store_copy), "--teacher", names["f32"], "--teacher", names["topk"],
                           "--teacher-weight", "0.7", "--teacher-weight", "0.3", "--split", "train",
                           "--temperature", "2")
    assert {e["source"] for e in expected} == {0, 1}
    reader = KDReader([store, store_copy], task=TASK, split="train", teachers=[names["f32"], names["topk"]],
                      teacher_weights=[0.7, 0.3], temperature=2.0, max_tokens=256)
    assert_same_as_loader(expected, reader)
    assert next(iter(reader))["teacher_logits"].shape == (2, len(reader.labels))


def test_raw_logits_and_embeddings_equal_the_cached_outputs(store):
    name = teacher_names(store)["f32"]
    out = run_kd("kd-teacher-cache", "dump", "--db", str(store), "--teacher", name, "--split", "train",
                 "--embeddings").stdout
    cached = {}
    for line in out.splitlines():
        o = json.loads(line)
        cached[o["id"] if "id" in o else o["example_id"]] = o
    reader = KDReader(store, task=TASK, split="train", teachers=[name], embeddings=True, keep_all=True)
    seen = 0
    for ex in reader:
        if ex["id"] not in cached:
            continue
        o = cached[ex["id"]]
        np.testing.assert_allclose(ex["teacher_logits"][0], np.array(o["logits"], dtype=np.float32), rtol=1e-6,
                                   atol=1e-6)
        emb = o.get("embedding")
        if emb is not None:
            np.testing.assert_allclose(ex["teacher_embeddings"][0], np.array(emb, dtype=np.float32), atol=1e-3)
            assert ex["teacher_embeddings"][0].shape == (384,)
        seen += 1
    assert seen == len(cached) > 20


def test_duplicates_are_skipped(store):
    with sqlite3.connect(store) as c:
        dups = {r[0] for r in c.execute("SELECT id FROM examples WHERE duplicate_of IS NOT NULL")}
    assert dups, "the fixture adds one duplicate row"
    ids = set()
    for split in ("train", "validation", "test"):
        ids |= {ex["id"] for ex in f32_reader(store, split=split, keep_all=True)}
    assert ids and not (ids & dups)


def test_label_fraction_rule_matches_kd():
    # The values pinned in Tests/KDTrainTests/LabelFractionTests.swift.
    assert abs(label_unit_value(1, 0) - 0.079713699181711) < 1e-12
    assert abs(label_unit_value(2, 0) - 0.3509855677318441) < 1e-12
    assert abs(label_unit_value(12345, 42) - 0.19585803575938243) < 1e-12
    assert abs(label_unit_value(-7, 7) - 0.22126707931668987) < 1e-12
    assert int(label_kept_mask(np.arange(1, 100_001), 0.1, 0).sum()) == 10038


def test_vectorised_label_fraction_equals_the_scalar_rule():
    ids = np.array(list(range(-50, 3000)) + [2**62, -2**63 + 5], dtype=np.int64)
    for fraction, seed in [(0.1, 0), (0.5, 3), (0.9, 2**63 + 11), (1.0, 1), (0.0, 1)]:
        mask = label_kept_mask(ids, fraction, seed)
        assert mask.tolist() == [label_kept(int(i), fraction, seed) for i in ids]


def test_topk_codec_round_trip():
    # Hand-packed: k = 2 of 5 classes (3 bits each), classes 4 and 1, LSB-first.
    values = np.array([2.5, -1.0], dtype="<f2").tobytes()
    bits = 4 | (1 << 3)  # 100 then 001
    blob = values + bytes([bits & 0xFF])
    dense = decode_logits(blob, "topk", 5, 2)
    assert dense[4] == 2.5 and dense[1] == -1.0 and np.isneginf(dense[[0, 2, 3]]).all()
    with pytest.raises(ValueError, match="expected"):
        decode_logits(blob + b"\x00", "topk", 5, 2)
    block = decode_logits_block([blob, blob], "topk", 5, 2)
    assert block.shape == (2, 5) and (block[1] == dense).all()


def test_shards_partition_and_shuffle_is_a_seeded_permutation(store):
    reader = f32_reader(store, split="train", block_size=16)
    full = [ex["id"] for ex in reader]
    parts = [[ex["id"] for ex in reader.iter(shard=i, num_shards=3)] for i in range(3)]
    assert sorted(sum(parts, [])) == full
    assert all(parts) and not (set(parts[0]) & set(parts[1]))
    shuffled = f32_reader(store, split="train", block_size=16, shuffle=True, seed=5, shuffle_buffer=32)
    a = [ex["id"] for ex in shuffled.iter(epoch=0)]
    assert sorted(a) == full and a != full
    assert a == [ex["id"] for ex in shuffled.iter(epoch=0)]
    assert a != [ex["id"] for ex in shuffled.iter(epoch=1)]


def test_collate_pads_and_masks(store):
    b = next(f32_reader(store, split="train", temperature=2.0).batches(batch_size=8))
    assert b["input_ids"].shape[0] == 8 and b["input_ids"].shape == b["attention_mask"].shape
    assert (b["attention_mask"].sum(1) == b["lengths"]).all()
    assert b["teacher_logits"].shape[:2] == (8, 1)
    assert np.allclose(b["teacher_probs"][b["has_probs"]].sum(1), 1, atol=1e-5)
    single = collate([])
    assert single["input_ids"].shape == (0, 0)


def test_metadata(store):
    tasks = {t["name"]: t for t in list_tasks(store)}
    assert tasks[TASK]["teacher_outputs"] and len(tasks[TASK]["labels"]) >= 2
    assert schema_version(store) in SUPPORTED_SCHEMA_VERSIONS
    reader = f32_reader(store)
    assert reader.labels == tasks[TASK]["labels"] and reader.vocab_size == 30522


def test_bad_input_names_the_file_and_the_version(store, tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("hello, not a database\n" * 100)
    with pytest.raises(KDStoreError, match=r"notes\.sqlite.*not a kd store"):
        KDReader(text, task=TASK)
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(KDStoreError, match=r"empty\.sqlite.*not a kd store.*version 0"):
        KDReader(empty, task=TASK)
    newer = tmp_path / "newer.sqlite"
    src, dst = sqlite3.connect(store), sqlite3.connect(newer)
    src.backup(dst)
    src.close()
    future = SUPPORTED_SCHEMA_VERSIONS.stop + 7
    dst.execute(f"PRAGMA user_version = {future}")
    dst.commit()
    dst.close()
    with pytest.raises(KDStoreError, match=rf"newer\.sqlite.*schema version {future} is newer"):
        KDReader(newer, task=TASK)
    with pytest.raises(KDStoreError, match=r"missing\.sqlite.*no such kd store"):
        KDReader(tmp_path / "missing.sqlite", task=TASK)
    with pytest.raises(KDStoreError, match=r"no task 'nope'.*banking_intents"):
        KDReader(store, task="nope")
    with pytest.raises(KDStoreError, match=r"no teacher 'nobody'"):
        KDReader(store, task=TASK, teachers=["nobody"])
    with pytest.raises(KDStoreError, match=r"several teachers"):
        KDReader(store, task=TASK)
