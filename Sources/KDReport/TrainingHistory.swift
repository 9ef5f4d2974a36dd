import Foundation
import KDStore

/// The metric rows of one `record` call of kd-train: one run, model, epoch, step and split.
public struct MetricBlock: Equatable {
  public var runID: Int64
  public var model: String
  public var epoch: Int
  public var step: Int
  public var split: String
  /// First rowid of the block (insertion order).
  public var firstRowID: Int64
  public var values: [String: Double]
  /// The task the block belongs to, once attributed.
  public var taskID: Int64?

  /// Per-class F1 values (`f1:<label>`), by label name.
  public var perClassF1: [String: Double] {
    var out: [String: Double] = [:]
    for (k, v) in values where k.hasPrefix("f1:") { out[String(k.dropFirst(3))] = v }
    return out
  }
}

/// Splits `metrics` rows into blocks and attributes each block to a task.
///
/// The `metrics` table has no task column (schema v1), and one kd-train run
/// may train several tasks. Attribution uses, in order:
/// 1. the `f1:<label>` names of validation and test blocks, matched against
///    each task's label vocabulary;
/// 2. the run's `models` rows, when every model of the run serves one task;
/// 3. neighbours in insertion order: a train block takes the task of the
///    validation block recorded right after it (same run, model, epoch), and
///    a teacher block takes the task of the student block before it.
/// Blocks that stay ambiguous keep `taskID == nil` and are reported as such.
public enum MetricAttribution {
  /// Groups rows (in rowid order) into blocks of equal (run, model, epoch, step, split).
  public static func blocks(_ rows: [MetricRow]) -> [MetricBlock] {
    var out: [MetricBlock] = []
    for r in rows {
      if var last = out.last, last.runID == r.runID, last.model == r.model, last.epoch == r.epoch, last.step == r.step,
        last.split == r.split, last.values[r.name] == nil
      {
        last.values[r.name] = r.value
        out[out.count - 1] = last
      } else {
        out.append(MetricBlock(runID: r.runID, model: r.model, epoch: r.epoch, step: r.step, split: r.split,
                               firstRowID: r.rowID, values: [r.name: r.value], taskID: nil))
      }
    }
    return out
  }

  /// Attributes blocks to tasks (see the type's description).
  /// - Parameters:
  ///   - tasks: every task's id and label names.
  ///   - models: the `models` rows (run → tasks).
  public static func attribute(_ blocks: [MetricBlock], tasks: [(id: Int64, labels: [String])], models: [ModelRow])
    -> [MetricBlock]
  {
    var out = blocks
    let labelSets = tasks.map { (id: $0.id, labels: Set($0.labels)) }
    // 1. Per-class F1 names.
    for i in out.indices {
      let names = Set(out[i].perClassF1.keys)
      guard !names.isEmpty else { continue }
      let exact = labelSets.filter { $0.labels == names }
      let supersets = labelSets.filter { names.isSubset(of: $0.labels) }
      if exact.count == 1 {
        out[i].taskID = exact[0].id
      } else if exact.isEmpty && supersets.count == 1 {
        out[i].taskID = supersets[0].id
      }
    }
    // 2. Runs whose models all serve one task.
    var runTasks: [Int64: Set<Int64>] = [:]
    for m in models { runTasks[m.runID, default: []].insert(m.taskID) }
    for i in out.indices where out[i].taskID == nil {
      if let t = runTasks[out[i].runID], t.count == 1 { out[i].taskID = t.first }
    }
    // Runs whose attributed blocks all name one task (e.g. a run that failed before saving a model).
    var seen: [Int64: Set<Int64>] = [:]
    for b in out { if let t = b.taskID { seen[b.runID, default: []].insert(t) } }
    // 3. Neighbours, repeated until nothing changes.
    var changed = true
    while changed {
      changed = false
      for i in out.indices where out[i].taskID == nil {
        if i + 1 < out.count, out[i + 1].runID == out[i].runID, out[i + 1].model == out[i].model,
          out[i + 1].epoch == out[i].epoch, let t = out[i + 1].taskID
        {
          out[i].taskID = t
          changed = true
        } else if out[i].model == "teacher", i > 0, out[i - 1].runID == out[i].runID, let t = out[i - 1].taskID {
          out[i].taskID = t
          changed = true
        } else if let t = seen[out[i].runID], t.count == 1, runTasks[out[i].runID] == nil || runTasks[out[i].runID] == t {
          out[i].taskID = t.first
          changed = true
        }
      }
    }
    return out
  }
}

