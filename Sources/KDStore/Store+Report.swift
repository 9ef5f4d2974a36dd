import Foundation
import KDCore

// Read-only queries behind `kd-report`. They return plain records; the
// report module aggregates and renders them.

/// Row counts of the main tables.
public struct StoreTableCounts: Sendable, Equatable {
  public var sources = 0
  public var sourcesWithErrors = 0
  public var documents = 0
  public var examples = 0
  public var duplicates = 0
  public var tasks = 0
  public var labels = 0
  public var tokenizers = 0
  public var teachers = 0
  public var teacherOutputs = 0
  public var runs = 0
  public var metrics = 0
  public var models = 0
  public init() {}
}

/// Examples of one (domain, split) cell: counts and summed lengths.
public struct ExampleGroupStat: Sendable, Equatable {
  public var domain: String
  public var split: String
  public var examples: Int
  public var duplicates: Int
  /// Sum of whitespace-separated words (an approximation: runs of spaces count once per space).
  public var words: Int
  /// Sum of token ids with the chosen tokenizer, over the examples it tokenized.
  public var tokens: Int
  /// Examples tokenized by the chosen tokenizer.
  public var tokenized: Int
}

/// Documents (or sources) counted per (domain, split).
public struct DocumentGroupStat: Sendable, Equatable {
  public var domain: String
  public var split: String
  public var documents: Int
}

/// Source files per domain, format and status.
public struct SourceGroupStat: Sendable, Equatable {
  public var domain: String
  public var format: String
  public var status: String
  public var files: Int
  public var bytes: Int64
  public var errors: Int
}

/// A source file that failed or was only partly read.
public struct SourceProblem: Sendable, Equatable {
  public var path: String
  public var status: String
  public var error: String?
  public var errorCount: Int
}

/// Examples carrying one label in one split.
public struct LabelSplitCount: Sendable, Equatable {
  public var taskID: Int64
  public var position: Int
  public var label: String
  public var split: String
  public var examples: Int
  /// Summed length of those examples (tokens, or words without a tokenizer); 0 for document labels.
  public var length = 0
}

/// Examples of a task in one split: all, unlabeled, duplicates.
public struct TaskSplitCount: Sendable, Equatable {
  public var taskID: Int64
  public var split: String
  public var examples: Int
  public var unlabeled: Int
  public var duplicates: Int
}

/// How many examples of a domain have a given length.
public struct LengthCount: Sendable, Equatable {
  public var domain: String
  public var length: Int
  public var examples: Int

  public init(domain: String, length: Int, examples: Int) {
    self.domain = domain; self.length = length; self.examples = examples
  }
}

/// A tokenizer and how many examples it tokenized.
public struct TokenizerUsage: Sendable, Equatable {
  public var id: Int64
  public var name: String
  public var vocabSize: Int
  public var examples: Int
}

/// A teacher as the report shows it.
public struct TeacherSummary: Sendable, Equatable {
  public var id: Int64
  public var name: String
  public var kind: String
  public var taskID: Int64?
  public var storage: String
  public var topK: Int?
  public var numOutputs: Int
  public var embeddingDim: Int?
  public var configJSON: String?
  public var headJSON: String?
  public var createdAt: String
  /// Cached outputs of this teacher.
  public var outputs: Int
  /// Examples of its task that are not duplicates (what it should cover).
  public var eligible: Int
}

/// One `metrics` row, with its SQLite rowid (insertion order).
public struct MetricRow: Sendable, Equatable {
  public var rowID: Int64
  public var runID: Int64
  public var model: String
  public var epoch: Int
  public var step: Int
  public var split: String
  public var name: String
  public var value: Double

  public init(rowID: Int64, runID: Int64, model: String, epoch: Int, step: Int, split: String, name: String,
              value: Double) {
    self.rowID = rowID; self.runID = runID; self.model = model; self.epoch = epoch; self.step = step
    self.split = split; self.name = name; self.value = value
  }
}

/// One `models` row.
public struct ModelRow: Sendable, Equatable {
  public var id: Int64
  public var runID: Int64
  public var name: String
  public var taskID: Int64
  public var kind: String
  public var path: String
  public var parameters: Int
  public var sizeBytes: Int
  public var configJSON: String
  public var resultsJSON: String?
  public var createdAt: String

  public init(id: Int64, runID: Int64, name: String, taskID: Int64, kind: String, path: String, parameters: Int,
              sizeBytes: Int, configJSON: String, resultsJSON: String?, createdAt: String) {
    self.id = id; self.runID = runID; self.name = name; self.taskID = taskID; self.kind = kind; self.path = path
    self.parameters = parameters; self.sizeBytes = sizeBytes; self.configJSON = configJSON
    self.resultsJSON = resultsJSON; self.createdAt = createdAt
  }
}

