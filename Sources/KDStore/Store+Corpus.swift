import Foundation
import KDCore

/// A row of `sources`.
public struct SourceRecord: Sendable, Equatable {
  public var id: Int64
  public var root: String
  public var path: String
  public var contentHash: String
  public var size: Int64
  public var mtime: Double
  public var format: String
  public var domain: String
  public var configHash: String
  public var status: String
  public var error: String?
  public var documents: Int
  public var examples: Int
}

/// A new source file's row, written by `insertSource`.
public struct NewSource {
  public var root: String
  public var path: String
  public var contentHash: String
  public var size: Int64
  public var mtime: Double
  public var format: String
  public var domain: String
  public var taskID: Int64?
  public var configHash: String
  public var status: String
  public var error: String?
  public var errorCount: Int
  public var runID: Int64?

  public init(root: String, path: String, contentHash: String, size: Int64, mtime: Double, format: String,
              domain: String, taskID: Int64?, configHash: String, status: String, error: String?,
              errorCount: Int, runID: Int64?) {
    self.root = root; self.path = path; self.contentHash = contentHash; self.size = size; self.mtime = mtime
    self.format = format; self.domain = domain; self.taskID = taskID; self.configHash = configHash
    self.status = status; self.error = error; self.errorCount = errorCount; self.runID = runID
  }
}

/// A label task and its vocabulary in class-index order.
public struct TaskRecord: Sendable, Equatable {
  public var id: Int64
  public var name: String
  public var multiLabel: Bool
  public var labels: [String]
}

extension Store {
  // MARK: Tasks and labels

  /// The id of task `name`, created when missing.
  public func taskID(named name: String, multiLabel: Bool = false) throws -> Int64 {
    if let id = try db.scalarInt("SELECT id FROM tasks WHERE name = ?", [.text(name)]) { return id }
    try db.run("INSERT INTO tasks (name, multi_label) VALUES (?, ?)", [.text(name), .int(multiLabel ? 1 : 0)])
    return db.lastInsertRowID
  }

  /// The id of label `name` in a task, appended to the vocabulary when missing.
  public func labelID(task: Int64, name: String) throws -> Int64 {
    if let id = try db.scalarInt("SELECT id FROM labels WHERE task_id = ? AND name = ?", [.int(task), .text(name)]) {
      return id
    }
    let next = try db.scalarInt("SELECT COALESCE(MAX(position) + 1, 0) FROM labels WHERE task_id = ?", [.int(task)]) ?? 0
    try db.run("INSERT INTO labels (task_id, name, position) VALUES (?, ?, ?)", [.int(task), .text(name), .int(next)])
    return db.lastInsertRowID
  }

  /// A task with its labels, or nil.
  public func task(named name: String) throws -> TaskRecord? {
    let s = try db.cached("SELECT id, multi_label FROM tasks WHERE name = ?")
    defer { s.reset() }
    try s.bind([.text(name)])
    guard try s.step() else { return nil }
    let id = s.int64(0), multi = s.int(1) != 0
    return TaskRecord(id: id, name: name, multiLabel: multi, labels: try labelNames(task: id))
  }

  /// All tasks, by name.
  public func tasks() throws -> [TaskRecord] {
    let s = try db.prepare("SELECT id, name, multi_label FROM tasks ORDER BY name")
    var out: [TaskRecord] = []
    while try s.step() {
      out.append(TaskRecord(id: s.int64(0), name: s.text(1), multiLabel: s.int(2) != 0, labels: []))
    }
    for i in out.indices { out[i].labels = try labelNames(task: out[i].id) }
    return out
  }

  /// A task's label names in class-index order.
  public func labelNames(task: Int64) throws -> [String] {
    let s = try db.prepare("SELECT name FROM labels WHERE task_id = ? ORDER BY position")
    try s.bind([.int(task)])
    var out: [String] = []
    while try s.step() { out.append(s.text(0)) }
    return out
  }

