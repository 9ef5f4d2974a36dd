import Foundation
import KDCore

/// A row of `teachers`: one teacher model bound to one task, with everything
/// needed to tell whether a later run computes the same outputs.
public struct TeacherRecord: Sendable, Equatable {
  public var id: Int64
  public var name: String
  /// `bert` (native encoder) or `external` (`--teacher-cmd`).
  public var kind: String
  public var taskID: Int64?
  public var tokenizerID: Int64?
  public var checkpointHash: String?
  public var configJSON: String?
  public var headJSON: String?
  public var headBlob: [UInt8]?
  public var storage: TeacherStorage
  public var numOutputs: Int
  public var embeddingDim: Int?
  public var createdAt: String
  public var runID: Int64?
}

/// The values of a new `teachers` row.
public struct NewTeacher: Sendable {
  public var name: String
  public var kind: String
  public var taskID: Int64?
  public var tokenizerID: Int64?
  public var checkpointHash: String?
  public var configJSON: String?
  public var headJSON: String?
  public var headBlob: [UInt8]?
  public var storage: TeacherStorage
  public var numOutputs: Int
  public var embeddingDim: Int?
  public var runID: Int64?

  public init(name: String, kind: String, taskID: Int64?, tokenizerID: Int64?, checkpointHash: String?,
              configJSON: String?, headJSON: String?, headBlob: [UInt8]?, storage: TeacherStorage,
              numOutputs: Int, embeddingDim: Int?, runID: Int64?) {
    self.name = name; self.kind = kind; self.taskID = taskID; self.tokenizerID = tokenizerID
    self.checkpointHash = checkpointHash; self.configJSON = configJSON; self.headJSON = headJSON
    self.headBlob = headBlob; self.storage = storage; self.numOutputs = numOutputs
    self.embeddingDim = embeddingDim; self.runID = runID
  }
}

/// An example a teacher still has to compute: its id and, when it is
/// tokenized with the teacher's tokenizer, the token count (else nil).
public struct PendingTeacherExample: Sendable, Equatable {
  public var exampleID: Int64
  public var tokenCount: Int?
}

/// What a teacher reads for one example.
public struct TeacherInputRow: Sendable, Equatable {
  public var exampleID: Int64
  public var text: String
  /// Token ids with the teacher's tokenizer (specials included), when requested and stored.
  public var ids: [Int32]?
}

/// A labeled example (for fitting a head): its id and the class indices of its labels.
public struct LabeledExampleRow: Sendable, Equatable {
  public var exampleID: Int64
  /// The content key of the example's text (`LabelFraction.contentKey(textHash:)`).
  public var contentKey: UInt64
  public var classes: [Int]
  public init(exampleID: Int64, contentKey: UInt64, classes: [Int]) {
    self.exampleID = exampleID; self.contentKey = contentKey; self.classes = classes
  }
}

/// One cached output with the example it belongs to (for `dump` and loaders).
public struct TeacherOutputRow: Sendable {
  public var exampleID: Int64
  public var documentExternalID: String?
  public var split: String
  public var text: String
  /// Label names of the example within the teacher's task (empty = unlabeled).
  public var labels: [String]
  public var logits: TeacherLogits
  /// The pooled embedding, when cached.
  public var embedding: [Float]?
}

/// Counts describing a teacher's examples in one task.
public struct TeacherCoverage: Sendable, Equatable {
  /// Examples of the task (or without a task), duplicates excluded.
  public var eligible: Int
  /// Of those, examples with a cached output for this teacher.
  public var cached: Int
  /// Examples skipped because their text duplicates an earlier example.
  public var duplicates: Int
}

extension Store {
  // MARK: Teachers

  static let teacherColumns = """
    id, name, kind, task_id, tokenizer_id, checkpoint_hash, config_json, head_json, head_blob, storage, top_k,
    num_outputs, embedding_dim, created_at, run_id
    """

