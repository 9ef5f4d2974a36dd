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
  /// Seconds to wait for a writer (kd-ingest, kd-teacher-cache) to release a database before failing
  /// with exit code 4: kd-train never trains on a cache that is still being written.
  public var lockTimeout: TimeInterval = 600
  /// Worker threads for the students (0: all cores). Not part of the options: bow and mlp train
  /// to the same weights for any count.
  public var threads = 0
  /// Measure the teacher's inference speed for the `--compare` table (loads the checkpoint).
  public var measureTeacherSpeed = true

  public init(databases: [String]) { self.databases = databases }
}

/// What one task produced.
public struct TaskOutcome: Codable, Sendable {
  public var task: String
  public var teachers: [String]
  public var results: [TrainingResult]
  public var rows: [ComparisonRow]
  /// Examples of the task left out as exact duplicates of an earlier text, by split (`train`, `validation`, `test`).
  public var skippedDuplicates: [String: Int]
  /// Examples used per split (duplicates excluded).
  public var examples: [String: Int]
  /// Calibration temperature of each teacher (1: uncalibrated), by teacher name.
  public var teacherTemperatures: [String: Double]
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
    useWorkerThreads(request.threads)
    // Writers first: a teacher cache still being written would be read half-done.
    let locks = try takeLocks()
    defer { for l in locks { l.release() } }
    do {
      return try runLocked(first: first)
    } catch {
      throw DiskFull.describe(error)
    }
  }

  /// Waits (up to `lockTimeout`) for the writer lock of every database and holds it while training.
  func takeLocks() throws -> [WriterLock] {
    var locks: [WriterLock] = []
    for (i, p) in request.databases.enumerated() {
      do {
        locks.append(try WriterLock(databasePath: p, stage: "kd-train", timeout: request.lockTimeout) { [log] in log($0) })
      } catch let e as KDError where i > 0 && e.kind == .io {
        // A read-only extra database: nothing can write it either.
        log("warning: \(e.message) (\(p)); reading it without the lock")
      }
    }
    return locks
  }

  func runLocked(first: String) throws -> [TaskOutcome] {
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
    for (name, var o) in runs {
      if request.compare && name == "baseline", let kd = results.first, let spe = kd.stepsPerEpoch {
        // The baseline sees only the labelled rows, so it has fewer steps per epoch: give it the
        // KD student's step budget and patience in steps, not its epochs (TrainingOptions.matchSteps).
        o.matchSteps = (kd.epochLimit ?? opts.epochs) * spe
      }
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
    let (examples, duplicates) = try splitCounts(store: store, plan: plan)
    if duplicates.values.contains(where: { $0 > 0 }) {
      log("task \(task): skipped exact duplicates: " + Split.allCases.map { "\($0.rawValue) \(duplicates[$0.rawValue] ?? 0) of \((examples[$0.rawValue] ?? 0) + (duplicates[$0.rawValue] ?? 0))" }.joined(separator: ", "))
    }
    var temperatures: [String: Double] = [:]
    for (i, n) in plan.teacherNames.enumerated() {
      temperatures[n] = Double(plan.databases.first.map { i < $0.calibration.count ? $0.calibration[i] : 1 } ?? 1)
    }
    var rows: [ComparisonRow] = []
    var teacherAccuracy: Double?
    if !plan.teacherNames.isEmpty {
      let t = try teacherTestMetrics(plan: plan, domains: opts.domains)
      if t.examples > 0 {
        teacherAccuracy = t.accuracy
        let size = plan.teacherNames.count == 1
          ? try teacherSize(dbPath: request.databases[0], teacher: plan.teacherNames[0], classes: plan.labels.count) : nil
        var speed: Double?
        // Timing the teacher takes ~40 s on long texts (256 examples at a few per second): only for
        // the --compare table, not for every training run.
        if request.compare && request.measureTeacherSpeed && plan.teacherNames.count == 1 {
          do {
            speed = try teacherInferenceSpeed(plan: plan, domains: opts.domains)
          } catch let e as KDError {
            log("note: teacher speed not measured: \(e.message)")
          }
        }
        var row = ComparisonRow(task: task, model: "teacher", name: "teacher (\(plan.teacherNames.joined(separator: "+")))",
                                testAccuracy: t.accuracy, testMacroF1: t.macroF1, testExamples: t.examples,
                                parameters: size?.parameters, sizeBytes: size?.bytes, inferenceExamplesPerSecond: speed,
                                checkpoint: nil, accuracyVsTeacher: 1)
        row.testECE = t.ece
        row.calibrationTemperature = plan.teacherNames.count == 1 ? temperatures[plan.teacherNames[0]] : nil
        row.collapsed = t.collapsed
        row.dominantPredictionShare = t.dominantPredictionShare
        rows.append(row)
        try store.insertMetrics(runID: runID, model: "teacher", epoch: 0, step: 0, split: "test",
                                values: [("accuracy", t.accuracy), ("macro_f1", t.macroF1), ("ece", t.ece),
                                         ("examples", Double(t.examples))])
      }
    }
    for r in results {
      guard let t = r.test else { continue }
      var row = ComparisonRow(task: task, model: r.name, name: "\(r.name) (\(r.student))", testAccuracy: t.accuracy,
                              testMacroF1: t.macroF1, testExamples: t.examples, parameters: r.parameters,
                              sizeBytes: r.sizeBytes, inferenceExamplesPerSecond: r.inferenceExamplesPerSecond,
                              checkpoint: r.checkpoint,
                              accuracyVsTeacher: teacherAccuracy.flatMap { $0 > 0 ? t.accuracy / $0 : nil })
      row.testECE = t.ece
      row.collapsed = t.collapsed
      row.dominantPredictionShare = t.dominantPredictionShare
      row.epochs = r.epochs
      row.bestEpoch = r.bestEpoch
      row.calibrationTemperature = r.calibrationTemperature
      rows.append(row)
    }
    return TaskOutcome(task: task, teachers: plan.teacherNames, results: results, rows: rows,
                       skippedDuplicates: duplicates, examples: examples, teacherTemperatures: temperatures)
  }

  /// Examples per split of the task (duplicates excluded) and duplicates skipped, over all databases.
  func splitCounts(store: Store, plan: TrainingPlan) throws -> (examples: [String: Int], duplicates: [String: Int]) {
    var examples: [String: Int] = [:]
    var duplicates: [String: Int] = [:]
    for split in Split.allCases {
      examples[split.rawValue] = 0
      duplicates[split.rawValue] = 0
    }
    for d in plan.databases {
      let s = d.path == store.path ? store : try Store.open(path: d.path, readOnly: true)
      for c in try s.reportTaskSplitCounts() where c.taskID == d.taskID {
        examples[c.split, default: 0] += c.examples - c.duplicates
        duplicates[c.split, default: 0] += c.duplicates
      }
    }
    return (examples, duplicates)
  }

  func safeName(_ task: String) -> String {
    String(task.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
  }
}