  public func setTaskMultiLabel(_ task: Int64) throws {
    try db.run("UPDATE tasks SET multi_label = 1 WHERE id = ?", [.int(task)])
  }

  // MARK: Sources

  /// The source row for a file, if it was seen before.
  public func source(root: String, path: String) throws -> SourceRecord? {
    let s = try db.cached(
      "SELECT id, root, path, content_hash, size, mtime, format, domain, config_hash, status, error, documents, examples FROM sources WHERE root = ? AND path = ?"
    )
    defer { s.reset() }
    try s.bind([.text(root), .text(path)])
    guard try s.step() else { return nil }
    return Self.sourceRecord(s)
  }

  /// Every source under a corpus root.
  public func sources(root: String? = nil) throws -> [SourceRecord] {
    let s = try db.prepare(
      "SELECT id, root, path, content_hash, size, mtime, format, domain, config_hash, status, error, documents, examples FROM sources"
        + (root == nil ? "" : " WHERE root = ?") + " ORDER BY root, path")
    try s.bind(root.map { [.text($0)] } ?? [])
    var out: [SourceRecord] = []
    while try s.step() { out.append(Self.sourceRecord(s)) }
    return out
  }

  static func sourceRecord(_ s: Statement) -> SourceRecord {
    SourceRecord(id: s.int64(0), root: s.text(1), path: s.text(2), contentHash: s.text(3), size: s.int64(4),
                 mtime: s.double(5), format: s.text(6), domain: s.text(7), configHash: s.text(8),
                 status: s.text(9), error: s.optionalText(10), documents: s.int(11), examples: s.int(12))
  }

  /// Inserts a source row and returns its id.
  public func insertSource(_ n: NewSource) throws -> Int64 {
    try db.run(
      """
      INSERT INTO sources (root, path, content_hash, size, mtime, format, domain, task_id, config_hash, status,
                           error, error_count, run_id, ingested_at)
      VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
      """,
      [.text(n.root), .text(n.path), .text(n.contentHash), .int(n.size), .double(n.mtime), .text(n.format),
       .text(n.domain), .optional(n.taskID), .text(n.configHash), .text(n.status), .optional(n.error),
       .int(n.errorCount), .optional(n.runID), .text(Store.now())])
    return db.lastInsertRowID
  }

  /// Sets a source's final counts after its documents were written.
  public func finishSource(_ id: Int64, documents: Int, examples: Int) throws {
    try db.run("UPDATE sources SET documents = ?, examples = ? WHERE id = ?", [.int(documents), .int(examples), .int(id)])
  }

  /// Records an error on an existing source without touching its stored documents.
  public func markSourceError(_ id: Int64, error: String, runID: Int64?) throws {
    try db.run(
      "UPDATE sources SET status = 'error', error = ?, error_count = error_count + 1, run_id = ? WHERE id = ?",
      [.text(error), .optional(runID), .int(id)])
  }

  /// Deletes a source and, by cascade, its documents, examples, labels,
  /// tokenizations and teacher outputs.
  public func deleteSource(_ id: Int64) throws {
    try db.run("DELETE FROM sources WHERE id = ?", [.int(id)])
  }

  // MARK: Documents and examples

  /// Inserts a document and returns its id.
  public func insertDocument(
    sourceID: Int64, position: Int, externalID: String?, docKey: String, domain: String, title: String?,
    split: Split, metadataJSON: String?
  ) throws -> Int64 {
    let s = try db.cached(
      """
      INSERT INTO documents (source_id, position, external_id, doc_key, domain, title, split, metadata_json)
      VALUES (?,?,?,?,?,?,?,?)
      """)
    try s.bind(.int(sourceID), at: 1)
    try s.bind(.int(position), at: 2)
    try s.bind(.optional(externalID), at: 3)
    try s.bind(.text(docKey), at: 4)
    try s.bind(.text(domain), at: 5)
    try s.bind(.optional(title), at: 6)
    try s.bind(.text(split.rawValue), at: 7)
    try s.bind(.optional(metadataJSON), at: 8)
    try s.run()
    return db.lastInsertRowID
  }