  static func teacherRecord(_ s: Statement) throws -> TeacherRecord {
    let storage = try TeacherStorage(name: s.text(9), topK: s.optionalInt(10))
    return TeacherRecord(
      id: s.int64(0), name: s.text(1), kind: s.text(2), taskID: s.isNull(3) ? nil : s.int64(3),
      tokenizerID: s.isNull(4) ? nil : s.int64(4), checkpointHash: s.optionalText(5), configJSON: s.optionalText(6),
      headJSON: s.optionalText(7), headBlob: s.isNull(8) ? nil : s.blob(8), storage: storage,
      numOutputs: s.int(11), embeddingDim: s.optionalInt(12), createdAt: s.text(13),
      runID: s.isNull(14) ? nil : s.int64(14))
  }

  /// The teacher called `name`, or nil.
  public func teacher(named name: String) throws -> TeacherRecord? {
    let s = try db.prepare("SELECT \(Self.teacherColumns) FROM teachers WHERE name = ?")
    try s.bind([.text(name)])
    guard try s.step() else { return nil }
    return try Self.teacherRecord(s)
  }

  /// The teacher with row id `id`, or nil.
  public func teacher(id: Int64) throws -> TeacherRecord? {
    let s = try db.prepare("SELECT \(Self.teacherColumns) FROM teachers WHERE id = ?")
    try s.bind([.int(id)])
    guard try s.step() else { return nil }
    return try Self.teacherRecord(s)
  }

  /// Every teacher, by name.
  public func teachers() throws -> [TeacherRecord] {
    let s = try db.prepare("SELECT \(Self.teacherColumns) FROM teachers ORDER BY name")
    var out: [TeacherRecord] = []
    while try s.step() { out.append(try Self.teacherRecord(s)) }
    return out
  }

  /// Inserts a teacher row and returns its id.
  /// - Throws: `DatabaseError` when the name is taken.
  public func insertTeacher(_ t: NewTeacher) throws -> Int64 {
    var topK: Int64?
    if case .topK(let k) = t.storage { topK = Int64(k) }
    try db.run(
      """
      INSERT INTO teachers (name, kind, task_id, tokenizer_id, checkpoint_hash, config_json, head_json, head_blob,
                            storage, top_k, num_outputs, embedding_dim, created_at, run_id)
      VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
      """,
      [.text(t.name), .text(t.kind), .optional(t.taskID), .optional(t.tokenizerID), .optional(t.checkpointHash),
       .optional(t.configJSON), .optional(t.headJSON), t.headBlob.map { .blob($0) } ?? .null, .text(t.storage.name),
       .optional(topK), .int(t.numOutputs), .optional(t.embeddingDim.map(Int64.init)), .text(Store.now()),
       .optional(t.runID)])
    return db.lastInsertRowID
  }

  /// Deletes a teacher and, by cascade, all its cached outputs.
  public func deleteTeacher(_ id: Int64) throws {
    try db.run("DELETE FROM teacher_outputs WHERE teacher_id = ?", [.int(id)])
    try db.run("DELETE FROM teachers WHERE id = ?", [.int(id)])
  }

  /// A head fitted earlier for the same encoder and the same labeled set, if any teacher recorded one.
  ///
  /// Matches `head_json.encoder_hash` and `head_json.labeled_set_hash`.
  /// - Returns: the head description and weights of the first match.
  public func recordedFittedHead(encoderHash: String, labeledSetHash: String) throws -> (headJSON: String, headBlob: [UInt8])? {
    let s = try db.prepare(
      """
      SELECT head_json, head_blob FROM teachers
      WHERE head_blob IS NOT NULL AND json_valid(head_json)
        AND json_extract(head_json, '$.encoder_hash') = ? AND json_extract(head_json, '$.labeled_set_hash') = ?
      ORDER BY id LIMIT 1
      """)
    try s.bind([.text(encoderHash), .text(labeledSetHash)])
    guard try s.step() else { return nil }
    return (s.text(0), s.blob(1))
  }

