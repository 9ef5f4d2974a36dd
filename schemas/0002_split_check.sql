-- kd feature store, schema version 2: the same tables, faster inserts.
-- `split IN ('train', 'validation', 'test')` made SQLite build a temporary
-- index for every inserted row of documents and examples (a CHECK's IN list of
-- three or more constants is compiled to an ephemeral table); the equivalent
-- OR form is three comparisons. Same columns, same rows, same meaning.
-- Rebuilt with the 12-step procedure of https://sqlite.org/lang_altertable.html
-- (Store.migrate runs migrations with foreign keys off, then checks them).

CREATE TABLE documents_v2 (
  id            INTEGER PRIMARY KEY,
  source_id     INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
  position      INTEGER NOT NULL,             -- order within the source
  external_id   TEXT,                         -- PMID, row id, file name...
  doc_key       TEXT NOT NULL,                -- key hashed for the split
  domain        TEXT NOT NULL,
  title         TEXT,
  split         TEXT NOT NULL CHECK (split = 'train' OR split = 'validation' OR split = 'test'),
  metadata_json TEXT,
  UNIQUE (source_id, position)
);
INSERT INTO documents_v2 SELECT id, source_id, position, external_id, doc_key, domain, title, split, metadata_json
FROM documents;
DROP TABLE documents;
ALTER TABLE documents_v2 RENAME TO documents;
CREATE INDEX documents_external_id ON documents(external_id);

CREATE TABLE examples_v2 (
  id          INTEGER PRIMARY KEY,
  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  position    INTEGER NOT NULL,               -- order within the document
  text        TEXT NOT NULL,
  char_start  INTEGER,                        -- span in the document text (windows, sentences)
  char_end    INTEGER,
  section     TEXT,                           -- section heading or identifier, when any
  split       TEXT NOT NULL CHECK (split = 'train' OR split = 'validation' OR split = 'test'),
  domain      TEXT NOT NULL,
  task_id     INTEGER REFERENCES tasks(id),   -- the task this example serves (labeled or not)
  text_hash   TEXT NOT NULL,                  -- of the exact text: duplicate detection
  duplicate_of INTEGER,                       -- earlier example with the same text, if any
  UNIQUE (document_id, position)
);
INSERT INTO examples_v2 SELECT id, document_id, position, text, char_start, char_end, section, split, domain,
  task_id, text_hash, duplicate_of
FROM examples;
DROP TABLE examples;
ALTER TABLE examples_v2 RENAME TO examples;
CREATE INDEX examples_task_split ON examples(task_id, split);
CREATE INDEX examples_text_hash ON examples(text_hash);