  public func addDocumentLabel(document: Int64, label: Int64) throws {
    try db.run("INSERT OR IGNORE INTO document_labels (document_id, label_id) VALUES (?, ?)", [.int(document), .int(label)])
  }

  /// Deletes documents by external id (e.g. PubMed `DeleteCitation`); returns how many.
  @discardableResult
  public func deleteDocuments(externalID: String, domain: String) throws -> Int {
    try db.run("DELETE FROM documents WHERE external_id = ? AND domain = ?", [.text(externalID), .text(domain)])
    return db.changes
  }

  /// Inserts an example and returns its id. `duplicate_of` is filled by `refreshDuplicates`.
  public func insertExample(
    documentID: Int64, position: Int, text: String, charStart: Int?, charEnd: Int?, section: String?,
    split: Split, domain: String, taskID: Int64?
  ) throws -> Int64 {
    try insertExample(documentID: documentID, position: position, text: text, textHash: StableHash.fnv1a64(text),
                      charStart: charStart, charEnd: charEnd, section: section, split: split, domain: domain,
                      taskID: taskID, duplicateOf: nil)
  }

  /// Inserts an example whose text hash (`StableHash.fnv1a64(text)`) and
  /// first earlier copy, if any, the caller already knows.
  public func insertExample(
    documentID: Int64, position: Int, text: String, textHash: UInt64, charStart: Int?, charEnd: Int?,
    section: String?, split: Split, domain: String, taskID: Int64?, duplicateOf: Int64?
  ) throws -> Int64 {
    // Bound one by one (no argument array): this runs once per example.
    let s = try db.cached(
      """
      INSERT INTO examples (document_id, position, text, char_start, char_end, section, split, domain, task_id, text_hash,
                            duplicate_of)
      VALUES (?,?,?,?,?,?,?,?,?,?,?)
      """)
    try s.bind(.int(documentID), at: 1)
    try s.bind(.int(position), at: 2)
    try s.bind(.text(text), at: 3)
    try s.bind(.optional(charStart.map(Int64.init)), at: 4)
    try s.bind(.optional(charEnd.map(Int64.init)), at: 5)
    try s.bind(.optional(section), at: 6)
    try s.bind(.text(split.rawValue), at: 7)
    try s.bind(.text(domain), at: 8)
    try s.bind(.optional(taskID), at: 9)
    try s.bind(.text(StableHash.hex(textHash)), at: 10)
    try s.bind(.optional(duplicateOf), at: 11)
    try s.run()
    return db.lastInsertRowID
  }

  /// The first example (lowest id, at most `maxID`) of the task with exactly
  /// this text, found through its hash.
  public func firstExample(taskID: Int64?, textHash: UInt64, text: String, maxID: Int64) throws -> Int64? {
    let s = try db.cached(
      "SELECT id, text FROM examples WHERE text_hash = ? AND task_id IS ? AND id <= ? ORDER BY id LIMIT 1")
    defer { s.reset() }
    try s.bind(.text(StableHash.hex(textHash)), at: 1)
    try s.bind(.optional(taskID), at: 2)
    try s.bind(.int(maxID), at: 3)
    guard try s.step(), s.text(1) == text else { return nil }
    return s.int64(0)
  }

  /// How many examples are duplicates, and how many of those have their
  /// first copy in another split (what `refreshDuplicates` returns).
  public func duplicateCounts() throws -> (duplicates: Int, crossSplit: Int) {
    let dups = try db.scalarInt("SELECT COUNT(*) FROM examples WHERE duplicate_of IS NOT NULL") ?? 0
    let cross = try db.scalarInt(
      "SELECT COUNT(*) FROM examples e JOIN examples f ON f.id = e.duplicate_of WHERE e.split != f.split") ?? 0
    return (Int(dups), Int(cross))
  }

