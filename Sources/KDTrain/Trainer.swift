import Foundation
import KDCore
import KDStore
import KDTensor

/// Every setting of a training run (saved in config.json and hashed to decide whether a run can resume).
public struct TrainingOptions: Codable, Sendable, Equatable {
  public var student = "bow"
  /// Defaults chosen by measurement on the three shared sets, 5 seeds each (BENCHMARKS.md, issue 16):
  /// 24-wide embeddings of the tokens and of 2^14 hashed-bigram buckets, 1.13M parameters with
  /// MiniLM's 30,522-token vocabulary (1/20 of the teacher), within 0.51 points of macro-F1 of the
  /// former 64-wide, 2^17-bucket default (10.3M) on each set. Without bigrams (dim 32, 0.98M)
  /// claudette lost 2.5 points.
  public var dimension = 24
  public var buckets = 16384
  /// Hidden widths of the `mlp` student.
  public var hidden: [Int] = [256]
  public var maxTokens = 256
  /// Weight of the CE term on labeled rows; 1 is the no-KD baseline.
  public var alpha: Float = 0.5
  public var temperature: Float = 2
  /// One weight per teacher (empty: equal weights).
  public var teacherWeights: [Float] = []
  public var learningRate: Float = 0.01
  public var weightDecay: Float = 0
  /// Warmup as a share of all steps.
  public var warmup: Double = 0.05
  public var decay: LearningRateSchedule.Decay = .linear
  /// Global gradient-norm clip (0: off).
  public var clip: Float = 5
  public var batchSize = 32
  /// An upper bound (early stopping, patience 4): a 0.98M-parameter student still
  /// improved at epoch 14 of 15 on banking77 (BENCHMARKS.md, issue 16).
  public var epochs = 30
  /// Stop after this many steps (0: no limit).
  public var maxSteps = 0
  public var seed: UInt64 = 1
  /// Share of train examples that keep their label (`LabelFraction`); 1 keeps all.
  public var labelFraction: Double = 1
  public var labelSeed: UInt64 = 0
  public var earlyStopMetric = "macro_f1"
  /// Epochs without improvement of the metric before stopping (0: never stop early).
  public var patience = 4
  public var domains: [String] = []
  /// Save a resumable state every this many steps inside an epoch (0: at epoch ends only).
  public var checkpointEvery = 2000
  public var shuffleBuffer = 16384
  /// The transformer student's shape, initialisation and threads (`--student transformer`).
  public var transformer: TransformerOptions?
  /// The step budget of the model this one is compared with (`--compare` sets it on the no-KD
  /// baseline to the KD student's `epochs × steps per epoch`). When this run has fewer steps per
  /// epoch (it sees only the labelled rows), its epochs and patience are scaled up by the same
  /// factor, so it gets as many optimizer steps and as long a patience in steps. nil: as given.
  public var matchSteps: Int?

  public init() {}

  /// Checks ranges; throws `KDError(.usage)` naming the flag.
  public func validate() throws {
    func bad(_ flag: String, _ why: String) -> KDError { KDError(.usage, why, field: flag) }
    guard alpha >= 0 && alpha <= 1 else { throw bad("--alpha", "alpha must be in [0, 1] (got \(alpha))") }
    guard temperature > 0 && temperature.isFinite else { throw bad("--temperature", "temperature must be > 0") }
    guard learningRate > 0 && learningRate.isFinite else { throw bad("--lr", "learning rate must be > 0") }
    guard batchSize > 0 else { throw bad("--batch-size", "batch size must be > 0") }
    guard epochs > 0 || maxSteps > 0 else { throw bad("--epochs", "give --epochs or --steps > 0") }
    guard labelFraction > 0 && labelFraction <= 1 else { throw bad("--label-fraction", "label fraction must be in (0, 1]") }
    guard ClassificationMetrics.selectable.contains(earlyStopMetric) else {
      throw bad("--early-stop-metric", "unknown metric '\(earlyStopMetric)' (one of \(ClassificationMetrics.selectable.joined(separator: ", ")))")
    }
    guard teacherWeights.allSatisfy({ $0 >= 0 && $0.isFinite }) else { throw bad("--teacher-weight", "teacher weights must be >= 0") }
    guard warmup >= 0 && warmup < 1 else { throw bad("--warmup", "warmup must be a share of steps in [0, 1)") }
  }
}