/// One epoch of a model's training curve.
public struct EpochPoint: Equatable {
  public var epoch: Int
  public var step: Int
  public var runID: Int64
  public var train: [String: Double]
  public var validation: [String: Double]
}

/// The test results of one model (student or teacher) on a task.
public struct ModelResultView {
  /// `teacher`, `kd`, `baseline` or a user-given name.
  public var name: String
  /// Display name, e.g. `kd (bow)` or `teacher (all-MiniLM-L6-v2)`.
  public var displayName: String
  public var isTeacher: Bool
  public var runID: Int64?
  public var studentKind: String?
  public var parameters: Int?
  public var sizeBytes: Int?
  public var accuracy: Double?
  public var macroF1: Double?
  public var ece: Double?
  public var agreement: Double?
  public var examples: Int?
  public var bestEpoch: Int?
  public var epochs: Int?
  public var trainExamplesPerSecond: Double?
  public var inferenceExamplesPerSecond: Double?
  public var checkpoint: String?
  /// Per-class F1 by label name.
  public var perClassF1: [String: Double] = [:]
  /// A confusion matrix, when the producer stored one.
  public var confusion: [[Int]]?
  /// Where the numbers came from, for the footnotes.
  public var source: String
}

/// The training runs of one task, as the report shows them.
public struct TaskTraining {
  /// Curves per model name (students only), in display order.
  public var curves: [(model: String, points: [EpochPoint], bestEpoch: Int?)]
  /// Test results: the teacher first, then students.
  public var results: [ModelResultView]
  /// The training runs these numbers come from.
  public var runIDs: [Int64]
}

/// Builds a task's training view from attributed metric blocks and `models` rows.
enum TrainingViewBuilder {
  static let preferredOrder = ["kd", "baseline"]

  static func build(taskID: Int64, labels: [String], blocks: [MetricBlock], models: [ModelRow]) -> TaskTraining? {
    let mine = blocks.filter { $0.taskID == taskID }
    let taskModels = models.filter { $0.taskID == taskID }
    guard !mine.isEmpty || !taskModels.isEmpty else { return nil }
    var names = Set(mine.map(\.model)).union(taskModels.map(\.name))
    names.remove("teacher")
    let ordered = preferredOrder.filter(names.contains) + names.subtracting(preferredOrder).sorted()
    var curves: [(String, [EpochPoint], Int?)] = []
    var results: [ModelResultView] = []
    var runIDs = Set<Int64>()
    for name in ordered {
      // The latest run of this model: its models row, else its newest metric block.
      let modelRow = taskModels.last { $0.name == name }
      let latestBlockRun = mine.last { $0.model == name }?.runID
      guard let runID = [modelRow?.runID, latestBlockRun].compactMap({ $0 }).max() else { continue }
      runIDs.insert(runID)
      let row = modelRow?.runID == runID ? modelRow : nil
      let parsed = row.flatMap { ResultsJSON(text: $0.resultsJSON) }
      let points = epochPoints(model: name, runID: runID, blocks: mine)
      curves.append((name, points, parsed?.bestEpoch))
      let test = mine.last { $0.model == name && $0.runID == runID && $0.split == "test" }
      var view = ModelResultView(
        name: name, displayName: row.map { "\(name) (\($0.kind))" } ?? name, isTeacher: false, runID: runID,
        studentKind: row?.kind, parameters: row?.parameters, sizeBytes: row?.sizeBytes,
        accuracy: test?.values["accuracy"] ?? parsed?.test?.accuracy,
        macroF1: test?.values["macro_f1"] ?? parsed?.test?.macroF1,
        ece: test?.values["ece"] ?? parsed?.test?.ece,
        agreement: test?.values["agreement"] ?? parsed?.test?.agreement,
        examples: (test?.values["examples"]).map { Int($0) } ?? parsed?.test?.examples,
        bestEpoch: parsed?.bestEpoch ?? test?.epoch, epochs: parsed?.epochs,
        trainExamplesPerSecond: parsed?.trainExamplesPerSecond,
        inferenceExamplesPerSecond: parsed?.inferenceExamplesPerSecond, checkpoint: row?.path,
        perClassF1: test?.perClassF1 ?? [:], confusion: parsed?.test?.confusion,
        source: "kd-train run \(runID)")
      if view.perClassF1.isEmpty, let f = parsed?.test?.perClassF1 {
        for (i, v) in f.enumerated() where i < labels.count { view.perClassF1[labels[i]] = v }
      }
      if test == nil && parsed?.test == nil { view.source += " (no test metrics recorded)" }
      results.append(view)
    }
    // The teacher as kd-train measured it, in the newest of these runs.
    let teacherBlock = mine.last { $0.model == "teacher" && $0.split == "test" && (runIDs.isEmpty || runIDs.contains($0.runID)) }
      ?? mine.last { $0.model == "teacher" && $0.split == "test" }
    if let t = teacherBlock {
      results.insert(ModelResultView(
        name: "teacher", displayName: "teacher", isTeacher: true, runID: t.runID, accuracy: t.values["accuracy"],
        macroF1: t.values["macro_f1"], ece: t.values["ece"], agreement: nil,
        examples: t.values["examples"].map { Int($0) }, source: "kd-train run \(t.runID)"), at: 0)
      runIDs.insert(t.runID)
    }
    return TaskTraining(curves: curves.map { (model: $0.0, points: $0.1, bestEpoch: $0.2) }, results: results,
                        runIDs: runIDs.sorted())
  }

