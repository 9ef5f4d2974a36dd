import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
@testable import KDTeacher

/// A DB with one task, labels and tokenized examples, built directly through the store.
struct CorpusFixture {
  struct Example {
    var text: String
    var label: String?
    var split: Split
    var ids: [Int32]
  }

  static let tokenizerHash = "00000000fa4e70c0"

  /// Writes `examples` for task `task` (labels `labels`), tokenized with tokenizer `tokenizerHash`.
  @discardableResult
  static func populate(_ store: Store, task: String = "topic", labels: [String] = ["a", "b"], examples: [Example],
                       tokenizerHash: String? = tokenizerHash) throws -> [Int64] {
    try store.db.transaction {
      let taskID = try store.taskID(named: task)
      var labelIDs: [String: Int64] = [:]
      for l in labels { labelIDs[l] = try store.labelID(task: taskID, name: l) }
      let tok = try tokenizerHash.map { try store.tokenizerID(name: "fixture", contentHash: $0, vocabSize: 1000, json: Array("{}".utf8)) }
      let source = try store.insertSource(
        NewSource(root: "/fixture", path: "\(task)-\(UUID().uuidString).txt", contentHash: "0", size: 0, mtime: 0, format: "lines", domain: "test",
                  taskID: taskID, configHash: "", status: "ok", error: nil, errorCount: 0, runID: nil))
      var ids: [Int64] = []
      for (i, e) in examples.enumerated() {
        let doc = try store.insertDocument(
          sourceID: source, position: i, externalID: "doc-\(task)-\(i)", docKey: "k\(i)", domain: "test", title: nil, split: e.split,
          metadataJSON: nil)
        let ex = try store.insertExample(
          documentID: doc, position: 0, text: e.text, charStart: nil, charEnd: nil, section: nil, split: e.split, domain: "test",
          taskID: taskID)
        if let l = e.label, let lid = labelIDs[l] { try store.addExampleLabel(example: ex, label: lid) }
        if let tok { try store.insertTokenization(example: ex, tokenizer: tok, ids: e.ids, vocabSize: 1000) }
        ids.append(ex)
      }
      _ = try store.refreshDuplicates()
      return ids
    }
  }

  /// `count` examples "text i" with ids [101, i+1 (repeated i % 7 + 1 times), 102], alternating labels.
  static func simple(_ count: Int, labels: [String] = ["a", "b"]) -> [Example] {
    (0..<count).map { i in
      Example(text: "text \(i)", label: labels[i % labels.count], split: i % 5 == 4 ? .validation : .train,
              ids: [101] + [Int32](repeating: Int32(i + 1), count: i % 7 + 1) + [102])
    }
  }
}

/// A deterministic in-process teacher: logits are simple functions of the token ids.
class FakeTeacher: TeacherBackend {
  var defaultName = "fake"
  var tokenizerInfo: TeacherTokenizerInfo? = TeacherTokenizerInfo(
    name: "fixture", contentHash: CorpusFixture.tokenizerHash, vocabularySize: 1000, fileBytes: [])
  var maxTokens: Int?
  var numOutputs: Int
  var embeddingDim = 3
  /// Examples computed, in call order (windows count once per window).
  var computed: [Int64] = []
  var batches = 0
  /// Throw this error on batch number `failOnBatch` (0-based), simulating a crash mid-run.
  var failOnBatch: Int?
  /// Return NaN for this example.
  var nanFor: Int64?
  /// Report a per-example failure for this example.
  var refuse: Int64?
  var logitScale: Float = 1

  init(numOutputs: Int = 2, maxTokens: Int? = nil) {
    self.numOutputs = numOutputs
    self.maxTokens = maxTokens
  }

  static func logits(_ ids: [Int32], n: Int, scale: Float = 1) -> [Float] {
    let s = Float(ids.reduce(0) { $0 + Int($1) })
    return (0..<n).map { c in scale * (sin(s * 0.37 + Float(c)) * 3 + Float(c) * 0.01 - Float(ids.count) * 0.001) }
  }

  func prepare(task: TaskRecord, context: TeacherPreparationContext) throws -> TeacherDescription {
    TeacherDescription(
      kind: "bert", checkpointHash: "fakehash", tokenizer: tokenizerInfo, configJSON: "{}",
      headJSON: #"{"type":"own"}"#, headBlob: nil, numOutputs: numOutputs, embeddingDim: embeddingDim, maxTokens: maxTokens)
  }

  func compute(_ batch: [TeacherInput], wantEmbeddings: Bool) throws -> [TeacherResult] {
    defer { batches += 1 }
    if let f = failOnBatch, f == batches { throw KDError(.io, "simulated crash in batch \(batches)") }
    return batch.map { input in
      computed.append(input.exampleID)
      if input.exampleID == refuse { return .failed("cannot score this") }
      var l = Self.logits(input.ids ?? [], n: numOutputs, scale: logitScale)
      if input.exampleID == nanFor { l[l.count - 1] = .nan }
      let e: [Float]? = wantEmbeddings ? (0..<embeddingDim).map { Float($0) + Float(input.ids?.count ?? 0) } : nil
      return .output(logits: l, embedding: e)
    }
  }

  func embed(_ batch: [TeacherInput]) throws -> [[Float]] {
    batch.map { i in (0..<embeddingDim).map { Float($0 + (i.ids?.count ?? 0)) } }
  }

  func tokenize(_ text: String) throws -> [Int32] {
    [101] + text.utf8.map { Int32($0) } + [102]
  }

  func close() throws {}
}

/// Whether `python3` runs here (external-teacher tests need it).
let python3Available: Bool = {
  guard let r = try? runCommand("/usr/bin/env", ["python3", "-c", "print(1)"]) else { return false }
  return r.status == 0
}()