/// The outcome of training one student.
public struct TrainingResult: Sendable, Codable {
  public var name: String
  public var task: String
  public var student: String
  public var checkpoint: String
  public var parameters: Int
  public var sizeBytes: Int
  public var bestEpoch: Int
  public var epochs: Int
  public var steps: Int
  public var trainExamples: Int
  public var trainExamplesPerSecond: Double
  public var validation: ClassificationMetrics
  public var test: ClassificationMetrics?
  public var inferenceExamplesPerSecond: Double
  public var resumed: Bool
  /// Optimizer steps per epoch, the epoch limit and the patience (in epochs) this run used
  /// (scaled up for a baseline with `matchSteps`).
  public var stepsPerEpoch: Int?
  public var epochLimit: Int?
  public var patience: Int?
  /// The temperature fitted on validation and folded into the student's output layer (nil: none fitted).
  public var calibrationTemperature: Double?
}

/// Where a student's files go: `<root>/best/` (model.safetensors, config.json,
/// tokenizer), `<root>/state/` (resumable: weights, optimizer, loader position)
/// and `<root>/metrics.jsonl`.
public struct CheckpointLayout: Sendable {
  public var root: String
  public init(root: String) { self.root = root }
  public var best: String { (root as NSString).appendingPathComponent("best") }
  public var state: String { (root as NSString).appendingPathComponent("state") }
  public var metricsFile: String { (root as NSString).appendingPathComponent("metrics.jsonl") }

  /// `<db-dir>/kd-models/<task>/<name>`.
  public static func defaultRoot(dbPath: String, task: String, name: String) -> String {
    let dir = (dbPath as NSString).deletingLastPathComponent
    let safeTask = String(task.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
    return ((dir.isEmpty ? "." : dir) as NSString).appendingPathComponent("kd-models/\(safeTask)/\(name)")
  }
}

/// The resumable part of a run, saved in `state/trainer_state.json`.
struct TrainerState: Codable {
  var fingerprint: String
  var position: LoaderPosition
  var step: Int
  var bestValue: Double?
  var bestEpoch: Int
  var badEpochs: Int
  var finished: Bool
  var trainSeconds: Double
  var examplesSeen: Int
  /// Train/validation example counts the run saw: a finished run whose
  /// settings and data are unchanged is reused instead of retrained.
  var dataSignature: String?
}

/// Trains one student on a plan and evaluates it.
public final class Trainer {
  public let plan: TrainingPlan
  public let options: TrainingOptions
  /// `kd`, `baseline` or a user-given name: the `metrics.model` / `models.name` value.
  public let name: String
  public let layout: CheckpointLayout
  /// Where metrics and the model row go (the first database), with the run id.
  public var resultStore: Store?
  public var runID: Int64?
  public var log: (String) -> Void = { _ in }
  /// Polled between steps; when it returns true the state is saved and training stops with a `KDError` of kind `.interrupted`.
  public var shouldStop: () -> Bool = { false }
  /// Ignore a saved state and start over.
  public var restart = false
  /// A fault to inject (tests; `KD_TRAIN_FAILPOINT`).
  public var failpoint: TrainingFailpoint?

  public init(plan: TrainingPlan, options: TrainingOptions, name: String, layout: CheckpointLayout) throws {
    try options.validate()
    if options.alpha < 1 && plan.teacherNames.isEmpty {
      throw KDError(.input, "alpha < 1 needs a teacher with cached outputs (none for task '\(plan.task)')")
    }
    self.plan = plan
    self.options = options
    self.name = name
    self.layout = layout
    failpoint = try TrainingFailpoint.fromEnvironment()
  }

  public var studentConfig: StudentConfig {
    if options.student == "transformer" {
      return (options.transformer ?? TransformerOptions()).studentConfig(vocabSize: plan.vocabSize, numClasses: plan.labels.count,
                                                                         maxTokens: options.maxTokens)
    }
    return StudentConfig(kind: options.student, vocabSize: plan.vocabSize, buckets: options.buckets,
                  dimension: options.dimension, hidden: options.student == "mlp" ? options.hidden : [],
                  numClasses: plan.labels.count, maxTokens: options.maxTokens)
  }