  /// Epoch points of one model in one run; epochs missing there (a resumed run) come from the
  /// newest earlier run of the same model and task.
  static func epochPoints(model: String, runID: Int64, blocks: [MetricBlock]) -> [EpochPoint] {
    var byEpoch: [Int: EpochPoint] = [:]
    let runs = Set(blocks.filter { $0.model == model && $0.runID <= runID }.map(\.runID)).sorted(by: >)
    for r in runs {
      let inRun = blocks.filter { $0.model == model && $0.runID == r && ($0.split == "train" || $0.split == "validation") }
      let first = byEpoch.keys.min()
      for b in inRun where b.epoch >= 1 {
        // Older runs only fill epochs before the newer run's first epoch.
        if r != runID, let first, b.epoch >= first { continue }
        var p = byEpoch[b.epoch] ?? EpochPoint(epoch: b.epoch, step: b.step, runID: r, train: [:], validation: [:])
        guard p.runID == r else { continue }
        if b.split == "train" { p.train.merge(b.values) { $1 } } else { p.validation.merge(b.values) { $1 } }
        p.step = max(p.step, b.step)
        byEpoch[b.epoch] = p
      }
      if let f = byEpoch.keys.min(), f <= 1 { break }
    }
    return byEpoch.values.sorted { $0.epoch < $1.epoch }
  }
}

/// The parts of `models.results_json` (kd-train's `TrainingResult`) the report uses.
/// Unknown or missing keys are tolerated: older or newer trainers still render.
struct ResultsJSON {
  struct Split {
    var accuracy: Double?
    var macroF1: Double?
    var ece: Double?
    var agreement: Double?
    var examples: Int?
    var perClassF1: [Double]?
    /// `confusion` as rows of counts, or a flat gold-major array.
    var confusion: [[Int]]?
  }

  var bestEpoch: Int?
  var epochs: Int?
  var trainExamplesPerSecond: Double?
  var inferenceExamplesPerSecond: Double?
  var test: Split?
  var validation: Split?

  init?(text: String?) {
    guard let text, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
      return nil
    }
    func double(_ o: [String: Any], _ keys: String...) -> Double? {
      for k in keys { if let v = o[k] as? NSNumber { return v.doubleValue } }
      return nil
    }
    func split(_ o: Any?) -> Split? {
      guard let o = o as? [String: Any] else { return nil }
      var s = Split()
      s.accuracy = double(o, "accuracy")
      s.macroF1 = double(o, "macroF1", "macro_f1")
      s.ece = double(o, "ece")
      s.agreement = double(o, "teacherAgreement", "agreement")
      s.examples = double(o, "examples").map { Int($0) }
      s.perClassF1 = (o["perClassF1"] as? [NSNumber] ?? o["per_class_f1"] as? [NSNumber])?.map(\.doubleValue)
      if let rows = o["confusion"] as? [[NSNumber]] {
        s.confusion = rows.map { $0.map(\.intValue) }
      } else if let flat = o["confusion"] as? [NSNumber] {
        let k = Int(Double(flat.count).squareRoot())
        if k * k == flat.count && k > 0 { s.confusion = (0..<k).map { g in (0..<k).map { flat[g * k + $0].intValue } } }
      }
      return s
    }
    bestEpoch = double(object, "bestEpoch", "best_epoch").map { Int($0) }
    epochs = double(object, "epochs").map { Int($0) }
    trainExamplesPerSecond = double(object, "trainExamplesPerSecond")
    inferenceExamplesPerSecond = double(object, "inferenceExamplesPerSecond")
    test = split(object["test"])
    validation = split(object["validation"])
  }
}
