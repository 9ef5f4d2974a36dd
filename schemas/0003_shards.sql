-- kd feature store, schema version 3: sharded stages and merges (issue 15).
-- A store written by `kd-ingest --shard K/N` or `kd-teacher-cache --shard K/N`
-- records which part of the corpus it holds; a store written by kd-merge
-- records every input store it was built from (provenance).

CREATE TABLE store_shard (
  id          INTEGER PRIMARY KEY CHECK (id = 1),   -- at most one row
  kind        TEXT NOT NULL CHECK (kind IN ('files', 'examples')), -- files: by path hash (kd-ingest); examples: by text hash (kd-teacher-cache)
  shard_index INTEGER NOT NULL,                     -- 0-based K
  shard_count INTEGER NOT NULL,                     -- N
  CHECK (shard_index >= 0 AND shard_index < shard_count)
);

CREATE TABLE merged_stores (
  id          INTEGER PRIMARY KEY,
  path        TEXT NOT NULL,                        -- the input store as given to kd-merge
  fingerprint TEXT NOT NULL,                        -- FNV-1a 64 over its rows' identity (see Store.fingerprint)
  shard_kind  TEXT,
  shard_index INTEGER,
  shard_count INTEGER,
  examples    INTEGER NOT NULL,
  run_id      INTEGER REFERENCES runs(id),          -- the kd-merge run
  merged_at   TEXT NOT NULL
);
