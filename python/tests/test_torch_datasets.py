"""The optional adapters (PyTorch IterableDataset, Hugging Face datasets) and the example script.

Slow (imports torch and datasets, trains a student): run under KD_SLOW_TESTS=1 (make test-slow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, TASK, slow_tests
from test_reader import f32_reader, teacher_names

pytestmark = pytest.mark.skipif(not slow_tests(), reason="torch and datasets checks run under KD_SLOW_TESTS=1")


def test_dataloader_workers_share_the_examples_exactly_once(store):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from kdstore.torch_data import KDIterableDataset, torch_collate

    name = teacher_names(store)["f32"]
    ds = KDIterableDataset(store, task=TASK, split="train", teachers=[name], temperature=2.0, block_size=16,
                           shuffle=True, seed=3)
    loader = DataLoader(ds, batch_size=16, num_workers=2, collate_fn=torch_collate)
    ids = []
    for b in loader:
        assert b["input_ids"].dtype == torch.int64 and b["teacher_probs"].dtype == torch.float32
        assert b["input_ids"].shape == b["attention_mask"].shape
        ids += b["ids"].tolist()
    expected = [ex["id"] for ex in f32_reader(store, split="train", temperature=2.0)]
    assert sorted(ids) == expected and len(ids) == len(set(ids))


def test_hf_dataset_holds_the_same_rows(store, tmp_path):
    pytest.importorskip("datasets")
    from kdstore.hf import to_hf_dataset

    name = teacher_names(store)["f32"]
    ds = to_hf_dataset(store, task=TASK, split="validation", teachers=[name], temperature=2.0,
                       cache_dir=str(tmp_path / "hf"))
    expected = list(f32_reader(store, split="validation", temperature=2.0))
    assert len(ds) == len(expected) > 0
    for row, ex in zip(ds, expected):
        assert row["id"] == ex["id"] and row["label"] == ex["label"]
        assert row["input_ids"] == ex["input_ids"].tolist()
        np.testing.assert_allclose(np.array(row["teacher_logits"], dtype=np.float32), ex["teacher_logits"])
        if ex["teacher_probs"] is not None:
            np.testing.assert_allclose(np.array(row["teacher_probs"], dtype=np.float32), ex["teacher_probs"])


def test_example_script_trains_a_student_from_the_cache(store):
    pytest.importorskip("torch")
    name = teacher_names(store)["f32"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    p = subprocess.run([sys.executable, str(ROOT / "python" / "examples" / "train_student.py"), "--db", str(store),
                        "--task", TASK, "--teacher", name, "--epochs", "8", "--workers", "1", "--lr", "0.05"],
                       capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads(p.stdout.splitlines()[-1])
    assert result["task"] == TASK and len(result["epochs"]) == 8
    assert result["test"]["examples"] > 0
    # Better than chance on held-out text: the student learned from the cached teacher and labels.
    assert result["test"]["accuracy"] > 1.5 / len(result["labels"]), result["test"]