  // MARK: Work lists

  /// The SQL condition selecting the examples a teacher of task `?1` serves:
  /// the task's examples and examples without a task, duplicates excluded.
  static let teacherExampleFilter = "(e.task_id = ?1 OR e.task_id IS NULL) AND e.duplicate_of IS NULL"

  /// How many of a task's examples there are and how many this teacher has cached.
  public func teacherCoverage(teacherID: Int64?, taskID: Int64) throws -> TeacherCoverage {
    let eligible = try db.scalarInt(
      "SELECT COUNT(*) FROM examples e WHERE \(Self.teacherExampleFilter)", [.int(taskID)]) ?? 0
    let dups = try db.scalarInt(
      "SELECT COUNT(*) FROM examples e WHERE (e.task_id = ?1 OR e.task_id IS NULL) AND e.duplicate_of IS NOT NULL",
      [.int(taskID)]) ?? 0
    var cached: Int64 = 0
    if let teacherID {
      cached = try db.scalarInt(
        """
        SELECT COUNT(*) FROM examples e JOIN teacher_outputs o ON o.example_id = e.id AND o.teacher_id = ?2
        WHERE \(Self.teacherExampleFilter)
        """, [.int(taskID), .int(teacherID)]) ?? 0
    }
    return TeacherCoverage(eligible: Int(eligible), cached: Int(cached), duplicates: Int(dups))
  }

  /// Examples of a task that have no output from `teacherID` yet, with their
  /// token count for `tokenizerID` (nil when not tokenized with it), in id order.
  public func pendingTeacherExamples(teacherID: Int64, taskID: Int64, tokenizerID: Int64?) throws -> [PendingTeacherExample] {
    let s = try db.prepare(
      """
      SELECT e.id, t.length FROM examples e
      LEFT JOIN tokenizations t ON t.example_id = e.id AND t.tokenizer_id = ?3
      WHERE \(Self.teacherExampleFilter)
        AND NOT EXISTS (SELECT 1 FROM teacher_outputs o WHERE o.teacher_id = ?2 AND o.example_id = e.id)
      ORDER BY e.id
      """)
    try s.bind([.int(taskID), .int(teacherID), .optional(tokenizerID)])
    var out: [PendingTeacherExample] = []
    while try s.step() { out.append(PendingTeacherExample(exampleID: s.int64(0), tokenCount: s.optionalInt(1))) }
    return out
  }

  /// Examples a teacher of task `taskID` serves that have no tokenization with
  /// `tokenizerID` (nil: none registered), in id order, each with whether it
  /// has a tokenization with some other tokenizer.
  public func examplesLackingTokenization(taskID: Int64, tokenizerID: Int64?) throws -> [(exampleID: Int64, tokenizedOtherwise: Bool)] {
    let s = try db.prepare(
      """
      SELECT e.id, EXISTS (SELECT 1 FROM tokenizations o WHERE o.example_id = e.id) FROM examples e
      WHERE \(Self.teacherExampleFilter)
        AND NOT EXISTS (SELECT 1 FROM tokenizations t WHERE t.example_id = e.id AND t.tokenizer_id IS ?2)
      ORDER BY e.id
      """)
    try s.bind([.int(taskID), .optional(tokenizerID)])
    var out: [(Int64, Bool)] = []
    while try s.step() { out.append((s.int64(0), s.int(1) != 0)) }
    return out
  }