  public func addExampleLabel(example: Int64, label: Int64) throws {
    let s = try db.cached("INSERT OR IGNORE INTO example_labels (example_id, label_id) VALUES (?, ?)")
    try s.bind(.int(example), at: 1)
    try s.bind(.int(label), at: 2)
    try s.run()
  }

  /// Recomputes `examples.duplicate_of`: within a task, every example whose
  /// exact text appeared in an earlier example points at the first one.
  /// Loaders skip duplicates, so one text never lands in two splits.
  /// - Returns: (duplicates, duplicates whose first copy is in another split).
  @discardableResult
  public func refreshDuplicates() throws -> (duplicates: Int, crossSplit: Int) {
    // Group by the 64-bit text hash (cheap to sort), then confirm that the
    // texts really are equal, so a hash collision never marks a duplicate.
    try db.execute(
      """
      WITH f AS (
        SELECT id, MIN(id) OVER (PARTITION BY task_id, text_hash) AS first FROM examples
      ),
      d AS (
        SELECT f.id, CASE WHEN f.first = f.id THEN NULL
                          WHEN (SELECT g.text FROM examples g WHERE g.id = f.first) = e.text THEN f.first
                          ELSE NULL END AS dup
        FROM f JOIN examples e ON e.id = f.id
      )
      UPDATE examples SET duplicate_of = d.dup
      FROM d WHERE d.id = examples.id AND examples.duplicate_of IS NOT d.dup
      """)
    return try duplicateCounts()
  }

  // MARK: Tokenizers and tokenizations

  /// The id of a tokenizer identified by its content hash, registered when missing.
  public func tokenizerID(name: String, contentHash: String, vocabSize: Int, json: [UInt8]) throws -> Int64 {
    if let id = try db.scalarInt("SELECT id FROM tokenizers WHERE content_hash = ?", [.text(contentHash)]) { return id }
    try db.run(
      "INSERT INTO tokenizers (name, content_hash, vocab_size, json, created_at) VALUES (?,?,?,?,?)",
      [.text(name), .text(contentHash), .int(vocabSize), .blob(json), .text(Store.now())])
    return db.lastInsertRowID
  }

  /// Looks up a registered tokenizer by content hash.
  public func tokenizerID(contentHash: String) throws -> Int64? {
    try db.scalarInt("SELECT id FROM tokenizers WHERE content_hash = ?", [.text(contentHash)])
  }

  /// Stores the token ids of one example (uint16 LE when every id fits, else uint32 LE).
  public func insertTokenization(example: Int64, tokenizer: Int64, ids: [Int32], vocabSize: Int) throws {
    let width = vocabSize <= 65536 ? 2 : 4
    let s = try db.cached(
      "INSERT OR REPLACE INTO tokenizations (example_id, tokenizer_id, width, length, ids) VALUES (?,?,?,?,?)")
    s.reset()
    try s.bind(.int(example), at: 1)
    try s.bind(.int(tokenizer), at: 2)
    try s.bind(.int(width), at: 3)
    try s.bind(.int(ids.count), at: 4)
    let bytes = TokenBlob.encode(ids, width: width)
    try bytes.withUnsafeBytes { try s.bindBlob($0, at: 5) }
    try s.run()
  }
}

/// The compact little-endian encoding of token ids in `tokenizations.ids`.
public enum TokenBlob {
  public static func encode(_ ids: [Int32], width: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: ids.count * width)
    out.withUnsafeMutableBytes { p in
      if width == 2 {
        for (i, v) in ids.enumerated() { p.storeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
      } else {
        for (i, v) in ids.enumerated() { p.storeBytes(of: UInt32(bitPattern: v).littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
      }
    }
    return out
  }

  /// Decodes ids from a blob into `out` (appending).
  public static func decode(_ bytes: UnsafeRawBufferPointer, width: Int, into out: inout [Int32]) {
    if width == 2 {
      let n = bytes.count / 2
      for i in 0..<n { out.append(Int32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
    } else {
      let n = bytes.count / 4
      for i in 0..<n { out.append(Int32(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))) }
    }
  }
}
