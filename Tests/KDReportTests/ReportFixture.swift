import Foundation
import KDCore
@testable import KDStore
import KDTestSupport

/// A small store shaped like the whole pipeline's output: ingest rows, a
/// tokenizer, a teacher with cached logits, and a kd-train `--compare` run
/// (metrics and models rows written exactly as kd-train writes them).
///
/// Label and domain names carry markup and quotes, to check escaping.
struct ReportFixture {
  static let evilLabel = "<script>alert(1)</script>"
  static let labels = ["alpha", "beta & \"co\"", evilLabel]
  static let evilDomain = "legal <b>&</b> 'x'"
  static let task = "topics"

  /// Examples per (domain, split): medical and the evil domain.
  static let layout: [(domain: String, split: Split, count: Int)] = [
    ("medical", .train, 9), ("medical", .validation, 3), ("medical", .test, 6),
    (evilDomain, .train, 6), (evilDomain, .validation, 3), (evilDomain, .test, 3),
  ]

  /// The teacher's prediction for the `index`-th labeled test example of gold class `gold`:
  /// right except for two mistakes (example 1, gold 1 -> 2; example 5, gold 2 -> 0).
  static func teacherPrediction(gold: Int, index: Int) -> Int {
    switch index {
    case 1: return 2
    case 5: return 0
    default: return gold
    }
  }

  /// What the store holds, for assertions.
  struct Expected {
    var examplesPerDomain: [String: Int] = [:]
    var documentsPerDomain: [String: Int] = [:]
    var tokensPerDomain: [String: Int] = [:]
    var tokensPerSplit: [String: Int] = [:]
    var examplesPerSplit: [String: Int] = [:]
    var tokensPerLabel: [String: Int] = [:]
    var labelCounts: [String: [String: Int]] = [:]  // label -> split -> examples
    var unlabeled = 0
    var duplicates = 0
    var teacherConfusion: [[Int]] = Array(repeating: [0, 0, 0], count: 3)
    var kdTestAccuracy = 0.8125
    var baselineTestAccuracy = 0.6875
    var teacherTestAccuracy = 7.0 / 9.0
  }

  var withTeacher = true
  var withTraining = true

