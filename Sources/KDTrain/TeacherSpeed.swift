import Foundation
import KDCore
import KDModels
import KDStore

/// The teacher's inference speed for the `--compare` table, measured like the students'
/// (`Trainer.inferenceSpeed`): forward passes over the task's test examples on one thread, repeated
/// for at least a second, examples per second of wall time, model loading excluded.
///
/// The teacher runs its encoder (BERT-family checkpoint, `BertEncoder`) in batches of 32 over the
/// first 256 test examples in loader order, each cut to its `max_tokens` (the cache windows longer
/// ones; the speed counts one window). A fitted head's product (hidden × classes) is left out: it
/// is under 0.1% of the encoder's work.
/// - Throws: `KDError(.unsupported)` for an external teacher (no local model to time) or a test split
///   tokenized with another tokenizer; `KDError(.io)` when its checkpoint directory is gone.
public func teacherInferenceSpeed(plan: TrainingPlan, domains: [String] = [], examples: Int = 256) throws -> Double {
  guard let db = plan.databases.first, db.teachers.count == 1 else {
    throw KDError(.unsupported, "speed is measured for a single teacher")
  }
  let store = try Store.open(path: db.path, readOnly: true)
  guard let teacher = try store.teacher(named: db.teachers[0].name) else {
    throw KDError(.input, "no teacher '\(db.teachers[0].name)'", file: db.path)
  }
  guard teacher.kind == "bert",
    let json = teacher.configJSON,
    let cfg = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any],
    let directory = cfg["directory"] as? String
  else {
    throw KDError(.unsupported, "teacher '\(teacher.name)' is not a local checkpoint (kind \(teacher.kind)); its speed is not measured here")
  }
  guard teacher.tokenizerID == db.tokenizerID else {
    throw KDError(.unsupported, "the test split is tokenized with another tokenizer than teacher '\(teacher.name)''s")
  }
  guard FileManager.default.fileExists(atPath: directory) else {
    throw KDError(.io, "the teacher's checkpoint directory is gone", file: directory)
  }
  useSingleBLASThread()
  let encoder = try BertEncoder.load(directory: directory, threads: 1)
  let maxTokens = min(encoder.maxPositions, (cfg["max_tokens"] as? Int) ?? encoder.maxPositions)

  var o = LoaderOptions(numClasses: plan.labels.count, vocabSize: plan.vocabSize)
  o.shuffle = false
  o.bucketing = false
  o.requireLabel = true
  o.batchSize = 32
  o.maxTokens = maxTokens
  let loader = try StreamingLoader(sources: plan.sources(split: .test, domains: domains), options: o)
  var batches: [[[Int32]]] = []
  var n = 0
  for b in try loader.allBatches() where n < examples {
    var seqs: [[Int32]] = []
    for i in 0..<b.count where n < examples {
      let ids = Array(b.tokens[b.offsets[i]..<b.offsets[i + 1]])
      if !ids.isEmpty {
        seqs.append(ids)
        n += 1
      }
    }
    if !seqs.isEmpty { batches.append(seqs) }
  }
  guard n > 0 else { throw KDError(.input, "no test examples to time the teacher on") }
  var done = 0
  let start = Date()
  repeat {
    for b in batches {
      _ = try encoder.forward(b)
      done += b.count
    }
  } while Date().timeIntervalSince(start) < 1
  return Double(done) / Date().timeIntervalSince(start)
}
