import CSQLite
import Foundation
import KDCore

/// A teacher as the trainer sees it: where its outputs live and how they are encoded.
public struct TrainingTeacher: Sendable, Equatable {
  public var id: Int64
  public var name: String
  public var taskID: Int64?
  public var tokenizerID: Int64?
  public var storage: TeacherStorage
  public var numOutputs: Int
}

/// What the loader asks of one database: which examples and which columns.
public struct TrainingQuery: Sendable, Equatable {
  public var taskID: Int64
  public var split: Split
  public var tokenizerID: Int64
  /// Teacher ids whose outputs are joined (LEFT JOIN: a missing output reads as NULL).
  public var teacherIDs: [Int64]
  /// Only examples of these domains (empty: all).
  public var domains: [String]
  /// Skip rows that have neither a label nor any teacher output.
  public var requireSignal: Bool
  /// Examples of every task (and of none), selected by `domains` only; `taskID` is ignored and rows
  /// have no label (domain text for `kd-train encoder`, `Store.domainTextQuery`).
  public var allTasks = false

  public init(taskID: Int64, split: Split, tokenizerID: Int64, teacherIDs: [Int64], domains: [String] = [],
              requireSignal: Bool = true) {
    self.taskID = taskID; self.split = split; self.tokenizerID = tokenizerID; self.teacherIDs = teacherIDs
    self.domains = domains; self.requireSignal = requireSignal
  }
}

/// One row of a training read, valid only inside the reader's callback.
///
/// The blobs point into SQLite's row buffer: decode them before returning.
public struct TrainingRowView {
  public var exampleID: Int64
  /// The content key of the example's text (`LabelFraction.contentKey(textHash:)`): label-fraction
  /// sampling uses it, so the kept labels do not depend on row ids or sharding.
  public var contentKey: UInt64
  /// Class index (`labels.position`) or -1 when unlabeled.
  public var label: Int32
  public var tokenWidth: Int
  public var tokenBlob: UnsafeRawBufferPointer
  /// One blob per requested teacher; `nil` when that teacher has no output for the example.
  public var teacherBlobs: [UnsafeRawBufferPointer?]
}

/// Streams the training rows of one id range with a single prepared statement.
///
/// The loader calls `read(idRange:body:)` once per block; rows come in id order.
public final class TrainingRowReader {
  let db: Database
  let query: TrainingQuery
  let statement: Statement
  private var teacherBlobs: [UnsafeRawBufferPointer?]

  init(db: Database, query: TrainingQuery) throws {
    self.db = db
    self.query = query
    // CROSS JOIN pins the subquery's order (example's labels first): the planner otherwise walks
    // every label of the task and probes example_labels for each, ~3x slower with 77 labels.
    var sql = query.allTasks ? "SELECT e.id, NULL, t.width, t.ids"
      : "SELECT e.id, (SELECT MIN(l.position) FROM example_labels el CROSS JOIN labels l ON l.id = el.label_id "
      + "WHERE el.example_id = e.id AND l.task_id = ?1), t.width, t.ids"
    for i in query.teacherIDs.indices { sql += ", o\(i).logits" }
    sql += ", e.text_hash"
    sql += " FROM examples e JOIN tokenizations t ON t.example_id = e.id AND t.tokenizer_id = ?2"
    for (i, _) in query.teacherIDs.enumerated() {
      sql += " LEFT JOIN teacher_outputs o\(i) ON o\(i).teacher_id = ?\(6 + i) AND o\(i).example_id = e.id"
    }
    // With allTasks, ?1 stays bound but unused (?2…?5 keep it inside the parameter range).
    sql += " WHERE e.id >= ?3 AND e.id < ?4" + (query.allTasks ? "" : " AND e.task_id = ?1")
      + " AND e.split = ?5 AND e.duplicate_of IS NULL"
    if !query.domains.isEmpty {
      let base = 6 + query.teacherIDs.count
      sql += " AND e.domain IN (" + query.domains.indices.map { "?\(base + $0)" }.joined(separator: ",") + ")"
    }
    sql += " ORDER BY e.id"
    statement = try db.prepare(sql)
    teacherBlobs = Array(repeating: nil, count: query.teacherIDs.count)
  }

