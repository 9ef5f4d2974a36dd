"""Fixtures: a real kd store made in the test by the built kd-ingest and kd-teacher-cache.

The store holds the repository's banking_intents sample (corpora/financial) with one
duplicate row added, and the default teacher all-MiniLM-L6-v2's outputs cached three
ways: f32 with embeddings (the real encoder, default name), then the same logits
stored again as f16 and top-3 teachers through kd's codec (replay_teacher.py, an
external teacher that answers with the cached f32 logits). The executables are taken from
$KD_BIN (default .build/debug); the teacher from $KD_TEACHER_DIR or models/. Tests skip
with a note when either is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

TASK = "banking_intents"
TEACHER = "all-MiniLM-L6-v2"
TIMEOUT = 900


def kd_bin() -> Path:
    return Path(os.environ.get("KD_BIN") or ROOT / ".build" / "debug")


def teacher_dir() -> Path:
    env = os.environ.get("KD_TEACHER_DIR")
    return Path(env) if env else ROOT / "models" / TEACHER


def run_kd(tool: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Runs a built kd executable (with a timeout); fails the test with its stderr on a non-zero exit."""
    exe = kd_bin() / tool
    p = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd)
    if p.returncode != 0:
        pytest.fail(f"{tool} {' '.join(args)} exited {p.returncode}:\n{p.stderr[-4000:]}")
    return p


def dump_loader(db: Path, *args: str) -> list[dict]:
    """What kd-train's loader yields (kd-train dump-loader), one dict per example."""
    out = run_kd("kd-train", "dump-loader", "--db", str(db), "--task", TASK, *args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> Path:
    for tool in ("kd-ingest", "kd-teacher-cache", "kd-train"):
        if not (kd_bin() / tool).is_file():
            pytest.skip(f"{kd_bin() / tool} is absent (build kd first, or set KD_BIN)")
    if not (teacher_dir() / "config.json").is_file():
        pytest.skip(f"{teacher_dir()} is absent (make teacher)")
    work = tmp_path_factory.mktemp("kdstore")
    corpus = work / "corpus" / "financial" / "banking_intents"
    corpus.mkdir(parents=True)
    src = ROOT / "corpora" / "financial" / "banking_intents" / "queries.tsv"
    lines = src.read_text(encoding="utf-8").splitlines()
    # One exact duplicate (of the last row): the loader and the reader must skip it.
    (corpus / "queries.tsv").write_text("\n".join(lines + [lines[-1]]) + "\n", encoding="utf-8")
    db = work / "data.sqlite"
    tok = str(teacher_dir() / "tokenizer.json")
    run_kd("kd-ingest", str(work / "corpus"), "--db", str(db), "--tokenizer", tok, "--quiet")
    t = str(teacher_dir())
    run_kd("kd-teacher-cache", "--db", str(db), "--teacher", t, "--task", TASK, "--embeddings", "--quiet")
    with sqlite3.connect(db) as c:
        (f32,) = c.execute("SELECT name FROM teachers WHERE storage = 'f32'").fetchone()
    replay = f"{sys.executable} {Path(__file__).parent / 'replay_teacher.py'} {db} {f32}"
    run_kd("kd-teacher-cache", "--db", str(db), "--teacher-cmd", replay, "--task", TASK, "--name", "minilm-f16",
           "--storage", "f16", "--quiet")
    run_kd("kd-teacher-cache", "--db", str(db), "--teacher-cmd", replay, "--task", TASK, "--name", "minilm-top3",
           "--storage", "topk", "--top-k", "3", "--quiet")
    return db


@pytest.fixture(scope="session")
def store_copy(store, tmp_path_factory) -> Path:
    """A second store with the same content (SQLite's backup API), for multi-store reads."""
    out = tmp_path_factory.mktemp("kdstore-copy") / "copy.sqlite"
    src = sqlite3.connect(store)
    dst = sqlite3.connect(out)
    src.backup(dst)
    dst.close()
    src.close()
    return out


def slow_tests() -> bool:
    return os.environ.get("KD_SLOW_TESTS") == "1"


def copy_file(a: Path, b: Path) -> None:
    shutil.copyfile(a, b)