/// A teacher's prediction on one labeled example.
public struct TeacherPredictionRow {
  /// The gold class (`labels.position`; the lowest one for multi-label examples).
  public var gold: Int
  public var logits: TeacherLogits
}

extension Store {
  /// Runs `body` inside one read transaction, so that every query sees the same snapshot
  /// even while another stage writes.
  public func readSnapshot<T>(_ body: () throws -> T) throws -> T {
    try db.transaction(immediate: false, body)
  }

  /// Row counts of the main tables.
  public func reportTableCounts() throws -> StoreTableCounts {
    func count(_ sql: String) throws -> Int { Int(try db.scalarInt(sql) ?? 0) }
    var c = StoreTableCounts()
    c.sources = try count("SELECT COUNT(*) FROM sources")
    c.sourcesWithErrors = try count("SELECT COUNT(*) FROM sources WHERE status != 'ok'")
    c.documents = try count("SELECT COUNT(*) FROM documents")
    c.examples = try count("SELECT COUNT(*) FROM examples")
    c.duplicates = try count("SELECT COUNT(*) FROM examples WHERE duplicate_of IS NOT NULL")
    c.tasks = try count("SELECT COUNT(*) FROM tasks")
    c.labels = try count("SELECT COUNT(*) FROM labels")
    c.tokenizers = try count("SELECT COUNT(*) FROM tokenizers")
    c.teachers = try count("SELECT COUNT(*) FROM teachers")
    c.teacherOutputs = try count("SELECT COUNT(*) FROM teacher_outputs")
    c.runs = try count("SELECT COUNT(*) FROM runs")
    c.metrics = try count("SELECT COUNT(*) FROM metrics")
    c.models = try count("SELECT COUNT(*) FROM models")
    return c
  }

  /// Tokenizers with the number of examples each tokenized, most used first.
  public func reportTokenizerUsage() throws -> [TokenizerUsage] {
    let s = try db.prepare(
      """
      SELECT k.id, k.name, k.vocab_size, (SELECT COUNT(*) FROM tokenizations t WHERE t.tokenizer_id = k.id) AS n
      FROM tokenizers k ORDER BY n DESC, k.id
      """)
    var out: [TokenizerUsage] = []
    while try s.step() { out.append(TokenizerUsage(id: s.int64(0), name: s.text(1), vocabSize: s.int(2), examples: s.int(3))) }
    return out
  }

  /// Example counts, words and tokens per (domain, split).
  /// - Parameter tokenizerID: whose token counts to sum; nil sums none.
  public func reportExampleStats(tokenizerID: Int64?) throws -> [ExampleGroupStat] {
    let s = try db.prepare(
      """
      SELECT e.domain, e.split, COUNT(*), COUNT(e.duplicate_of),
             COALESCE(SUM(CASE WHEN length(trim(e.text)) = 0 THEN 0
                          ELSE length(trim(e.text)) - length(replace(trim(e.text), ' ', '')) + 1 END), 0),
             COALESCE(SUM(t.length), 0), COUNT(t.length)
      FROM examples e LEFT JOIN tokenizations t ON t.example_id = e.id AND t.tokenizer_id = ?1
      GROUP BY e.domain, e.split ORDER BY e.domain, e.split
      """)
    try s.bind([.optional(tokenizerID)])
    var out: [ExampleGroupStat] = []
    while try s.step() {
      out.append(ExampleGroupStat(domain: s.text(0), split: s.text(1), examples: s.int(2), duplicates: s.int(3),
                                  words: s.int(4), tokens: s.int(5), tokenized: s.int(6)))
    }
    return out
  }

  /// Documents per (domain, split).
  public func reportDocumentStats() throws -> [DocumentGroupStat] {
    let s = try db.prepare("SELECT domain, split, COUNT(*) FROM documents GROUP BY domain, split ORDER BY domain, split")
    var out: [DocumentGroupStat] = []
    while try s.step() { out.append(DocumentGroupStat(domain: s.text(0), split: s.text(1), documents: s.int(2))) }
    return out
  }

  /// Source files per domain, format and status.
  public func reportSourceStats() throws -> [SourceGroupStat] {
    let s = try db.prepare(
      """
      SELECT domain, format, status, COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(error_count), 0)
      FROM sources GROUP BY domain, format, status ORDER BY domain, format, status
      """)
    var out: [SourceGroupStat] = []
    while try s.step() {
      out.append(SourceGroupStat(domain: s.text(0), format: s.text(1), status: s.text(2), files: s.int(3),
                                 bytes: s.int64(4), errors: s.int(5)))
    }
    return out
  }

