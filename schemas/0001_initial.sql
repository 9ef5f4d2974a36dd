-- kd feature store, schema version 1.
-- The contract between kd-ingest, kd-teacher-cache, kd-train and kd-report.
-- Documented column by column in schemas/README.md. Append-only: never edit a
-- released migration; add NNNN_name.sql instead (and regenerate with `make schema`).

-- Every stage invocation.
CREATE TABLE runs (
  id            INTEGER PRIMARY KEY,
  stage         TEXT NOT NULL,                -- ingest | teacher-cache | train | report | ...
  command_line  TEXT NOT NULL,
  kd_version    TEXT NOT NULL,
  host          TEXT NOT NULL,
  pid           INTEGER NOT NULL,
  started_at    TEXT NOT NULL,                -- ISO 8601, UTC
  ended_at      TEXT,
  status        TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'ok', 'partial', 'failed', 'interrupted')),
  counts_json   TEXT,                         -- stage-specific summary (JSON object)
  error         TEXT
);

-- Classification tasks and their label vocabularies.
CREATE TABLE tasks (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  multi_label INTEGER NOT NULL DEFAULT 0 CHECK (multi_label IN (0, 1)),
  description TEXT
);

CREATE TABLE labels (
  id       INTEGER PRIMARY KEY,
  task_id  INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  name     TEXT NOT NULL,
  position INTEGER NOT NULL,                  -- 0-based class index within the task
  UNIQUE (task_id, name),
  UNIQUE (task_id, position)
);

-- One row per corpus file.
CREATE TABLE sources (
  id           INTEGER PRIMARY KEY,
  root         TEXT NOT NULL,                 -- absolute path of the corpus folder
  path         TEXT NOT NULL,                 -- path relative to root
  content_hash TEXT NOT NULL,                 -- 16 hex digits, FNV-1a 64 of the raw bytes
  size         INTEGER NOT NULL,
  mtime        REAL NOT NULL,
  format       TEXT NOT NULL,                 -- text | lines | csv | tsv | jsonl | pubmed | jats | uslm | akn | edgar | xml | ...
  domain       TEXT NOT NULL,
  task_id      INTEGER REFERENCES tasks(id),
  config_hash  TEXT NOT NULL DEFAULT '',      -- hash of the manifest entry and options that shaped the examples
  status       TEXT NOT NULL CHECK (status IN ('ok', 'error', 'partial')),
  error        TEXT,                          -- the first error, with file:line
  error_count  INTEGER NOT NULL DEFAULT 0,
  documents    INTEGER NOT NULL DEFAULT 0,
  examples     INTEGER NOT NULL DEFAULT 0,
  run_id       INTEGER REFERENCES runs(id),
  ingested_at  TEXT NOT NULL,
  UNIQUE (root, path)
);

CREATE TABLE documents (
  id            INTEGER PRIMARY KEY,
  source_id     INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
  position      INTEGER NOT NULL,             -- order within the source
  external_id   TEXT,                         -- PMID, row id, file name...
  doc_key       TEXT NOT NULL,                -- key hashed for the split
  domain        TEXT NOT NULL,
  title         TEXT,
  split         TEXT NOT NULL CHECK (split IN ('train', 'validation', 'test')),
  metadata_json TEXT,
  UNIQUE (source_id, position)
);
CREATE INDEX documents_external_id ON documents(external_id);

CREATE TABLE document_labels (
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  label_id    INTEGER NOT NULL REFERENCES labels(id),
  PRIMARY KEY (document_id, label_id)
) WITHOUT ROWID;

CREATE TABLE examples (
  id          INTEGER PRIMARY KEY,
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  position    INTEGER NOT NULL,               -- order within the document
  text        TEXT NOT NULL,
  char_start  INTEGER,                        -- span in the document text (windows, sentences)
  char_end    INTEGER,
  section     TEXT,                           -- section heading or identifier, when any
  split       TEXT NOT NULL CHECK (split IN ('train', 'validation', 'test')),
  domain      TEXT NOT NULL,
  task_id     INTEGER REFERENCES tasks(id),   -- the task this example serves (labeled or not)
  text_hash   TEXT NOT NULL,                  -- of the exact text: duplicate detection
  duplicate_of INTEGER,                       -- earlier example with the same text, if any
  UNIQUE (document_id, position)
);
CREATE INDEX examples_task_split ON examples(task_id, split);
CREATE INDEX examples_text_hash ON examples(text_hash);