  func loaderOptions(train: Bool) -> LoaderOptions {
    var o = LoaderOptions(numClasses: plan.labels.count, vocabSize: plan.vocabSize)
    // Evaluation batches: 256 rows for the bag-of-words students. A transformer keeps its training
    // batch: its attention maps (rows × heads × tokens², kept for the taps) dominate memory, and
    // 256-row batches of medical abstracts peaked at 3.3 GB RSS where training stays under 1 GB.
    o.batchSize = train || options.student == "transformer" ? options.batchSize : 256
    o.shuffle = train
    o.bucketing = train
    o.seed = options.seed
    o.teacherWeights = options.teacherWeights
    o.maxTokens = options.maxTokens
    o.keepsLastToken = options.student == "transformer"
    o.shuffleBuffer = options.shuffleBuffer
    if train {
      o.labelFraction = options.labelFraction
      o.labelSeed = options.labelSeed
      o.useLabels = options.alpha > 0
      o.useTeachers = options.alpha < 1
    } else {
      o.requireLabel = true
    }
    return o
  }

  var fingerprint: String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    var s = String(decoding: (try? enc.encode(options)) ?? Data(), as: UTF8.self)
    s += "|" + name + "|" + plan.task + "|" + plan.teacherNames.joined(separator: ",") + "|"
    s += plan.databases.map(\.path).joined(separator: ",")
    return StableHash.hex(StableHash.fnv1a64(s))
  }