  /// Source files whose status is not `ok`, worst first.
  public func reportSourceProblems(limit: Int = 50) throws -> [SourceProblem] {
    let s = try db.prepare(
      """
      SELECT path, status, error, error_count FROM sources WHERE status != 'ok'
      ORDER BY status = 'error' DESC, error_count DESC, path LIMIT ?
      """)
    try s.bind([.int(limit)])
    var out: [SourceProblem] = []
    while try s.step() {
      out.append(SourceProblem(path: s.text(0), status: s.text(1), error: s.optionalText(2), errorCount: s.int(3)))
    }
    return out
  }

  /// Examples per label and split (a multi-label example counts once for each of its labels), with their
  /// summed length: tokens with `tokenizerID` (examples it did not tokenize add 0), or whitespace words when nil.
  public func reportLabelCounts(tokenizerID: Int64?) throws -> [LabelSplitCount] {
    let length = tokenizerID == nil
      ? "CASE WHEN length(trim(e.text)) = 0 THEN 0 ELSE length(trim(e.text)) - length(replace(trim(e.text), ' ', '')) + 1 END"
      : "(SELECT t.length FROM tokenizations t WHERE t.example_id = e.id AND t.tokenizer_id = ?1)"
    let s = try db.prepare(
      """
      SELECT l.task_id, l.position, l.name, e.split, COUNT(*), COALESCE(SUM(\(length)), 0)
      FROM example_labels el JOIN labels l ON l.id = el.label_id JOIN examples e ON e.id = el.example_id
      GROUP BY l.id, e.split ORDER BY l.task_id, l.position, e.split
      """)
    try s.bind(tokenizerID.map { [.int($0)] } ?? [])
    var out: [LabelSplitCount] = []
    while try s.step() {
      out.append(LabelSplitCount(taskID: s.int64(0), position: s.int(1), label: s.text(2), split: s.text(3),
                                 examples: s.int(4), length: s.int(5)))
    }
    return out
  }

  /// Documents per document-level label (`document_labels`) and split.
  public func reportDocumentLabelCounts() throws -> [LabelSplitCount] {
    let s = try db.prepare(
      """
      SELECT l.task_id, l.position, l.name, d.split, COUNT(*)
      FROM document_labels dl JOIN labels l ON l.id = dl.label_id JOIN documents d ON d.id = dl.document_id
      GROUP BY l.id, d.split ORDER BY l.task_id, l.position, d.split
      """)
    var out: [LabelSplitCount] = []
    while try s.step() {
      out.append(LabelSplitCount(taskID: s.int64(0), position: s.int(1), label: s.text(2), split: s.text(3),
                                 examples: s.int(4)))
    }
    return out
  }

  /// Examples of each task per split, with how many carry no label of the task and how many are duplicates.
  public func reportTaskSplitCounts() throws -> [TaskSplitCount] {
    let s = try db.prepare(
      """
      SELECT e.task_id, e.split, COUNT(*),
             SUM(NOT EXISTS (SELECT 1 FROM example_labels el JOIN labels l ON l.id = el.label_id
                             WHERE el.example_id = e.id AND l.task_id = e.task_id)),
             COUNT(e.duplicate_of)
      FROM examples e WHERE e.task_id IS NOT NULL GROUP BY e.task_id, e.split ORDER BY e.task_id, e.split
      """)
    var out: [TaskSplitCount] = []
    while try s.step() {
      out.append(TaskSplitCount(taskID: s.int64(0), split: s.text(1), examples: s.int(2), unlabeled: s.int(3),
                                duplicates: s.int(4)))
    }
    return out
  }

  /// Examples per (domain, length): token ids with `tokenizerID`, or whitespace words when nil
  /// (examples the tokenizer did not cover are left out). Grouped in SQL, so the result stays small
  /// however many examples there are.
  public func reportLengthCounts(tokenizerID: Int64?) throws -> [LengthCount] {
    let s: Statement
    if let tokenizerID {
      s = try db.prepare(
        """
        SELECT e.domain, t.length, COUNT(*) FROM examples e
        JOIN tokenizations t ON t.example_id = e.id AND t.tokenizer_id = ? GROUP BY e.domain, t.length
        """)
      try s.bind([.int(tokenizerID)])
    } else {
      s = try db.prepare(
        """
        SELECT domain, CASE WHEN length(trim(text)) = 0 THEN 0
                            ELSE length(trim(text)) - length(replace(trim(text), ' ', '')) + 1 END AS n, COUNT(*)
        FROM examples GROUP BY domain, n
        """)
    }
    var out: [LengthCount] = []
    while try s.step() { out.append(LengthCount(domain: s.text(0), length: s.int(1), examples: s.int(2))) }
    return out
  }