  /// For examples of a task lacking a tokenization with `tokenizerID`, the
  /// tokenizers they do have: (name, content hash, examples); `nil` name = not tokenized at all.
  public func otherTokenizations(taskID: Int64, tokenizerID: Int64?) throws
    -> [(name: String?, contentHash: String?, examples: Int)]
  {
    let s = try db.prepare(
      """
      SELECT k.name, k.content_hash, COUNT(DISTINCT e.id) FROM examples e
      LEFT JOIN tokenizations t ON t.example_id = e.id
      LEFT JOIN tokenizers k ON k.id = t.tokenizer_id
      WHERE \(Self.teacherExampleFilter)
        AND NOT EXISTS (SELECT 1 FROM tokenizations m WHERE m.example_id = e.id AND m.tokenizer_id = ?2)
      GROUP BY k.id ORDER BY 3 DESC
      """)
    try s.bind([.int(taskID), .optional(tokenizerID)])
    var out: [(String?, String?, Int)] = []
    while try s.step() { out.append((s.optionalText(0), s.optionalText(1), s.int(2))) }
    return out
  }

  /// Texts (and token ids with `tokenizerID`, when given) of the examples `ids`, in the same order.
  /// - Throws: `KDError(.database)` when an example vanished.
  public func teacherInputs(_ ids: [Int64], tokenizerID: Int64?) throws -> [TeacherInputRow] {
    let s = try db.cached(
      """
      SELECT e.text, t.width, t.ids FROM examples e
      LEFT JOIN tokenizations t ON t.example_id = e.id AND t.tokenizer_id = ?2
      WHERE e.id = ?1
      """)
    var out: [TeacherInputRow] = []
    out.reserveCapacity(ids.count)
    for id in ids {
      try s.bind([.int(id), .optional(tokenizerID)])
      guard try s.step() else { throw KDError(.database, "example \(id) disappeared while caching", field: "examples.id") }
      var tokens: [Int32]?
      if tokenizerID != nil && !s.isNull(1) {
        var buf: [Int32] = []
        let width = s.int(1)
        s.withBlob(2) { TokenBlob.decode($0, width: width, into: &buf) }
        tokens = buf
      }
      out.append(TeacherInputRow(exampleID: id, text: s.text(0), ids: tokens))
    }
    s.reset()
    return out
  }

  /// Labeled examples of a task in one split (duplicates excluded), with their class indices, by id.
  public func labeledExamples(taskID: Int64, split: Split) throws -> [LabeledExampleRow] {
    let s = try db.prepare(
      """
      SELECT e.id, l.position, e.text_hash FROM examples e
      JOIN example_labels el ON el.example_id = e.id
      JOIN labels l ON l.id = el.label_id AND l.task_id = ?1
      WHERE e.task_id = ?1 AND e.split = ?2 AND e.duplicate_of IS NULL
      ORDER BY e.id, l.position
      """)
    try s.bind([.int(taskID), .text(split.rawValue)])
    var out: [LabeledExampleRow] = []
    while try s.step() {
      let id = s.int64(0), c = s.int(1)
      if let last = out.last, last.exampleID == id {
        out[out.count - 1].classes.append(c)
      } else {
        out.append(LabeledExampleRow(exampleID: id, contentKey: LabelFraction.contentKey(textHash: s.text(2)), classes: [c]))
      }
    }
    return out
  }

  // MARK: Outputs

  /// Stores one example's teacher output (kept when a row already exists).
  /// Call inside a transaction for speed.
  public func insertTeacherOutput(teacherID: Int64, exampleID: Int64, logits: [UInt8], embedding: [UInt8]?, runID: Int64?) throws {
    let s = try db.cached(
      """
      INSERT INTO teacher_outputs (example_id, teacher_id, logits, embedding, run_id) VALUES (?,?,?,?,?)
      ON CONFLICT (teacher_id, example_id) DO NOTHING
      """)
    try s.bind(.int(exampleID), at: 1)
    try s.bind(.int(teacherID), at: 2)
    try logits.withUnsafeBytes { try s.bindBlob($0, at: 3) }
    if let embedding {
      try embedding.withUnsafeBytes { try s.bindBlob($0, at: 4) }
    } else {
      try s.bind(.null, at: 4)
    }
    try s.bind(.optional(runID), at: 5)
    try s.run()
  }