  /// Trains (or resumes), keeps the best checkpoint by the validation metric, then evaluates it on test.
  public func run() throws -> TrainingResult {
    useSingleBLASThread()
    var config = studentConfig
    try config.validate()
    let train = try StreamingLoader(sources: plan.sources(split: .train, domains: options.domains),
                                    options: loaderOptions(train: true))
    let validation = try StreamingLoader(sources: plan.sources(split: .validation, domains: options.domains),
                                         options: loaderOptions(train: false))
    let test = try StreamingLoader(sources: plan.sources(split: .test, domains: options.domains),
                                   options: loaderOptions(train: false))
    let trainCount = try train.countExamples()
    guard trainCount > 0 else {
      let c = try plan.counts(split: .train)
      throw KDError(.input, c.examples == 0
        ? "the train split of task '\(plan.task)' is empty"
        : "no usable train examples for task '\(plan.task)' (\(c.examples) examples, \(c.labeled) labeled; alpha \(options.alpha), label fraction \(options.labelFraction))")
    }
    let validationCount = try validation.countExamples()
    guard validationCount > 0 else {
      throw KDError(.input, "the validation split of task '\(plan.task)' has no labeled examples (needed for model selection)")
    }
    let stepsPerEpoch = (trainCount + options.batchSize - 1) / options.batchSize
    let (epochLimit, patience) = Self.budget(options: options, stepsPerEpoch: stepsPerEpoch)
    let totalSteps = options.maxSteps > 0 ? (epochLimit > 0 ? min(options.maxSteps, epochLimit * stepsPerEpoch) : options.maxSteps)
      : epochLimit * stepsPerEpoch
    let epochs = epochLimit > 0 ? epochLimit : (totalSteps + stepsPerEpoch - 1) / stepsPerEpoch
    let schedule = LearningRateSchedule(peak: options.learningRate, warmupSteps: Int(Double(totalSteps) * options.warmup),
                                        totalSteps: totalSteps, decay: options.decay)
    let model = try makeTrainingStudent(config, seed: options.seed)
    config = model.config
    let intermediate = try makeIntermediateDistillation(model)
    let optimizer = AdamW(parameters: model.parameters + (intermediate?.parameters ?? []), learningRate: options.learningRate, weightDecay: options.weightDecay)
    let lossFunction = DistillationLoss(alpha: options.alpha, temperature: options.temperature)

    // A KD student depends on the teacher outputs too: reused only while they are unchanged
    // (same teacher, head, calibration, output count), so a run that started on a partial cache is retrained.
    var dataSignature = "train:\(trainCount)|validation:\(validationCount)"
    if options.alpha < 1 { dataSignature += "|teachers:" + (try plan.teacherFingerprint()) }
    var state = TrainerState(fingerprint: fingerprint, position: LoaderPosition(epoch: 0, offset: 0, seed: options.seed),
                             step: 0, bestValue: nil, bestEpoch: -1, badEpochs: 0, finished: false, trainSeconds: 0,
                             examplesSeen: 0, dataSignature: dataSignature)
    var resumed = false
    var upToDate = false
    if !restart, let done = finishedState(dataSignature: dataSignature) {
      // Same settings, same data, finished before: reuse the best checkpoint.
      state = done
      resumed = true
      upToDate = true
      log("\(name): up to date (trained earlier with the same settings and data; --restart retrains)")
    } else if !restart, let saved = try loadState(model: model, optimizer: optimizer) {
      state = saved
      resumed = true
      log("\(name): resuming at epoch \(state.position.epoch + 1), batch \(state.position.offset) (step \(state.step))")
    } else {
      // A fresh run: the old metrics file belongs to another run.
      try? FileManager.default.removeItem(atPath: layout.metricsFile)
    }
    log("\(name): \(config.kind) student, \(model.parameterCount) parameters; \(trainCount) train examples, \(stepsPerEpoch) steps/epoch, up to \(epochs) epochs"
        + (patience != options.patience ? " (patience \(patience) epochs: the step budget of the compared KD student)" : ""))

    let metric = options.earlyStopMetric
    let higher = ClassificationMetrics.higherIsBetter(metric)
    var lastValidation: ClassificationMetrics?
    trainLoop: while !state.finished && state.position.epoch < epochs && !(options.maxSteps > 0 && state.step >= options.maxSteps) {
      let epoch = state.position.epoch
      let stream = train.batches(from: state.position)
      defer { stream.cancel() }
      var lossSum: Double = 0
      var lossRows = 0
      let start = Date()
      var epochExamples = 0
      while let batch = try stream.next() {
        if shouldStop() {
          state.trainSeconds += Date().timeIntervalSince(start)
          try requireFiniteWeights(optimizer.parameters, epoch: epoch + 1, step: state.step)
          try saveState(state, model: model, optimizer: optimizer)
          throw KDError(.interrupted, "interrupted at epoch \(epoch + 1), step \(state.step); the state is saved and a rerun resumes")
        }
        optimizer.learningRate = schedule.rate(at: state.step)
        model.zeroGrad()
        let logits = model.forward(batch, training: true)
        var (loss, gradient, used) = lossFunction.evaluate(logits: logits, batch: batch)
        loss = injectedLoss(loss + intermediateLoss(intermediate, model, batch), step: state.step + 1)
        guard loss.isFinite else {
          throw KDError(.numeric, "the loss became \(loss) at epoch \(epoch + 1), step \(state.step + 1) (learning rate \(optimizer.learningRate)); the best model and the state on disk are the last good ones. Lower --lr or check the teacher outputs")
        }
        model.backward(gradient)
        clipGradients(model.parameters, maxNorm: options.clip)
        optimizer.update()
        injectWeightFault(optimizer.parameters, step: state.step + 1)
        state.step += 1
        state.position.offset += 1
        epochExamples += batch.count
        lossSum += Double(loss) * Double(used)
        lossRows += used
        if options.checkpointEvery > 0 && state.step % options.checkpointEvery == 0 {
          try requireFiniteWeights(optimizer.parameters, epoch: epoch + 1, step: state.step)
          state.trainSeconds += Date().timeIntervalSince(start)
          try saveState(state, model: model, optimizer: optimizer)
          state.trainSeconds -= Date().timeIntervalSince(start)
        }
        if options.maxSteps > 0 && state.step >= options.maxSteps { break }
      }
      let seconds = Date().timeIntervalSince(start)
      state.trainSeconds += seconds
      state.examplesSeen += epochExamples
      try requireFiniteWeights(optimizer.parameters, epoch: epoch + 1, step: state.step)
      let v = try evaluate(model, validation)
      lastValidation = v
      let trainLoss = lossRows > 0 ? lossSum / Double(lossRows) : .nan
      try record(epoch: epoch + 1, step: state.step, split: "train",
                 values: [("loss", trainLoss), ("examples_per_s", Double(epochExamples) / max(seconds, 1e-9)),
                          ("lr", Double(optimizer.learningRate))])
      try record(metrics: v, epoch: epoch + 1, step: state.step, split: "validation")
      let value = v.value(named: metric) ?? .nan
      let improved = state.bestValue.map { higher ? value > $0 : value < $0 } ?? value.isFinite
      log(String(format: "%@: epoch %d  loss %.4f  val acc %.4f  macro-F1 %.4f  %@  %.0f ex/s%@", name, epoch + 1, trainLoss,
                 v.accuracy, v.macroF1, v.teacherAgreement.map { String(format: "agree %.3f", $0) } ?? "",
                 Double(epochExamples) / max(seconds, 1e-9), improved ? "  *" : ""))
      if improved {
        state.bestValue = value
        state.bestEpoch = epoch + 1
        state.badEpochs = 0
        try saveBest(model: model, config: config)
      } else {
        state.badEpochs += 1
      }
      state.position = LoaderPosition(epoch: epoch + 1, offset: 0, seed: options.seed)
      let stop = patience > 0 && state.badEpochs >= patience
      state.finished = stop || state.position.epoch >= epochs || (options.maxSteps > 0 && state.step >= options.maxSteps)
      try saveState(state, model: model, optimizer: optimizer)
      if stop {
        log("\(name): early stop, no \(metric) improvement for \(patience) epochs")
        break trainLoop
      }
    }
    if !state.finished {
      state.finished = true
      try saveState(state, model: model, optimizer: optimizer)
    }

    // The best checkpoint, on validation and test.
    guard FileManager.default.fileExists(atPath: (layout.best as NSString).appendingPathComponent("model.safetensors")) else {
      throw KDError(.numeric, "no checkpoint was saved: the validation \(metric) was never finite")
    }
    let best = try StudentCheckpoint.load(path: layout.best)
    // Post-hoc calibration of the student (temperature scaling, Guo et al. 2017), as for the teacher:
    // one temperature, the NLL optimum on the validation logits, folded into the output layer. Argmax
    // (accuracy, F1) is unchanged, and predict and every export give calibrated probabilities. On an
    // already calibrated checkpoint (a rerun) the fit returns 1 and nothing changes.
    var studentTemperature: Double?
    if let t = try fitTemperature(best.model, validation) {
      studentTemperature = t
      if abs(t - 1) > 1e-3 {
        best.model.scaleLogits(by: Float(1 / t))
        try saveBest(model: best.model, config: config)
        log(String(format: "%@: calibrated on validation: logits / %.3f", name, t))
      }
    }
    let bestValidation = try evaluate(best.model, validation)
    _ = lastValidation
    var testMetrics: ClassificationMetrics?
    var speed = 0.0
    if try test.countExamples() > 0 {
      let t = try evaluate(best.model, test)
      testMetrics = t
      try record(metrics: t, epoch: state.bestEpoch, step: state.step, split: "test")
      if t.collapsed == true {
        log(String(format: "warning: %@: collapsed, predicts one class on %.0f%% of the test rows", name,
                   (t.dominantPredictionShare ?? 0) * 100))
      }
      speed = try inferenceSpeed(best.model, test)
      log(String(format: "%@: test acc %.4f  macro-F1 %.4f  (best epoch %d); inference %.0f ex/s (1 thread)", name, t.accuracy,
                 t.macroF1, state.bestEpoch, speed))
    } else {
      log("warning: \(name): the test split of task '\(plan.task)' is empty; no test metrics")
    }
    let result = TrainingResult(
      name: name, task: plan.task, student: config.kind, checkpoint: layout.best, parameters: best.model.parameterCount,
      sizeBytes: CheckpointWriter.size(of: layout.best), bestEpoch: state.bestEpoch, epochs: state.position.epoch,
      steps: state.step, trainExamples: trainCount,
      trainExamplesPerSecond: Double(state.examplesSeen) / max(state.trainSeconds, 1e-9),
      validation: bestValidation, test: testMetrics, inferenceExamplesPerSecond: speed, resumed: resumed,
      stepsPerEpoch: stepsPerEpoch, epochLimit: epochs, patience: patience, calibrationTemperature: studentTemperature)
    if let store = resultStore, let runID {
      let enc = JSONEncoder()
      enc.outputFormatting = [.sortedKeys]
      let resultsJSON = String(decoding: try enc.encode(result), as: UTF8.self)
      let configJSON = String(decoding: try enc.encode(options), as: UTF8.self)
      let taskID = plan.databases[0].taskID
      // An up-to-date rerun reuses the checkpoint: it adds no second row for it.
      if upToDate,
        try store.existingModel(name: name, taskID: taskID, path: layout.best, configJSON: configJSON) != nil
      {
        return result
      }
      _ = try store.insertModel(runID: runID, name: name, taskID: taskID, kind: config.kind, path: layout.best,
                                parameters: result.parameters, sizeBytes: result.sizeBytes, configJSON: configJSON,
                                resultsJSON: resultsJSON)
    }
    return result
  }

