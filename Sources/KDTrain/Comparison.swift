import Foundation
import KDCore
import KDStore

/// One row of the `--compare` table.
public struct ComparisonRow: Codable, Sendable {
  public var task: String
  /// `teacher`, `kd` or `baseline`.
  public var model: String
  public var name: String
  public var testAccuracy: Double
  public var testMacroF1: Double
  public var testExamples: Int
  public var parameters: Int?
  public var sizeBytes: Int?
  public var inferenceExamplesPerSecond: Double?
  public var checkpoint: String?
  /// Student accuracy as a share of the teacher's, on the test split.
  public var accuracyVsTeacher: Double?
  /// Expected calibration error on the test split (the teacher's after its calibration temperature).
  public var testECE: Double?
  /// The teacher's calibration temperature (teacher row only; 1: uncalibrated).
  public var calibrationTemperature: Double?
  /// One class predicted on more than 90% of the test rows: flagged in the table.
  public var collapsed: Bool?
  /// Share of test rows on the most predicted class.
  public var dominantPredictionShare: Double?
  /// Epochs trained and the best (selected) epoch (students only).
  public var epochs: Int?
  public var bestEpoch: Int?

  public init(task: String, model: String, name: String, testAccuracy: Double, testMacroF1: Double, testExamples: Int,
              parameters: Int?, sizeBytes: Int?, inferenceExamplesPerSecond: Double?, checkpoint: String?,
              accuracyVsTeacher: Double?) {
    self.task = task
    self.model = model
    self.name = name
    self.testAccuracy = testAccuracy
    self.testMacroF1 = testMacroF1
    self.testExamples = testExamples
    self.parameters = parameters
    self.sizeBytes = sizeBytes
    self.inferenceExamplesPerSecond = inferenceExamplesPerSecond
    self.checkpoint = checkpoint
    self.accuracyVsTeacher = accuracyVsTeacher
  }
}

/// Test metrics of the teacher itself, from its cached logits (argmax; probabilities after its
/// calibration temperature, which the loader applies where it reads the logits), no model needed.
public func teacherTestMetrics(plan: TrainingPlan, domains: [String] = []) throws -> ClassificationMetrics {
  var o = LoaderOptions(numClasses: plan.labels.count, vocabSize: plan.vocabSize)
  o.shuffle = false
  o.bucketing = false
  o.requireLabel = true
  o.batchSize = 1024
  let loader = try StreamingLoader(sources: plan.sources(split: .test, domains: domains), options: o)
  let c = plan.labels.count
  var acc = MetricsAccumulator(numClasses: c)
  var missing = 0
  var q = [Float](repeating: 0, count: c)
  for batch in try loader.allBatches() {
    for i in 0..<batch.count {
      guard batch.teacherTarget(i, temperature: 1, into: &q) else {
        missing += 1
        continue
      }
      acc.add(probabilities: q[...], label: Int(batch.labels[i]), teacherClass: nil)
    }
  }
  if missing > 0 {
    FileHandle.standardError.write(Data("warning: \(missing) test examples of '\(plan.task)' have no cached teacher output; teacher metrics exclude them\n".utf8))
  }
  return acc.result()
}

/// Parameters and fp32 size of a BERT-family teacher from its stored `config_json` (estimate), plus its head.
public func teacherSize(dbPath: String, teacher: String, classes: Int) throws -> (parameters: Int, bytes: Int)? {
  let store = try Store.open(path: dbPath)
  guard let text = try store.teacher(named: teacher)?.configJSON,
    let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
  else { return nil }
  let cfg = (obj["model"] as? [String: Any]) ?? (obj["config"] as? [String: Any]) ?? obj
  func int(_ k: String) -> Int? { (cfg[k] as? NSNumber)?.intValue }
  guard let h = int("hidden_size") ?? int("dim"), let layers = int("num_hidden_layers") ?? int("n_layers") ?? int("layers"),
    let vocab = int("vocab_size")
  else { return nil }
  let inter = int("intermediate_size") ?? int("hidden_dim") ?? 4 * h
  let positions = int("max_position_embeddings") ?? int("max_positions") ?? 512
  let types = int("type_vocab_size") ?? 2
  var p = (vocab + positions + types) * h + 2 * h
  p += layers * (4 * h * h + 4 * h + 2 * h + 2 * h * inter + inter + h + 2 * h)
  p += h * h + h  // pooler
  p += h * classes + classes  // fitted head
  return (p, p * 4)
}

/// Renders comparison rows as a markdown table.
public func comparisonTable(_ rows: [ComparisonRow]) -> String {
  func size(_ b: Int?) -> String {
    guard let b else { return "—" }
    return String(format: "%.2f", Double(b) / 1_048_576)
  }
  func params(_ p: Int?) -> String {
    guard let p else { return "—" }
    return p >= 1_000_000 ? String(format: "%.2fM", Double(p) / 1e6) : String(format: "%.1fk", Double(p) / 1e3)
  }
  var out = "| task | model | test accuracy | test macro-F1 | test ECE | accuracy vs teacher | parameters | size on disk (MiB) | inference examples/s (1 thread) |\n"
  out += "|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
  var notes: [String] = []
  for r in rows {
    let vs = r.accuracyVsTeacher.map { String(format: "%.1f%%", $0 * 100) } ?? "—"
    let speed = r.inferenceExamplesPerSecond.map { String(format: "%.0f", $0) } ?? "—"
    let ece = r.testECE.map { String(format: "%.4f", $0) } ?? "—"
    var name = r.name
    if r.collapsed == true {
      name += " ⚠ collapsed"
      notes.append(String(format: "%@ on %@ is collapsed: it predicts one class on %.0f%% of the test rows.", r.name, r.task,
                          (r.dominantPredictionShare ?? 0) * 100))
    }
    out += "| \(r.task) | \(name) | \(String(format: "%.4f", r.testAccuracy)) | \(String(format: "%.4f", r.testMacroF1)) | \(ece) | \(vs) | \(params(r.parameters)) | \(size(r.sizeBytes)) | \(speed) |\n"
  }
  for n in notes { out += "\n⚠ " + n + "\n" }
  return out
}

/// One line per task: examples used and exact duplicates skipped, per split (empty when none were skipped).
public func duplicatesSummary(_ outcomes: [TaskOutcome]) -> String {
  var out = ""
  for o in outcomes where o.skippedDuplicates.values.contains(where: { $0 > 0 }) {
    let parts = Split.allCases.map { s -> String in
      let d = o.skippedDuplicates[s.rawValue] ?? 0
      let used = o.examples[s.rawValue] ?? 0
      let share = used + d > 0 ? Double(d) / Double(used + d) * 100 : 0
      return "\(s.rawValue) \(d) of \(used + d) (\(String(format: "%.1f", share))%)"
    }
    out += "\(o.task): exact duplicates skipped: \(parts.joined(separator: ", "))\n"
  }
  return out
}