  /// Number of cached outputs of a teacher and their mean stored size in bytes (logits, embedding).
  public func teacherOutputSizes(teacherID: Int64) throws -> (count: Int, logitsBytes: Double, embeddingBytes: Double) {
    let s = try db.prepare(
      "SELECT COUNT(*), COALESCE(AVG(LENGTH(logits)), 0), COALESCE(AVG(LENGTH(embedding)), 0) FROM teacher_outputs WHERE teacher_id = ?")
    try s.bind([.int(teacherID)])
    guard try s.step() else { return (0, 0, 0) }
    return (s.int(0), s.double(1), s.double(2))
  }

  /// Decoded outputs of one example, or nil when not cached.
  public func teacherOutput(teacher: TeacherRecord, exampleID: Int64) throws -> (logits: TeacherLogits, embedding: [Float]?)? {
    let s = try db.prepare("SELECT logits, embedding FROM teacher_outputs WHERE teacher_id = ? AND example_id = ?")
    try s.bind([.int(teacher.id), .int(exampleID)])
    guard try s.step() else { return nil }
    let logits = try s.withBlob(0) { try TeacherOutputCodec.decode($0, storage: teacher.storage, numOutputs: teacher.numOutputs) }
    let emb = try Self.decodeEmbedding(s, column: 1, teacher: teacher)
    return (logits, emb)
  }

  static func decodeEmbedding(_ s: Statement, column: Int32, teacher: TeacherRecord) throws -> [Float]? {
    guard !s.isNull(column), let dim = teacher.embeddingDim else { return nil }
    return try s.withBlob(column) { try TeacherOutputCodec.decode($0, storage: .f16, numOutputs: dim).values }
  }

  /// Streams a teacher's cached outputs with their examples, in example id order.
  /// - Parameters:
  ///   - split: only this split, when given.
  ///   - limit: at most this many rows.
  ///   - body: called per row; return false to stop.
  public func forEachTeacherOutput(
    teacher: TeacherRecord, split: Split? = nil, limit: Int? = nil, _ body: (TeacherOutputRow) throws -> Bool
  ) throws {
    var sql = """
      SELECT e.id, d.external_id, e.split, e.text,
        (SELECT json_group_array(l.name) FROM example_labels el JOIN labels l ON l.id = el.label_id
          WHERE el.example_id = e.id AND l.task_id IS ?2),
        o.logits, o.embedding
      FROM teacher_outputs o JOIN examples e ON e.id = o.example_id JOIN documents d ON d.id = e.document_id
      WHERE o.teacher_id = ?1
      """
    var args: [SQLValue] = [.int(teacher.id), .optional(teacher.taskID)]
    if let split {
      sql += " AND e.split = ?3"
      args.append(.text(split.rawValue))
    }
    sql += " ORDER BY o.example_id"
    if let limit { sql += " LIMIT \(max(0, limit))" }
    let s = try db.prepare(sql)
    try s.bind(args)
    while try s.step() {
      let labelsJSON = s.text(4)
      let labels = (try? JSONSerialization.jsonObject(with: Data(labelsJSON.utf8))) as? [String] ?? []
      let exampleID = s.int64(0)
      let logits: TeacherLogits
      do {
        logits = try s.withBlob(5) { try TeacherOutputCodec.decode($0, storage: teacher.storage, numOutputs: teacher.numOutputs) }
      } catch let e as KDError {
        throw KDError(e.kind, "example \(exampleID): \(e.message)", field: e.field)
      }
      let row = TeacherOutputRow(
        exampleID: exampleID, documentExternalID: s.optionalText(1), split: s.text(2), text: s.text(3), labels: labels,
        logits: logits, embedding: try Self.decodeEmbedding(s, column: 6, teacher: teacher))
      if try !body(row) { break }
    }
  }
}
