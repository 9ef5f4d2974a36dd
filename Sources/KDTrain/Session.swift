import Foundation
import KDCore
import KDStore

/// A kd-train invocation: which tasks, which models, where to save.
public struct TrainingRequest: Sendable {
  /// The first database receives metrics and model rows; all are read.
  public var databases: [String]
  /// Tasks to train; empty: every task with cached teacher outputs, one after another.
  public var tasks: [String] = []
  public var teachers: [String] = []
  public var options = TrainingOptions()
  /// Train the KD student and the no-KD baseline (α = 1) with the same settings, and compare with the teacher.
  public var compare = false
  /// Also train the bow KD student (`kd-bow`, bow defaults) and put it in the table (`--compare-bow`).
  public var compareBow = false
  /// `metrics.model` / `models.name` of a single (non-compare) run; default `kd`, or `baseline` when α = 1.
  public var name: String?
  /// Checkpoint root; default `<db-dir>/kd-models`.
  public var outputRoot: String?
  public var restart = false
  public var commandLine: [String] = []

  public init(databases: [String]) { self.databases = databases }
}

/// What one task produced.
public struct TaskOutcome: Codable, Sendable {
  public var task: String
  public var teachers: [String]
  public var results: [TrainingResult]
  public var rows: [ComparisonRow]
}

/// Runs a request: resolves tasks, trains, records the run, builds comparison rows.
public final class TrainingSession {
  public let request: TrainingRequest
  public var log: (String) -> Void = { _ in }
  public var shouldStop: () -> Bool = { false }

  public init(request: TrainingRequest) { self.request = request }

  public func run() throws -> [TaskOutcome] {
    guard let first = request.databases.first else { throw KDError(.usage, "no database", field: "--db") }
    for p in request.databases where !FileManager.default.fileExists(atPath: p) {
      throw KDError(.io, "no such database (run kd-ingest and kd-teacher-cache first, or pass --db)", file: p)
    }
    try request.options.validate()
    let tasks = request.tasks.isEmpty ? try TrainingPlan.defaultTasks(dbPath: first) : request.tasks
    let stage = try StageRun.begin(stage: "train", database: first, commandLine: request.commandLine, lockTimeout: nil,
                                   prepare: { try $0.useStreamingCache() })
    let store = stage.store
    let runID = stage.runID
    var outcomes: [TaskOutcome] = []
    do {
      for task in tasks {
        outcomes.append(try runTask(task, store: store, runID: runID))
      }
    } catch {
      stage.fail(error)
      throw error
    }
    try stage.finish(.ok, counts: ["tasks": tasks.count, "models": outcomes.reduce(0) { $0 + $1.results.count }])
    return outcomes
  }

  func runTask(_ task: String, store: Store, runID: Int64) throws -> TaskOutcome {
    let opts = request.options
    let needTeachers = request.compare || opts.alpha < 1
    let plan = try TrainingPlan.resolve(dbPaths: request.databases, task: task, teacherNames: request.teachers,
                                        needTeachers: needTeachers)
    log("task \(task): \(plan.labels.count) labels, teacher(s) \(plan.teacherNames.isEmpty ? "none" : plan.teacherNames.joined(separator: ", ")), tokenizer \(plan.tokenizerName) (vocab \(plan.vocabSize))")
    let root = request.outputRoot.map { ($0 as NSString).appendingPathComponent(safeName(task)) }
    var runs: [(String, TrainingOptions)] = []
    if request.compare {
      var baseline = opts
      baseline.alpha = 1
      runs = [("kd", opts), ("baseline", baseline)]
    } else {
      runs = [(request.name ?? (opts.alpha >= 1 ? "baseline" : "kd"), opts)]
    }
    if request.compareBow && opts.student != "bow" { runs.append(("kd-bow", TrainingOptions.bowDefaults(from: opts))) }
    var results: [TrainingResult] = []
    for (name, o) in runs {
      let layout = CheckpointLayout(root: root.map { ($0 as NSString).appendingPathComponent(name) }
        ?? CheckpointLayout.defaultRoot(dbPath: request.databases[0], task: task, name: name))
      let trainer = try Trainer(plan: plan, options: o, name: name, layout: layout)
      trainer.resultStore = store
      trainer.runID = runID
      trainer.log = log
      trainer.shouldStop = shouldStop
      trainer.restart = request.restart
      results.append(try trainer.run())
    }
    var rows: [ComparisonRow] = []
    var teacherAccuracy: Double?
    if !plan.teacherNames.isEmpty {
      let t = try teacherTestMetrics(plan: plan, domains: opts.domains)
      if t.examples > 0 {
        teacherAccuracy = t.accuracy
        let size = plan.teacherNames.count == 1
          ? try teacherSize(dbPath: request.databases[0], teacher: plan.teacherNames[0], classes: plan.labels.count) : nil
        rows.append(ComparisonRow(task: task, model: "teacher", name: "teacher (\(plan.teacherNames.joined(separator: "+")))",
                                  testAccuracy: t.accuracy, testMacroF1: t.macroF1, testExamples: t.examples,
                                  parameters: size?.parameters, sizeBytes: size?.bytes, inferenceExamplesPerSecond: nil,
                                  checkpoint: nil, accuracyVsTeacher: 1))
        try store.insertMetrics(runID: runID, model: "teacher", epoch: 0, step: 0, split: "test",
                                values: [("accuracy", t.accuracy), ("macro_f1", t.macroF1), ("ece", t.ece),
                                         ("examples", Double(t.examples))])
      }
    }
    for r in results {
      guard let t = r.test else { continue }
      rows.append(ComparisonRow(task: task, model: r.name, name: "\(r.name) (\(r.student))", testAccuracy: t.accuracy,
                                testMacroF1: t.macroF1, testExamples: t.examples, parameters: r.parameters,
                                sizeBytes: r.sizeBytes, inferenceExamplesPerSecond: r.inferenceExamplesPerSecond,
                                checkpoint: r.checkpoint,
                                accuracyVsTeacher: teacherAccuracy.flatMap { $0 > 0 ? t.accuracy / $0 : nil }))
    }
    return TaskOutcome(task: task, teachers: plan.teacherNames, results: results, rows: rows)
  }

  func safeName(_ task: String) -> String {
    String(task.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
  }
}