  /// Longest epoch limit a `matchSteps` run may get.
  public static let maxMatchedEpochs = 1000

  /// The epoch limit and patience (epochs) of a run: as given, or scaled up by `matchSteps / (epochs × stepsPerEpoch)`.
  public static func budget(options: TrainingOptions, stepsPerEpoch: Int) -> (epochs: Int, patience: Int) {
    guard let target = options.matchSteps, target > 0, options.epochs > 0, stepsPerEpoch > 0 else {
      return (options.epochs, options.patience)
    }
    let factor = max(1, Double(target) / Double(options.epochs * stepsPerEpoch))
    let epochs = min(maxMatchedEpochs, Int((Double(options.epochs) * factor).rounded(.up)))
    let patience = options.patience > 0 ? min(epochs, Int((Double(options.patience) * factor).rounded(.up))) : 0
    return (epochs, patience)
  }

  /// Metrics of a model on a split (labeled examples only); the loss is CE against the labels.
  public func evaluate(_ model: StudentModel, _ loader: StreamingLoader) throws -> ClassificationMetrics {
    let c = plan.labels.count
    var acc = MetricsAccumulator(numClasses: c)
    let ce = DistillationLoss(alpha: 1, temperature: 1)
    let stream = loader.batches(from: LoaderPosition(epoch: 0, offset: 0, seed: options.seed))
    defer { stream.cancel() }
    while let batch = try stream.next() {
      let logits = model.forward(batch, training: false)
      let r = ce.evaluate(logits: logits, batch: batch)
      acc.addLoss(r.loss, count: r.count)
      let p = softmaxRows(logits, classes: c)
      var q = [Float](repeating: 0, count: c)
      for i in 0..<batch.count {
        var teacherClass: Int?
        if batch.teacherTarget(i, temperature: 1, into: &q) {
          var best = 0
          for j in 1..<c where q[j] > q[best] { best = j }
          teacherClass = best
        }
        acc.add(probabilities: p[(i * c)..<((i + 1) * c)], label: Int(batch.labels[i]), teacherClass: teacherClass)
      }
    }
    return acc.result()
  }

