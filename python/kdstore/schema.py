"""Opening a kd store read-only and checking that this reader understands it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .codec import KDStoreError

# The kd schema versions (``PRAGMA user_version``, schemas/NNNN_*.sql) this reader
# knows. When kd adds a migration, check what it changes for the tables below and
# extend this range: a store of any other version is refused with an error naming
# the file and its version.
SUPPORTED_SCHEMA_VERSIONS = range(1, 4)

# The tables and columns the reader uses, read by name (never by position), so a
# migration that adds columns or tables does not disturb it.
REQUIRED_COLUMNS = {
    "tasks": ("id", "name", "multi_label"),
    "labels": ("id", "task_id", "name", "position"),
    "examples": ("id", "split", "domain", "task_id", "duplicate_of"),
    "example_labels": ("example_id", "label_id"),
    "tokenizers": ("id", "name", "vocab_size"),
    "tokenizations": ("example_id", "tokenizer_id", "width", "ids"),
    "teachers": ("id", "name", "task_id", "tokenizer_id", "storage", "top_k", "num_outputs", "embedding_dim"),
    "teacher_outputs": ("example_id", "teacher_id", "logits", "embedding"),
}


def _describe_versions() -> str:
    v = SUPPORTED_SCHEMA_VERSIONS
    return f"{v.start}" if len(v) == 1 else f"{v.start}-{v.stop - 1}"


def connect(path: str | os.PathLike) -> sqlite3.Connection:
    """Opens a kd store read-only after checking its schema version and columns.

    Raises:
        KDStoreError: the file is missing, not SQLite, not a kd store, or of a schema
            version this reader does not know (the message names the file and the version).
    """
    p = Path(path)
    if not p.is_file():
        raise KDStoreError(f"{path}: no such kd store")
    try:
        conn = sqlite3.connect(p.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error as e:
        raise KDStoreError(f"{path}: cannot open: {e}") from e
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as e:
        conn.close()
        raise KDStoreError(f"{path}: not a kd store (not a SQLite database: {e})") from e
    missing = sorted(set(REQUIRED_COLUMNS) - tables)
    if version <= 0:
        conn.close()
        raise KDStoreError(f"{path}: not a kd store (schema version {version}; "
                           f"missing tables: {', '.join(missing) or 'none'})")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        conn.close()
        newer = version > SUPPORTED_SCHEMA_VERSIONS.stop - 1
        raise KDStoreError(
            f"{path}: kd store schema version {version} is {'newer than' if newer else 'not one of'} the versions "
            f"this reader knows ({_describe_versions()}); "
            + ("upgrade the kdstore package" if newer else "open it once with kd to migrate it"))
    if missing:
        conn.close()
        raise KDStoreError(f"{path}: not a kd store (schema version {version}; missing tables: {', '.join(missing)})")
    for table, columns in REQUIRED_COLUMNS.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        lacking = [c for c in columns if c not in have]
        if lacking:
            conn.close()
            raise KDStoreError(f"{path}: not a kd store of schema version {version}: table {table} "
                               f"lacks column(s) {', '.join(lacking)}")
    conn.execute("PRAGMA cache_size=-16384")
    return conn


def schema_version(path: str | os.PathLike) -> int:
    """The store's schema version (``PRAGMA user_version``), after the same checks as :func:`connect`."""
    conn = connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