  /// Calls `body` for every row with `lower <= id < upper`.
  public func read(idRange: Range<Int64>, _ body: (TrainingRowView) throws -> Void) throws {
    let s = statement
    s.reset()
    try s.bind(.int(query.taskID), at: 1)
    try s.bind(.int(query.tokenizerID), at: 2)
    try s.bind(.int(idRange.lowerBound), at: 3)
    try s.bind(.int(idRange.upperBound), at: 4)
    try s.bind(.text(query.split.rawValue), at: 5)
    for (i, t) in query.teacherIDs.enumerated() { try s.bind(.int(t), at: Int32(6 + i)) }
    let base = 6 + query.teacherIDs.count
    for (i, d) in query.domains.enumerated() { try s.bind(.text(d), at: Int32(base + i)) }
    let stmt = s.sqliteStatement
    let teachers = query.teacherIDs.count
    while try s.step() {
      let id = sqlite3_column_int64(stmt, 0)
      let label: Int32 = sqlite3_column_type(stmt, 1) == SQLITE_NULL ? -1 : Int32(sqlite3_column_int64(stmt, 1))
      let width = Int(sqlite3_column_int64(stmt, 2))
      let tp = sqlite3_column_blob(stmt, 3)
      let tn = Int(sqlite3_column_bytes(stmt, 3))
      var any = false
      for i in 0..<teachers {
        let col = Int32(4 + i)
        if sqlite3_column_type(stmt, col) == SQLITE_NULL {
          teacherBlobs[i] = nil
        } else {
          let p = sqlite3_column_blob(stmt, col)
          let n = Int(sqlite3_column_bytes(stmt, col))
          teacherBlobs[i] = UnsafeRawBufferPointer(start: p, count: p == nil ? 0 : n)
          any = true
        }
      }
      if query.requireSignal && label < 0 && !any { continue }
      let hashColumn = Int32(4 + teachers)
      let hp = sqlite3_column_text(stmt, hashColumn)
      let hn = Int(sqlite3_column_bytes(stmt, hashColumn))
      let contentKey = LabelFraction.contentKey(utf8: UnsafeRawBufferPointer(start: hp, count: hp == nil ? 0 : hn))
      guard width == 2 || width == 4 else {
        throw KDError(.input, "example \(id): token width \(width) (expected 2 or 4)", file: db.path, field: "tokenizations.width")
      }
      try body(TrainingRowView(exampleID: id, contentKey: contentKey, label: label, tokenWidth: width,
                               tokenBlob: UnsafeRawBufferPointer(start: tp, count: tp == nil ? 0 : tn),
                               teacherBlobs: teacherBlobs))
    }
  }
}

/// Split sizes of a task: examples, labeled examples, examples with each teacher's output.
public struct SplitCounts: Sendable, Equatable {
  public var examples: Int
  public var labeled: Int
  public init(examples: Int, labeled: Int) { self.examples = examples; self.labeled = labeled }
}

extension Store {
  // MARK: Choosing what to train

  /// Tasks that have at least one cached teacher output, by name.
  public func tasksWithTeacherOutputs() throws -> [TaskRecord] {
    let s = try db.prepare(
      """
      SELECT DISTINCT t.id, t.name, t.multi_label FROM tasks t JOIN teachers h ON h.task_id = t.id
      WHERE EXISTS (SELECT 1 FROM teacher_outputs o WHERE o.teacher_id = h.id) ORDER BY t.name
      """)
    var out: [TaskRecord] = []
    while try s.step() { out.append(TaskRecord(id: s.int64(0), name: s.text(1), multiLabel: s.int(2) != 0, labels: [])) }
    for i in out.indices { out[i].labels = try labelNames(task: out[i].id) }
    return out
  }

  /// Teachers registered for a task (or for no task), with whether they have outputs.
  public func teachers(task: Int64) throws -> [(teacher: TrainingTeacher, outputs: Int)] {
    let s = try db.prepare(
      """
      SELECT h.id, h.name, h.task_id, h.tokenizer_id, h.storage, h.top_k, h.num_outputs,
             (SELECT COUNT(*) FROM teacher_outputs o WHERE o.teacher_id = h.id)
      FROM teachers h WHERE h.task_id = ? OR h.task_id IS NULL ORDER BY h.name
      """)
    try s.bind([.int(task)])
    var out: [(TrainingTeacher, Int)] = []
    while try s.step() {
      let storage = try TeacherStorage(name: s.text(4), topK: s.optionalInt(5))
      out.append((TrainingTeacher(id: s.int64(0), name: s.text(1), taskID: s.isNull(2) ? nil : s.int64(2),
                                  tokenizerID: s.isNull(3) ? nil : s.int64(3), storage: storage,
                                  numOutputs: s.int(6)), s.int(7)))
    }
    return out
  }

  /// A teacher by name, or nil.
  public func trainingTeacher(named name: String) throws -> TrainingTeacher? {
    let s = try db.prepare("SELECT id, name, task_id, tokenizer_id, storage, top_k, num_outputs FROM teachers WHERE name = ?")
    try s.bind([.text(name)])
    guard try s.step() else { return nil }
    return TrainingTeacher(id: s.int64(0), name: s.text(1), taskID: s.isNull(2) ? nil : s.int64(2),
                           tokenizerID: s.isNull(3) ? nil : s.int64(3),
                           storage: try TeacherStorage(name: s.text(4), topK: s.optionalInt(5)), numOutputs: s.int(6))
  }