  /// The NLL-optimal temperature of the model's logits on a split's labelled rows (`TemperatureScaling`),
  /// nil with too few rows.
  func fitTemperature(_ model: StudentModel, _ loader: StreamingLoader) throws -> Double? {
    let c = plan.labels.count
    var logits: [[Float]] = []
    var labels: [Int] = []
    let stream = loader.batches(from: LoaderPosition(epoch: 0, offset: 0, seed: options.seed))
    defer { stream.cancel() }
    while let batch = try stream.next() {
      let z = model.forward(batch, training: false)
      for i in 0..<batch.count where batch.labels[i] >= 0 {
        logits.append(Array(z[(i * c)..<((i + 1) * c)]))
        labels.append(Int(batch.labels[i]))
      }
    }
    return TemperatureScaling.fit(logits: logits, labels: labels)
  }

  /// Examples per second of `forward` over (up to 20k examples of) a split, one thread, repeated for at least a second.
  public func inferenceSpeed(_ model: StudentModel, _ loader: StreamingLoader) throws -> Double {
    var batches: [Batch] = []
    var n = 0
    let stream = loader.batches(from: LoaderPosition(epoch: 0, offset: 0, seed: options.seed))
    defer { stream.cancel() }
    while n < 20000, let b = try stream.next() {
      batches.append(b)
      n += b.count
    }
    guard n > 0 else { return 0 }
    var done = 0
    let start = Date()
    var sink: Float = 0
    repeat {
      for b in batches {
        let z = model.forward(b, training: false)
        sink += z[0]
        done += b.count
      }
    } while Date().timeIntervalSince(start) < 1
    if sink.isNaN { log("note: NaN logits during the speed run") }
    return Double(done) / Date().timeIntervalSince(start)
  }

  // MARK: Files

  func checkpointConfig(_ config: StudentConfig) throws -> Data {
    let file = StudentCheckpoint.ConfigFile(student: config, labels: plan.labels, task: plan.task,
                                            tokenizer: plan.tokenizerName, training: options)
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    return try enc.encode(file)
  }