  @discardableResult
  func build(at path: String) throws -> (Store, Expected) {
    let store = try Store.open(path: path)
    var expected = Expected()
    let ingest = try store.beginRun(stage: "ingest", commandLine: ["kd-ingest", "corpus/", "--db", path])
    let taskID = try store.taskID(named: Self.task)
    let labelIDs = try Self.labels.map { try store.labelID(task: taskID, name: $0) }
    let tokenizer = try store.tokenizerID(name: "tiny-wordpiece", contentHash: "0123456789abcdef", vocabSize: 1000,
                                          json: Array("{}".utf8))
    var teacherID: Int64?
    if withTeacher {
      try store.db.run(
        """
        INSERT INTO teachers (name, kind, task_id, tokenizer_id, config_json, head_json, storage, num_outputs, created_at)
        VALUES (?, 'bert', ?, ?, ?, ?, 'f32', 3, ?)
        """,
        [.text("mini-teacher"), .int(taskID), .int(tokenizer),
         .text(#"{"hidden_size": 32, "layers": 2, "intermediate_size": 64, "vocab_size": 1000, "max_positions": 128}"#),
         .text(#"{"type": "fitted", "model": "logistic_regression", "validation_macro_f1": 0.9}"#), .text(Store.now())])
      teacherID = store.db.lastInsertRowID
    }
    var testIndex = 0
    var position = 0
    for (domain, split, count) in Self.layout {
      let source = try store.insertSource(NewSource(
        root: "/corpus", path: "\(domain)/\(split.rawValue).csv", contentHash: "00000000000000\(position % 10)0",
        size: 1000, mtime: 0, format: "csv", domain: domain, taskID: taskID, configHash: "", status: "ok", error: nil,
        errorCount: 0, runID: ingest))
      for i in 0..<count {
        let doc = try store.insertDocument(sourceID: source, position: i, externalID: "row \(i)", docKey: "k\(position)",
                                           domain: domain, title: nil, split: split, metadataJSON: nil)
        expected.documentsPerDomain[domain, default: 0] += 1
        let gold = i % 3
        let words = 3 + (position % 5)
        let text = (0..<words).map { "w\(position)x\($0)" }.joined(separator: " ")
        let ex = try store.insertExample(documentID: doc, position: 0, text: text, charStart: nil, charEnd: nil,
                                         section: nil, split: split, domain: domain, taskID: taskID)
        expected.examplesPerDomain[domain, default: 0] += 1
        try store.insertTokenization(example: ex, tokenizer: tokenizer, ids: (0..<(words + 2)).map { Int32($0) },
                                     vocabSize: 1000)
        expected.tokensPerDomain[domain, default: 0] += words + 2
        expected.tokensPerSplit[split.rawValue, default: 0] += words + 2
        expected.examplesPerSplit[split.rawValue, default: 0] += 1
        // Every fourth train example is unlabeled.
        if split == .train && i % 4 == 3 {
          expected.unlabeled += 1
        } else {
          try store.addExampleLabel(example: ex, label: labelIDs[gold])
          expected.labelCounts[Self.labels[gold], default: [:]][split.rawValue, default: 0] += 1
          expected.tokensPerLabel[Self.labels[gold], default: 0] += words + 2
          if split == .test, let teacherID {
            let predicted = Self.teacherPrediction(gold: gold, index: testIndex)
            expected.teacherConfusion[gold][predicted] += 1
            testIndex += 1
            var logits: [Float] = [0, 0, 0]
            logits[predicted] = 3
            try store.db.run("INSERT INTO teacher_outputs (example_id, teacher_id, logits) VALUES (?,?,?)",
                             [.int(ex), .int(teacherID), .blob(TeacherOutputCodec.encode(logits, storage: .f32))])
          }
        }
        position += 1
      }
    }
    // One duplicate text in the train split of medical.
    let dupSource = try store.insertSource(NewSource(
      root: "/corpus", path: "medical/dup.csv", contentHash: "ffffffffffffffff", size: 10, mtime: 0, format: "csv",
      domain: "medical", taskID: taskID, configHash: "", status: "partial", error: "medical/dup.csv:3: unclosed quote",
      errorCount: 1, runID: ingest))
    let dupDoc = try store.insertDocument(sourceID: dupSource, position: 0, externalID: nil, docKey: "dup",
                                          domain: "medical", title: nil, split: .train, metadataJSON: nil)
    expected.documentsPerDomain["medical", default: 0] += 1
    let firstText = try store.db.scalarText("SELECT text FROM examples ORDER BY id LIMIT 1") ?? ""
    _ = try store.insertExample(documentID: dupDoc, position: 0, text: firstText, charStart: nil, charEnd: nil,
                                section: nil, split: .train, domain: "medical", taskID: taskID)
    expected.examplesPerDomain["medical", default: 0] += 1
    expected.examplesPerSplit["train", default: 0] += 1
    expected.unlabeled += 1
    try store.refreshDuplicates()
    expected.duplicates = 1
    try store.endRun(ingest, status: .partial, counts: ["files_new": 7, "examples_added": 31])

    if withTraining { try addTrainingRun(store: store, taskID: taskID) }
    return (store, expected)
  }

  /// A `kd-train --compare` run: per epoch train and validation blocks for kd and baseline,
  /// a test block per student, models rows with results_json, then the teacher's test block.
  func addTrainingRun(store: Store, taskID: Int64, epochs: Int = 3) throws {
    let run = try store.beginRun(stage: "train", commandLine: ["kd-train", "--compare"])
    let f1Names = Self.labels.map { "f1:" + $0 }
    for (name, base) in [("kd", 0.7), ("baseline", 0.6)] {
      for epoch in 1...epochs {
        let e = Double(epoch)
        try store.insertMetrics(runID: run, model: name, epoch: epoch, step: epoch * 10, split: "train",
                                values: [("loss", 1.2 / e), ("examples_per_s", 5000), ("lr", 0.01)])
        var v: [(name: String, value: Double)] = [("accuracy", base + 0.05 * e), ("macro_f1", base + 0.04 * e),
                                                  ("ece", 0.1), ("examples", 6), ("agreement", base + 0.06 * e),
                                                  ("loss", 1.0 / e)]
        for (i, f) in f1Names.enumerated() { v.append((f, base + 0.01 * Double(i))) }
        try store.insertMetrics(runID: run, model: name, epoch: epoch, step: epoch * 10, split: "validation", values: v)
      }
      let accuracy = name == "kd" ? 0.8125 : 0.6875
      var t: [(name: String, value: Double)] = [("accuracy", accuracy), ("macro_f1", accuracy - 0.05), ("ece", 0.07),
                                                ("examples", 9), ("agreement", name == "kd" ? 0.9 : 0.7), ("loss", 0.5)]
      for (i, f) in f1Names.enumerated() { t.append((f, accuracy - 0.1 * Double(i))) }
      try store.insertMetrics(runID: run, model: name, epoch: 2, step: epochs * 10, split: "test", values: t)
      let results = """
        {"bestEpoch":2,"checkpoint":"/m/\(name)/best","epochs":\(epochs),"inferenceExamplesPerSecond":123456.7,\
        "name":"\(name)","parameters":8451,"resumed":false,"sizeBytes":34000,"steps":30,"student":"bow",\
        "task":"\(Self.task)","test":{"accuracy":\(accuracy),"ece":0.07,"examples":9,"loss":0.5,\
        "macroF1":\(accuracy - 0.05),"perClassF1":[0.8,0.7,0.6],"teacherAgreement":0.9},"trainExamples":12,\
        "trainExamplesPerSecond":5000,"validation":{"accuracy":0.8,"ece":0.1,"examples":6,"macroF1":0.78,\
        "perClassF1":[0.8,0.7,0.6]}}
        """
      _ = try store.insertModel(runID: run, name: name, taskID: taskID, kind: "bow", path: "/m/\(name)/best",
                                parameters: 8451, sizeBytes: 34000, configJSON: "{}", resultsJSON: results)
    }
    try store.insertMetrics(runID: run, model: "teacher", epoch: 0, step: 0, split: "test",
                            values: [("accuracy", 7.0 / 9.0), ("macro_f1", 0.7778), ("ece", 0.1316), ("examples", 9)])
    try store.endRun(run, status: .ok, counts: ["tasks": 1, "models": 2])
  }
}