  /// Number of a teacher's outputs on a task's split.
  public func teacherOutputCount(teacher: Int64, task: Int64, split: Split) throws -> Int {
    Int(try db.scalarInt(
      """
      SELECT COUNT(*) FROM teacher_outputs o JOIN examples e ON e.id = o.example_id
      WHERE o.teacher_id = ? AND e.task_id = ? AND e.split = ? AND e.duplicate_of IS NULL
      """, [.int(teacher), .int(task), .text(split.rawValue)]) ?? 0)
  }

  /// Tokenizers that have tokenizations of a task's examples, most used first.
  public func tokenizers(task: Int64) throws -> [(id: Int64, name: String, vocabSize: Int)] {
    let s = try db.prepare(
      """
      SELECT k.id, k.name, k.vocab_size FROM tokenizers k
      JOIN (SELECT tokenizer_id, COUNT(*) AS n FROM tokenizations t JOIN examples e ON e.id = t.example_id
            WHERE e.task_id = ? GROUP BY tokenizer_id) c ON c.tokenizer_id = k.id
      ORDER BY c.n DESC, k.id
      """)
    try s.bind([.int(task)])
    var out: [(Int64, String, Int)] = []
    while try s.step() { out.append((s.int64(0), s.text(1), s.int(2))) }
    return out
  }

  /// A tokenizer's name, vocabulary size and stored definition (tokenizer.json or vocab.txt bytes).
  public func tokenizerDefinition(id: Int64) throws -> (name: String, vocabSize: Int, json: [UInt8])? {
    let s = try db.prepare("SELECT name, vocab_size, json FROM tokenizers WHERE id = ?")
    try s.bind([.int(id)])
    guard try s.step() else { return nil }
    return (s.text(0), s.int(1), s.blob(2))
  }

  /// Examples and labeled examples of a task's split (duplicates excluded).
  public func splitCounts(task: Int64, split: Split) throws -> SplitCounts {
    let n = try db.scalarInt(
      "SELECT COUNT(*) FROM examples WHERE task_id = ? AND split = ? AND duplicate_of IS NULL",
      [.int(task), .text(split.rawValue)]) ?? 0
    let l = try db.scalarInt(
      """
      SELECT COUNT(*) FROM examples e WHERE e.task_id = ?1 AND e.split = ?2 AND e.duplicate_of IS NULL
      AND EXISTS (SELECT 1 FROM example_labels el CROSS JOIN labels l ON l.id = el.label_id
                  WHERE el.example_id = e.id AND l.task_id = ?1)
      """, [.int(task), .text(split.rawValue)]) ?? 0
    return SplitCounts(examples: Int(n), labeled: Int(l))
  }

  /// The smallest and one past the largest example id of a task's split, or nil when empty.
  public func exampleIDBounds(task: Int64, split: Split) throws -> Range<Int64>? {
    let s = try db.cached("SELECT MIN(id), MAX(id) FROM examples WHERE task_id = ? AND split = ?")
    defer { s.reset() }
    try s.bind([.int(task), .text(split.rawValue)])
    guard try s.step(), !s.isNull(0) else { return nil }
    return s.int64(0)..<(s.int64(1) + 1)
  }

  /// Shrinks this connection's page cache for a one-pass stream: the loader
  /// reads each page once, so a small cache keeps its memory independent of
  /// the database size (the default cache is 64 MB).
  public func useStreamingCache(megabytes: Int = 4) throws {
    try db.execute("PRAGMA cache_size=-\(max(1, megabytes) * 1024)")
  }

  /// A reader for the rows the loader streams.
  public func trainingRowReader(_ query: TrainingQuery) throws -> TrainingRowReader {
    try TrainingRowReader(db: db, query: query)
  }

  // MARK: Results

  /// Appends metric rows in one transaction.
  public func insertMetrics(runID: Int64, model: String, epoch: Int, step: Int, split: String,
                            values: [(name: String, value: Double)]) throws {
    try db.transaction {
      let s = try db.cached("INSERT INTO metrics (run_id, model, epoch, step, split, name, value) VALUES (?,?,?,?,?,?,?)")
      for v in values where v.value.isFinite {
        try s.bind([.int(runID), .text(model), .int(epoch), .int(step), .text(split), .text(v.name), .double(v.value)])
        try s.run()
      }
    }
  }

  /// Records a saved model and returns its id.
  public func insertModel(runID: Int64, name: String, taskID: Int64, kind: String, path: String, parameters: Int,
                          sizeBytes: Int, configJSON: String, resultsJSON: String?) throws -> Int64 {
    try db.run(
      """
      INSERT INTO models (run_id, name, task_id, kind, path, parameters, size_bytes, config_json, results_json, created_at)
      VALUES (?,?,?,?,?,?,?,?,?,?)
      """,
      [.int(runID), .text(name), .int(taskID), .text(kind), .text(path), .int(parameters), .int(sizeBytes),
       .text(configJSON), .optional(resultsJSON), .text(Store.now())])
    return db.lastInsertRowID
  }
}