-- Labels of an example: zero rows = unlabeled for its task; several = multi-label.
CREATE TABLE example_labels (
  example_id INTEGER NOT NULL REFERENCES examples(id) ON DELETE CASCADE,
  label_id   INTEGER NOT NULL REFERENCES labels(id),
  PRIMARY KEY (example_id, label_id)
) WITHOUT ROWID;
CREATE INDEX example_labels_label ON example_labels(label_id);

CREATE TABLE tokenizers (
  id           INTEGER PRIMARY KEY,
  name         TEXT NOT NULL,
  content_hash TEXT NOT NULL UNIQUE,
  vocab_size   INTEGER NOT NULL,
  json         BLOB NOT NULL,                 -- the tokenizer.json (or vocab.txt) itself
  created_at   TEXT NOT NULL
);

-- Token ids per example and tokenizer, as little-endian uint16 (vocab <= 65536)
-- or uint32 (width = 4). Special tokens included, no padding, no truncation.
CREATE TABLE tokenizations (
  example_id   INTEGER NOT NULL REFERENCES examples(id) ON DELETE CASCADE,
  tokenizer_id INTEGER NOT NULL REFERENCES tokenizers(id),
  width        INTEGER NOT NULL CHECK (width IN (2, 4)),
  length       INTEGER NOT NULL,
  ids          BLOB NOT NULL,
  PRIMARY KEY (example_id, tokenizer_id)
) WITHOUT ROWID;

-- Teachers and their cached outputs (kd-teacher-cache).
CREATE TABLE teachers (
  id              INTEGER PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE,
  kind            TEXT NOT NULL,              -- bert | external
  task_id         INTEGER REFERENCES tasks(id),
  tokenizer_id    INTEGER REFERENCES tokenizers(id),
  checkpoint_hash TEXT,
  config_json     TEXT,                       -- model config, pooling, head description
  head_json       TEXT,                       -- own | fitted (strength, validation score) | external
  head_blob       BLOB,                       -- fitted head weights (safetensors), when fitted
  storage         TEXT NOT NULL DEFAULT 'f32' CHECK (storage IN ('f32', 'f16', 'topk')),
  top_k           INTEGER,
  num_outputs     INTEGER NOT NULL,           -- classes (dense) or output space size (top-k)
  embedding_dim   INTEGER,                    -- when pooled embeddings are cached
  created_at      TEXT NOT NULL,
  run_id          INTEGER REFERENCES runs(id)
);

CREATE TABLE teacher_outputs (
  example_id INTEGER NOT NULL REFERENCES examples(id) ON DELETE CASCADE,
  teacher_id INTEGER NOT NULL REFERENCES teachers(id) ON DELETE CASCADE,
  logits     BLOB NOT NULL,                   -- see schemas/README.md: dense f32/f16 LE, or top-k
  embedding  BLOB,                            -- f16 LE pooled embedding, optional
  run_id     INTEGER REFERENCES runs(id),
  PRIMARY KEY (teacher_id, example_id)
) WITHOUT ROWID;

-- Training (kd-train): per-epoch metrics and saved models.
CREATE TABLE metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  model  TEXT NOT NULL,                       -- kd | baseline | teacher | a user-given name
  epoch  INTEGER NOT NULL,
  step   INTEGER NOT NULL,
  split  TEXT NOT NULL,
  name   TEXT NOT NULL,                       -- loss, accuracy, macro_f1, agreement, ece, f1:<label>, ...
  value  REAL NOT NULL
);
CREATE INDEX metrics_run ON metrics(run_id, model, name);

CREATE TABLE models (
  id          INTEGER PRIMARY KEY,
  run_id      INTEGER NOT NULL REFERENCES runs(id),
  name        TEXT NOT NULL,                  -- kd | baseline | ...
  task_id     INTEGER NOT NULL REFERENCES tasks(id),
  kind        TEXT NOT NULL,                  -- bow | mlp | ...
  path        TEXT NOT NULL,                  -- checkpoint directory
  parameters  INTEGER NOT NULL,
  size_bytes  INTEGER NOT NULL,
  config_json TEXT NOT NULL,
  results_json TEXT,                          -- test metrics, speed
  created_at  TEXT NOT NULL
);