  /// Every teacher with its output count and the number of examples it should cover.
  public func reportTeachers() throws -> [TeacherSummary] {
    let s = try db.prepare(
      """
      SELECT h.id, h.name, h.kind, h.task_id, h.storage, h.top_k, h.num_outputs, h.embedding_dim, h.config_json,
             h.head_json, h.created_at,
             (SELECT COUNT(*) FROM teacher_outputs o WHERE o.teacher_id = h.id),
             (SELECT COUNT(*) FROM examples e WHERE e.task_id IS h.task_id AND e.duplicate_of IS NULL)
      FROM teachers h ORDER BY h.name
      """)
    var out: [TeacherSummary] = []
    while try s.step() {
      out.append(TeacherSummary(
        id: s.int64(0), name: s.text(1), kind: s.text(2), taskID: s.isNull(3) ? nil : s.int64(3), storage: s.text(4),
        topK: s.optionalInt(5), numOutputs: s.int(6), embeddingDim: s.optionalInt(7), configJSON: s.optionalText(8),
        headJSON: s.optionalText(9), createdAt: s.text(10), outputs: s.int(11), eligible: s.int(12)))
    }
    return out
  }

  /// Streams a teacher's decoded outputs on the labeled, non-duplicate examples of a task's split,
  /// with the gold class of each (the lowest label position, as the trainer uses).
  /// - Throws: `KDError(.input)` naming the example when a blob does not match the teacher's storage.
  public func forEachTeacherPrediction(
    teacherID: Int64, storage: TeacherStorage, numOutputs: Int, taskID: Int64, split: Split,
    _ body: (TeacherPredictionRow) throws -> Void
  ) throws {
    let s = try db.prepare(
      """
      SELECT e.id, (SELECT MIN(l.position) FROM example_labels el JOIN labels l ON l.id = el.label_id
                    WHERE el.example_id = e.id AND l.task_id = ?2), o.logits
      FROM teacher_outputs o JOIN examples e ON e.id = o.example_id
      WHERE o.teacher_id = ?1 AND e.task_id = ?2 AND e.split = ?3 AND e.duplicate_of IS NULL
      ORDER BY e.id
      """)
    try s.bind([.int(teacherID), .int(taskID), .text(split.rawValue)])
    while try s.step() {
      guard !s.isNull(1) else { continue }
      let id = s.int64(0)
      let logits: TeacherLogits
      do {
        logits = try s.withBlob(2) { try TeacherOutputCodec.decode($0, storage: storage, numOutputs: numOutputs) }
      } catch let e as KDError {
        throw KDError(e.kind, "example \(id): \(e.message)", file: path, field: e.field)
      }
      try body(TeacherPredictionRow(gold: s.int(1), logits: logits))
    }
  }

  /// Every `metrics` row in insertion order.
  public func reportMetricRows() throws -> [MetricRow] {
    let s = try db.prepare("SELECT rowid, run_id, model, epoch, step, split, name, value FROM metrics ORDER BY rowid")
    var out: [MetricRow] = []
    while try s.step() {
      out.append(MetricRow(rowID: s.int64(0), runID: s.int64(1), model: s.text(2), epoch: s.int(3), step: s.int(4),
                           split: s.text(5), name: s.text(6), value: s.double(7)))
    }
    return out
  }

  /// Every `models` row, oldest first.
  public func reportModels() throws -> [ModelRow] {
    let s = try db.prepare(
      """
      SELECT id, run_id, name, task_id, kind, path, parameters, size_bytes, config_json, results_json, created_at
      FROM models ORDER BY id
      """)
    var out: [ModelRow] = []
    while try s.step() {
      out.append(ModelRow(id: s.int64(0), runID: s.int64(1), name: s.text(2), taskID: s.int64(3), kind: s.text(4),
                          path: s.text(5), parameters: s.int(6), sizeBytes: s.int(7), configJSON: s.text(8),
                          resultsJSON: s.optionalText(9), createdAt: s.text(10)))
    }
    return out
  }

  /// Every run, newest first.
  public func reportRuns(limit: Int = 30) throws -> [RunRecord] {
    try recentRuns(limit: limit)
  }
}