  func saveBest(model: StudentModel, config: StudentConfig) throws {
    var files: [String: CheckpointWriter.File] = [
      "model.safetensors": StudentCheckpoint.weightsFile(of: model),
      "config.json": .bytes(try checkpointConfig(config)),
    ]
    if !plan.tokenizerDefinition.isEmpty {
      let isJSON = plan.tokenizerDefinition.first(where: { $0 != 0x20 && $0 != 0x0a && $0 != 0x09 }) == UInt8(ascii: "{")
      files[isJSON ? "tokenizer.json" : "vocab.txt"] = .bytes(Data(plan.tokenizerDefinition))
    }
    try CheckpointWriter.write(path: layout.best, contents: files)
  }

  func saveState(_ state: TrainerState, model: StudentModel, optimizer: AdamW) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try CheckpointWriter.write(path: layout.state, contents: [
      "model.safetensors": StudentCheckpoint.weightsFile(of: model),
      "optimizer.safetensors": .tensors(optimizer.stateTensors().map { SafetensorsWriter.Tensor(name: $0.0, shape: $0.1, values: $0.2) },
                                        metadata: [:]),
      "trainer_state.json": .bytes(try enc.encode(state)),
    ])
  }

  /// The saved state of a finished run with this configuration and data, when its best checkpoint exists.
  func finishedState(dataSignature: String) -> TrainerState? {
    let statePath = (layout.state as NSString).appendingPathComponent("trainer_state.json")
    guard let data = FileManager.default.contents(atPath: statePath),
      let state = try? JSONDecoder().decode(TrainerState.self, from: data),
      state.fingerprint == fingerprint, state.finished, state.dataSignature == dataSignature,
      FileManager.default.fileExists(atPath: (layout.best as NSString).appendingPathComponent("model.safetensors"))
    else { return nil }
    return state
  }

  /// The saved state when it belongs to this exact configuration and is unfinished.
  func loadState(model: StudentModel, optimizer: AdamW) throws -> TrainerState? {
    let statePath = (layout.state as NSString).appendingPathComponent("trainer_state.json")
    guard let data = FileManager.default.contents(atPath: statePath),
      let state = try? JSONDecoder().decode(TrainerState.self, from: data)
    else { return nil }
    guard state.fingerprint == fingerprint, !state.finished else { return nil }
    try StudentCheckpoint.loadWeights(into: model, path: (layout.state as NSString).appendingPathComponent("model.safetensors"))
    let optPath = (layout.state as NSString).appendingPathComponent("optimizer.safetensors")
    try optimizer.restore(from: try SafeTensorsF32.read(path: optPath), file: optPath)
    return state
  }

  // MARK: Metrics

  func record(metrics m: ClassificationMetrics, epoch: Int, step: Int, split: String) throws {
    var values: [(String, Double)] = [("accuracy", m.accuracy), ("macro_f1", m.macroF1), ("ece", m.ece),
                                      ("examples", Double(m.examples))]
    if let a = m.teacherAgreement { values.append(("agreement", a)) }
    if let l = m.loss { values.append(("loss", l)) }
    for (i, f) in m.perClassF1.enumerated() where i < plan.labels.count { values.append(("f1:" + plan.labels[i], f)) }
    try record(epoch: epoch, step: step, split: split, values: values)
  }

  func record(epoch: Int, step: Int, split: String, values: [(String, Double)]) throws {
    if let store = resultStore, let runID {
      try store.insertMetrics(runID: runID, model: name, epoch: epoch, step: step, split: split,
                              values: values.map { (name: $0.0, value: $0.1) })
    }
    var object: [String: Any] = ["model": name, "task": plan.task, "epoch": epoch, "step": step, "split": split]
    for (k, v) in values where v.isFinite { object[k] = v }
    let line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) + Data("\n".utf8)
    try FileManager.default.createDirectory(atPath: layout.root, withIntermediateDirectories: true)
    if let h = FileHandle(forWritingAtPath: layout.metricsFile) {
      defer { try? h.close() }
      // The throwing calls: a full disk is an error to report, not a trap.
      try h.seekToEnd()
      try h.write(contentsOf: line)
    } else if !FileManager.default.createFile(atPath: layout.metricsFile, contents: line) {
      throw KDError(.io, errno == ENOSPC ? "the disk is full: cannot write the metrics file" : "cannot write the metrics file",
                    file: layout.metricsFile)
    }
  }
}
