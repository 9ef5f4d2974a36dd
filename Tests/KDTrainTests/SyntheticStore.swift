import Foundation
import KDCore
@testable import KDStore
import KDTestSupport

@testable import KDTrain

/// Builds a small store shaped like the pipeline's output: a task with `classes`
/// labels, tokenized examples whose tokens depend on the class, and a teacher
/// whose cached logits favour the true class.
struct SyntheticStore {
  var classes = 3
  var vocab = 60
  var train = 300
  var validation = 60
  var test = 60
  var seed: UInt64 = 7
  var storage: TeacherStorage = .f32
  /// Teacher outputs for this many train examples (nil: all).
  var teacherCoverage: Int?
  var teacherName = "teacher-a"
  var teacherOutputs: Int?  // num_outputs override (vocabulary mismatch)
  var task = "topic"
  var nanLogits = false
  /// The stored tokenizer definition (a real tokenizer.json for predict tests).
  var tokenizerJSON: [UInt8] = Array("{\"synthetic\": true}".utf8)

  @discardableResult
  func build(at path: String) throws -> Store {
    let store = try Store.open(path: path)
    var rng = SplitMix64(seed: seed)
    let taskID = try store.taskID(named: task)
    var labelIDs: [Int64] = []
    for c in 0..<classes { labelIDs.append(try store.labelID(task: taskID, name: "class\(c)")) }
    let tokID = try store.tokenizerID(name: "synthetic", contentHash: "synthetic-\(vocab)", vocabSize: vocab,
                                      json: tokenizerJSON)
    try store.db.run(
      "INSERT INTO teachers (name, kind, task_id, tokenizer_id, storage, top_k, num_outputs, created_at) VALUES (?,?,?,?,?,?,?,?)",
      [.text(teacherName), .text("external"), .int(taskID), .int(tokID), .text(storage.name),
       { if case .topK(let k) = storage { return .int(k) } else { return .null } }(), .int(teacherOutputs ?? classes),
       .text(Store.now())])
    let teacherID = store.db.lastInsertRowID
    let sourceID = try store.insertSource(NewSource(
      root: "/synthetic", path: "data.csv", contentHash: "0", size: 0, mtime: 0, format: "csv", domain: "synthetic",
      taskID: taskID, configHash: "", status: "ok", error: nil, errorCount: 0, runID: nil))
    var trainSeen = 0
    try store.db.transaction {
      var position = 0
      for (split, n) in [(Split.train, train), (.validation, validation), (.test, test)] {
        for _ in 0..<n {
          let label = Int(rng.next() % UInt64(classes))
          let doc = try store.insertDocument(sourceID: sourceID, position: position, externalID: nil,
                                             docKey: "d\(position)", domain: "synthetic", title: nil, split: split,
                                             metadataJSON: nil)
          position += 1
          // Tokens: 2 special ids, class-specific ids (block of 10 per class) mixed with noise.
          let length = 3 + Int(rng.next() % 12)
          var ids: [Int32] = [0]
          for _ in 0..<length {
            if rng.nextUnit() < 0.5 {
              ids.append(Int32(2 + label * 10 + Int(rng.next() % 10)))
            } else {
              ids.append(Int32(2 + classes * 10 + Int(rng.next() % UInt64(vocab - 2 - classes * 10))))
            }
          }
          ids.append(1)
          let text = ids.map(String.init).joined(separator: " ")
          let ex = try store.insertExample(documentID: doc, position: 0, text: text, charStart: nil, charEnd: nil,
                                           section: nil, split: split, domain: "synthetic", taskID: taskID)
          try store.addExampleLabel(example: ex, label: labelIDs[label])
          try store.insertTokenization(example: ex, tokenizer: tokID, ids: ids, vocabSize: vocab)
          if split == .train {
            trainSeen += 1
            if let cap = teacherCoverage, trainSeen > cap { continue }
          }
          var logits = (0..<(teacherOutputs ?? classes)).map { _ in rng.nextNormal() * 0.5 }
          if label < logits.count { logits[label] += 2.5 }
          if nanLogits { logits[0] = .nan }
          try store.db.run("INSERT INTO teacher_outputs (example_id, teacher_id, logits) VALUES (?,?,?)",
                           [.int(ex), .int(teacherID), .blob(TeacherOutputCodec.encode(logits, storage: storage))])
        }
      }
    }
    return store
  }
}
