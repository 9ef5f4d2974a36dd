import Foundation
import KDCore
import KDModels
import KDNN
import KDStore
import KDTensor
import KDTokenizers

/// Settings of `kd-train teacher` (teacher fine-tuning, docs/train.md).
public struct FineTuneOptions: Sendable, Codable, Equatable {
  /// Peak learning rate of the classification head (AdamW); lower layers get `layerDecay^depth` of it.
  public var learningRate: Float = 5e-5
  /// Most epochs (early stopping on validation macro-F1 may end sooner).
  public var epochs = 5
  /// Layer-wise learning-rate decay: layer `l` of `L` gets `lr · decay^(L − l)`, embeddings `lr · decay^(L+1)`. 1 = off.
  public var layerDecay: Float = 1
  /// Window length in tokens (specials included): training reads each text's first window,
  /// evaluation and the LP-FT head fit average all of them (`FineTuneExample`).
  public var maxTokens = 256
  /// `none`, `balanced` (n / (k · count)), or one weight per class, comma-separated. `balanced` by
  /// default, as kd-teacher-cache fits its heads: the LP-FT head is then the frozen teacher's own fit,
  /// and the loss weighs classes as the selection's macro-F1 does.
  public var classWeights = "balanced"
  public var batchSize = 16
  public var seed: UInt64 = 1
  /// Share of training labels kept (`LabelFraction`, the rule kd-teacher-cache and kd-train use).
  public var labelFraction: Double = 1
  public var labelSeed: UInt64 = 0
  /// Epochs without a better validation macro-F1 before stopping (0: never stop early).
  public var patience = 2
  /// Warmup as a share of all steps; then linear decay to zero.
  public var warmup: Double = 0.1
  public var weightDecay: Float = 0.01
  /// Global gradient-norm clip (0: off).
  public var clip: Float = 1
  public var dropout: Float = 0.1
  /// Save a resumable state every N steps, besides every epoch end (0: epoch ends only).
  public var checkpointEvery = 200
  /// Use at most this many labelled training examples (0: all), a seeded sample; for quick runs.
  public var limit = 0
  /// Evaluate the selected model on the test split.
  public var evaluateTest = true
  /// What the classifier reads: `cls` ([CLS] through the pooler, `BertForSequenceClassification`),
  /// `mean` (the mean-pooled final hidden states, exported as a sentence-transformers folder with a
  /// Dense head), or `auto`: the teacher's own sentence-transformers pooling when it has
  /// `1_Pooling/config.json` (mean for all-MiniLM-L6-v2, whose pooler was never trained), else `cls`.
  public var pooling = "auto"
  /// How the classifier starts: `fit` (a logistic-regression head fitted on the frozen encoder's
  /// features, then everything is fine-tuned: LP-FT, Kumar et al. 2022; the fitted head is also
  /// epoch 0 of the validation selection) or `random` (N(0, 0.02), the Hugging Face default).
  public var headInit = "fit"
  /// What training reads of a text longer than `maxTokens`: `first` (nil: its first window, the text
  /// cut as Hugging Face truncates) or `all` (every window, each a training row with the text's
  /// label; class weights then count windows). Evaluation averages all windows either way.
  /// Optional so that the default leaves the resume fingerprint of earlier states unchanged.
  public var trainWindows: String?
  /// Weight-space ensembling of the start and the fine-tuned model (WiSE-FT, Wortsman et al. 2022):
  /// the kept weights are `(1 − α)·start + α·fine-tuned`, where the start is epoch 0, the frozen
  /// encoder with its fitted head (`--head-init fit`). `auto` picks α on validation macro-F1 from
  /// 0, 0.1, …, 1 (ties go to the larger α); a number in [0, 1] fixes it; nil or `none`: α = 1.
  /// It acts after training, so it is not part of the resume fingerprint.
  public var interpolate: String?

  public init() {}

  /// The α candidates `interpolate` asks for (nil: no interpolation).
  public var interpolationGrid: [Float]? {
    switch interpolate {
    case nil, "none": return nil
    case "auto": return (0...10).map { Float($0) / 10 }
    case let v?: return Float(v).map { [$0] }
    }
  }

  /// Checks ranges; throws `KDError(.usage)` naming the flag.
  public func validate() throws {
    func bad(_ f: String, _ m: String) -> KDError { KDError(.usage, m, field: f) }
    guard learningRate > 0, learningRate.isFinite else { throw bad("--lr", "the learning rate must be positive") }
    guard epochs > 0 else { throw bad("--epochs", "epochs must be at least 1") }
    guard layerDecay > 0, layerDecay <= 1 else { throw bad("--layer-decay", "layer decay must be in (0, 1]") }
    guard maxTokens >= 3 else { throw bad("--max-tokens", "max tokens must be at least 3") }
    guard batchSize > 0 else { throw bad("--batch-size", "the batch size must be positive") }
    guard labelFraction > 0, labelFraction <= 1 else { throw bad("--label-fraction", "the label fraction must be in (0, 1]") }
    guard patience >= 0 else { throw bad("--patience", "patience must be 0 or more") }
    guard warmup >= 0, warmup < 1 else { throw bad("--warmup", "warmup must be in [0, 1)") }
    guard dropout >= 0, dropout < 1 else { throw bad("--dropout", "dropout must be in [0, 1)") }
    guard checkpointEvery >= 0 else { throw bad("--checkpoint-every", "must be 0 or more") }
    guard limit >= 0 else { throw bad("--limit", "must be 0 or more") }
    guard ["auto", "cls", "mean"].contains(pooling) else { throw bad("--pooling", "pooling is auto, cls or mean, got '\(pooling)'") }
    guard ["fit", "random"].contains(headInit) else { throw bad("--head-init", "the head starts as fit or random, got '\(headInit)'") }
    if let w = trainWindows, !["first", "all"].contains(w) {
      throw bad("--train-windows", "training reads the first or all windows, got '\(w)'")
    }
    if let v = interpolate, !["auto", "none"].contains(v) {
      guard let a = Float(v), a >= 0, a <= 1 else {
        throw bad("--interpolate", "interpolation is auto, none or a number in [0, 1], got '\(v)'")
      }
      guard headInit == "fit" else {
        throw bad("--interpolate", "a fixed α needs --head-init fit: the start it mixes in is the frozen encoder with its fitted head")
      }
    }
  }

  /// Whether the teacher's sentence-transformers pipeline L2-normalises its embedding (a `Normalize`
  /// module in `modules.json`): a mean-pooled classifier then reads the normalised embedding, the input
  /// of the frozen teacher's fitted head.
  public static func teacherNormalizes(_ directory: String) -> Bool {
    SentenceTransformersFolder.modules(directory: directory).map(SentenceTransformersFolder.normalizes) ?? false
  }

  /// The pooling `auto` resolves to for the teacher folder `directory`: its `1_Pooling` mode, else `cls`.
  /// - Throws: `KDError` naming the file when `1_Pooling/config.json` is unreadable or unsupported.
  public func resolvedPooling(teacherDirectory directory: String) throws -> Pooling {
    switch pooling {
    case "cls": return .cls
    case "mean": return .mean
    default: return try SentenceTransformersFolder.pooling(directory: directory) ?? .cls
    }
  }

  /// The class weights for `counts` training examples per class.
  public func weights(counts: [Int]) throws -> [Float] {
    let k = counts.count
    switch classWeights {
    case "none", "":
      return [Float](repeating: 1, count: k)
    case "balanced":
      let n = Float(counts.reduce(0, +))
      return counts.map { $0 > 0 ? n / (Float(k) * Float($0)) : 0 }
    default:
      let parts = classWeights.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
      guard parts.count == k, parts.allSatisfy({ ($0 ?? -1) >= 0 }) else {
        throw KDError(.usage, "--class-weights takes none, balanced, or \(k) non-negative numbers (one per class), got '\(classWeights)'",
                      field: "--class-weights")
      }
      return parts.map { $0! }
    }
  }
}

/// One labelled example, tokenized with the teacher's tokenizer.
///
/// Training reads `ids`, the first window (the text cut to max tokens, as Hugging Face truncates);
/// validation, test and the LP-FT head fit read every window of the text and average (`TokenWindows`:
/// `max tokens` per window, a quarter overlapping), as kd-teacher-cache scores long texts, so the
/// epoch selection sees what the cached teacher will output.
public struct FineTuneExample: Sendable, Equatable {
  public var exampleID: Int64
  public var ids: [Int32]
  public var label: Int
  /// All windows of the text; `windows[0] == ids`.
  public var windows: [[Int32]]

  public init(exampleID: Int64, ids: [Int32], label: Int, windows: [[Int32]]? = nil) {
    self.exampleID = exampleID
    self.ids = ids
    self.label = label
    self.windows = windows ?? [ids]
  }
}

/// A task's labelled rows for fine-tuning: train (after `--label-fraction`), validation, test.
public struct FineTuneData: Sendable {
  public var task: String
  public var labels: [String]
  public var train: [FineTuneExample]
  public var validation: [FineTuneExample]
  public var test: [FineTuneExample]

  public init(task: String, labels: [String], train: [FineTuneExample], validation: [FineTuneExample], test: [FineTuneExample]) {
    self.task = task; self.labels = labels; self.train = train; self.validation = validation; self.test = test
  }

  /// Reads the task's single-label examples from `db` and tokenizes their text with the
  /// teacher's tokenizer (`tokenizerPath`) into windows of `maxTokens` (`FineTuneExample`).
  /// - Throws: `KDError(.input)` naming the database for a missing or multi-label task, or a
  ///   split without labelled examples (train and validation are required).
  public static func load(db: String, task: String, tokenizerPath: String, options: FineTuneOptions) throws -> FineTuneData {
    guard FileManager.default.fileExists(atPath: db) else { throw KDError(.io, "no such database", file: db, field: "--db") }
    let store = try Store.open(path: db, readOnly: true)
    guard let t = try store.task(named: task) else {
      let known = try store.tasks().map(\.name)
      throw KDError(.input, "no task '\(task)' (tasks: \(known.isEmpty ? "none" : known.joined(separator: ", ")))", file: db, field: "--task")
    }
    if t.multiLabel { throw KDError(.unsupported, "task '\(task)' is multi-label; teacher fine-tuning is single-label", file: db, field: "--task") }
    guard t.labels.count >= 2 else { throw KDError(.input, "task '\(task)' has \(t.labels.count) label(s); a classifier needs 2 or more", file: db) }
    let tokenizer = try Tokenizer.load(path: tokenizerPath)
    func rows(_ split: Split) throws -> [FineTuneExample] {
      var labelled = try store.labeledExamples(taskID: t.id, split: split).filter { $0.classes.count == 1 }
      if split == .train {
        labelled = labelled.filter { LabelFraction.keeps(contentKey: $0.contentKey, fraction: options.labelFraction, seed: options.labelSeed) }
        if options.limit > 0 && labelled.count > options.limit {
          var rng = NNRandom(seed: options.seed &+ 0x5eed)
          labelled.shuffle(using: &rng)
          labelled = Array(labelled.prefix(options.limit)).sorted { $0.exampleID < $1.exampleID }
        }
      }
      var out: [FineTuneExample] = []
      out.reserveCapacity(labelled.count)
      var i = 0
      while i < labelled.count {
        let chunk = Array(labelled[i..<min(labelled.count, i + 512)])
        let inputs = try store.teacherInputs(chunk.map(\.exampleID), tokenizerID: nil)
        for (r, input) in zip(chunk, inputs) {
          let all = tokenizer.encode(input.text, addSpecialTokens: true, truncation: nil, padding: nil).ids
          let windows = TokenWindows.split(all, maxTokens: options.maxTokens)
          out.append(FineTuneExample(exampleID: r.exampleID, ids: windows[0], label: r.classes[0], windows: windows))
        }
        i += chunk.count
      }
      return out
    }
    let data = FineTuneData(task: task, labels: t.labels, train: try rows(.train), validation: try rows(.validation), test: try rows(.test))
    guard !data.train.isEmpty else {
      throw KDError(.input, "task '\(task)' has no labelled training examples (after --label-fraction \(options.labelFraction))", file: db)
    }
    guard !data.validation.isEmpty else {
      throw KDError(.input, "task '\(task)' has no labelled validation examples; early stopping needs them", file: db)
    }
    return data
  }
}

/// One finished epoch.
public struct FineTuneEpoch: Sendable, Codable, Equatable {
  public var epoch: Int
  public var trainLoss: Double
  public var validationMacroF1: Double
  public var validationAccuracy: Double
  /// Wall seconds of the epoch's training steps (a resumed epoch: since the resume).
  public var trainSeconds: Double
  /// Wall seconds including validation.
  public var seconds: Double
}

/// Where a run stands (reported after every step; the command prints it every 30 s).
public struct FineTuneProgress: Sendable {
  public var epoch: Int
  public var epochs: Int
  public var step: Int
  public var stepsPerEpoch: Int
  public var globalStep: Int
  public var totalSteps: Int
  /// Mean training loss of this epoch so far.
  public var loss: Double
  public var examplesPerSecond: Double
}

/// The outcome of a fine-tuning run (`kd-train teacher --json`).
public struct FineTuneResult: Sendable, Encodable {
  public var task: String
  public var teacher: String
  public var labels: [String]
  public var trainExamples: Int
  public var validationExamples: Int
  public var testExamples: Int
  public var epochs: [FineTuneEpoch]
  public var bestEpoch: Int
  public var bestValidationMacroF1: Double
  public var stoppedEarly: Bool
  /// The global step the run resumed from (nil: started fresh).
  public var resumedFromStep: Int?
  public var test: ClassificationMetrics?
  /// WiSE-FT (`--interpolate`): the α kept and what it was chosen from (nil: not interpolated).
  public var interpolation: FineTuneInterpolation?
  public var seconds: Double
  public var options: FineTuneOptions
  /// The written Hugging Face folder (set by the command).
  public var out: String?
}

/// The weight-space interpolation between the start (epoch 0) and the selected epoch.
public struct FineTuneInterpolation: Sendable, Encodable {
  /// The α kept: `(1 − α)·start + α·fine-tuned`.
  public var alpha: Float
  /// Validation macro-F1 of each α tried, in order.
  public var validationMacroF1: [[Double]]
  /// Test metrics of the selected epoch's own weights (α = 1), for comparison (nil: no test run).
  public var testFineTuned: ClassificationMetrics?
}

/// Fine-tunes a BERT teacher (all layers, pooler and a new classifier: `BertForSequenceClassification`)
/// on a task's labels, selecting the epoch with the best validation macro-F1.
///
/// Resumable: the state (weights, AdamW moments, history) is saved atomically to
/// `stateDirectory/state.safetensors` every `checkpointEvery` steps and at each epoch end; the
/// best epoch's weights to `best-eN.safetensors`. A later run with the same options continues
/// from there (dropout masks after a resume differ from an uninterrupted run). The teacher
/// folder is only read.
///
/// For example:
/// ```swift
/// let data = try FineTuneData.load(db: "data.sqlite", task: "banking77", tokenizerPath: dir + "/tokenizer.json", options: o)
/// let tuner = try TeacherFineTuner(teacherDirectory: dir, data: data, options: o, stateDirectory: "out.kd-state")
/// let (result, bert) = try tuner.run()
/// ```
public final class TeacherFineTuner {
  public let teacherDirectory: String
  public let data: FineTuneData
  public let options: FineTuneOptions
  public let stateDirectory: String
  public let bert: TrainableBert
  public var log: (String) -> Void = { _ in }
  public var progress: (FineTuneProgress) -> Void = { _ in }
  public var shouldStop: () -> Bool = { false }
  /// Test hook: called after each optimizer step with the global step.
  public var afterStep: (Int) -> Void = { _ in }

  let groups: [(optimizer: AdamW, factor: Float)]
  let classWeights: [Float]

  public init(teacherDirectory: String, data: FineTuneData, options: FineTuneOptions, stateDirectory: String) throws {
    try options.validate()
    self.teacherDirectory = teacherDirectory
    self.data = data
    self.options = options
    self.stateDirectory = stateDirectory
    let configPath = (teacherDirectory as NSString).appendingPathComponent("config.json")
    let t = try BertConfig.load(path: configPath)
    let c = TrainableBertConfig(
      layers: t.numHiddenLayers, hiddenSize: t.hiddenSize, heads: t.numAttentionHeads, intermediateSize: t.intermediateSize,
      maxTokens: min(options.maxTokens, t.maxPositionEmbeddings), vocabSize: t.vocabSize, numClasses: data.labels.count,
      dropout: options.dropout)
    bert = try TrainableBert.fromTeacher(directory: teacherDirectory, config: c, layerMap: Array(0..<t.numHiddenLayers), seed: options.seed)
    bert.classifierPooling = try options.resolvedPooling(teacherDirectory: teacherDirectory)
    bert.normalizePooled = bert.classifierPooling == .mean && FineTuneOptions.teacherNormalizes(teacherDirectory)
    // Parameter groups for layer-wise decay: embeddings, each layer, head (pooler when used + classifier).
    let L = bert.layers.count
    let embed = [bert.wordEmbeddings.table, bert.positionEmbeddings.table, bert.tokenTypeEmbeddings.table] + bert.embeddingNorm.parameters
    var g: [(AdamW, Float)] = []
    func factor(_ depth: Int) -> Float { Float(Foundation.pow(Double(options.layerDecay), Double(L + 1 - depth))) }
    g.append((AdamW(parameters: embed, learningRate: options.learningRate, weightDecay: options.weightDecay), factor(0)))
    for (i, l) in bert.layers.enumerated() {
      g.append((AdamW(parameters: l.parameters, learningRate: options.learningRate, weightDecay: options.weightDecay), factor(i + 1)))
    }
    let head = (bert.classifierPooling == .cls ? bert.pooler.parameters : []) + bert.classifier.parameters
    g.append((AdamW(parameters: head, learningRate: options.learningRate,
                    weightDecay: options.weightDecay), factor(L + 1)))
    groups = g
    var items: [(example: Int, window: Int)] = []
    for (i, e) in data.train.enumerated() {
      for w in 0..<(options.trainWindows == "all" ? e.windows.count : 1) { items.append((i, w)) }
    }
    trainItems = items
    var counts = [Int](repeating: 0, count: data.labels.count)
    for item in items { counts[data.train[item.example].label] += 1 }
    classWeights = try options.weights(counts: counts)
  }

  /// The training rows: (example, window) pairs, one per text, or one per window with `--train-windows all`.
  let trainItems: [(example: Int, window: Int)]

  /// Training steps in one epoch (rows: texts, or windows with `--train-windows all`).
  public var stepsPerEpoch: Int { (trainItems.count + options.batchSize - 1) / options.batchSize }
  var statePath: String { (stateDirectory as NSString).appendingPathComponent("state.safetensors") }

  /// What a state records besides tensors.
  struct StateInfo: Codable {
    var fingerprint: String
    var epoch: Int
    var stepInEpoch: Int
    var globalStep: Int
    var epochLossSum: Double
    var epochLossCount: Int
    var history: [FineTuneEpoch]
    var bestEpoch: Int
    var bestF1: Double
    var bestFile: String?
    var badEpochs: Int
  }

  /// Options and data that must match for a state to be resumed.
  var fingerprint: String {
    var o = options
    o.checkpointEvery = 0
    o.evaluateTest = true
    o.interpolate = nil
    let enc = JSONEncoder()
    enc.outputFormatting = .sortedKeys  // a stable text: key order must not depend on hashing
    let opts = (try? enc.encode(o)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    var h = StableHash.fnv1a64(Array(opts.utf8))
    for e in data.train { h = (h ^ UInt64(bitPattern: e.exampleID)) &* 0x100_0000_01b3 }
    return "\(StableHash.hex(h))-\(data.train.count)-\(data.labels.count)"
  }

  /// Trains; returns the result and leaves the best epoch's weights in `bert`.
  /// - Throws: `KDError` with a message starting "interrupted" when `shouldStop` asked to stop
  ///   (the state is saved first), `KDError(.numeric)` on a non-finite loss, `KDError(.input)` for a
  ///   state made with other options (pass `restart`).
  public func run(restart: Bool = false) throws -> FineTuneResult {
    let start = Date()
    let fm = FileManager.default
    try fm.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
    var info = StateInfo(fingerprint: fingerprint, epoch: 0, stepInEpoch: 0, globalStep: 0, epochLossSum: 0, epochLossCount: 0,
                         history: [], bestEpoch: -1, bestF1: -1, bestFile: nil, badEpochs: 0)
    var resumed: Int?
    if !restart, fm.fileExists(atPath: statePath) {
      info = try loadState(expecting: info.fingerprint)
      resumed = info.globalStep
      log("resuming from step \(info.globalStep) (epoch \(info.epoch + 1), step \(info.stepInEpoch) of \(stepsPerEpoch)) in \(stateDirectory)")
    }
    if resumed == nil && options.headInit == "fit" {
      try fitHead(&info)
    }
    let totalSteps = options.epochs * stepsPerEpoch
    let schedule = LearningRateSchedule(peak: options.learningRate, warmupSteps: Int(Double(totalSteps) * options.warmup),
                                        totalSteps: totalSteps, decay: .linear)
    let params = bert.parameters
    var stoppedEarly = false
    let B = options.batchSize, C = data.labels.count
    var epochStart = Date()
    var examplesSeen = 0
    let rateStart = Date()
    while info.epoch < options.epochs {
      if options.patience > 0 && info.badEpochs >= options.patience {
        stoppedEarly = true
        break
      }
      var rng = NNRandom(seed: options.seed &+ UInt64(info.epoch + 1) &* 0x9e37_79b9)
      var order = Array(trainItems.indices)
      order.shuffle(using: &rng)
      if info.stepInEpoch == 0 { epochStart = Date() }
      while info.stepInEpoch < stepsPerEpoch {
        if shouldStop() {
          try saveState(info)
          throw KDError(.io, "interrupted at step \(info.globalStep); the state is saved in \(stateDirectory) (run again to resume)")
        }
        let lo = info.stepInEpoch * B
        let rows = order[lo..<min(order.count, lo + B)].map { trainItems[$0] }
        let batch = rows.map { data.train[$0.example] }
        for p in params { p.zeroGrad() }
        let logits = bert.forward(rows.map { data.train[$0.example].windows[$0.window] }, training: true)
        var d = [Float](repeating: 0, count: logits.count)
        var wsum: Float = 0
        var loss: Float = 0
        for (i, e) in batch.enumerated() {
          let w = classWeights[e.label]
          let row = classSoftmax(logits[(i * C)..<((i + 1) * C)])
          loss -= w * Foundation.log(max(row[e.label], 1e-12))
          for j in 0..<C { d[i * C + j] = w * (row[j] - (j == e.label ? 1 : 0)) }
          wsum += w
        }
        if wsum > 0 { for i in d.indices { d[i] /= wsum } }
        let meanLoss = wsum > 0 ? loss / wsum : 0
        guard meanLoss.isFinite else {
          throw KDError(.numeric, "the training loss became \(meanLoss) at step \(info.globalStep) (try a lower --lr)", field: "--lr")
        }
        bert.backward(d)
        if options.clip > 0 { clipGradients(params, maxNorm: options.clip) }
        let lr = schedule.rate(at: info.globalStep)
        for (opt, f) in groups {
          opt.learningRate = lr * f
          opt.update()
        }
        info.stepInEpoch += 1
        info.globalStep += 1
        info.epochLossSum += Double(meanLoss) * Double(batch.count)
        info.epochLossCount += batch.count
        examplesSeen += batch.count
        progress(FineTuneProgress(
          epoch: info.epoch + 1, epochs: options.epochs, step: info.stepInEpoch, stepsPerEpoch: stepsPerEpoch,
          globalStep: info.globalStep, totalSteps: totalSteps, loss: info.epochLossSum / Double(max(1, info.epochLossCount)),
          examplesPerSecond: Double(examplesSeen) / max(1e-6, Date().timeIntervalSince(rateStart))))
        if options.checkpointEvery > 0 && info.globalStep % options.checkpointEvery == 0 && info.stepInEpoch < stepsPerEpoch {
          try saveState(info)
        }
        afterStep(info.globalStep)
      }
      // Epoch end: validate, keep the best, save.
      let trainSeconds = Date().timeIntervalSince(epochStart)
      let val = evaluate(data.validation)
      let ep = FineTuneEpoch(epoch: info.epoch + 1, trainLoss: info.epochLossSum / Double(max(1, info.epochLossCount)),
                             validationMacroF1: val.macroF1, validationAccuracy: val.accuracy,
                             trainSeconds: trainSeconds, seconds: Date().timeIntervalSince(epochStart))
      info.history.append(ep)
      log(String(format: "epoch %d/%d: train loss %.4f, validation macro-F1 %.4f, accuracy %.4f (%.0f s)", ep.epoch, options.epochs,
                 ep.trainLoss, ep.validationMacroF1, ep.validationAccuracy, ep.seconds))
      if val.macroF1 > info.bestF1 {
        let file = "best-e\(ep.epoch).safetensors"
        try SafetensorsWriter.write(params.map { SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, values: $0.value) },
                                    metadata: ["epoch": String(ep.epoch)], to: (stateDirectory as NSString).appendingPathComponent(file))
        let old = info.bestFile
        info.bestFile = file
        info.bestF1 = val.macroF1
        info.bestEpoch = ep.epoch
        info.badEpochs = 0
        info.epoch += 1
        info.stepInEpoch = 0
        info.epochLossSum = 0
        info.epochLossCount = 0
        try saveState(info)
        // The start (epoch 0) stays for --interpolate.
        if let old, old != file, old != "best-e0.safetensors" { try? fm.removeItem(atPath: (stateDirectory as NSString).appendingPathComponent(old)) }
      } else {
        info.badEpochs += 1
        info.epoch += 1
        info.stepInEpoch = 0
        info.epochLossSum = 0
        info.epochLossCount = 0
        try saveState(info)
      }
    }
    if options.patience > 0 && info.badEpochs >= options.patience && info.epoch < options.epochs { stoppedEarly = true }
    // Select the best epoch.
    guard let bestFile = info.bestFile else { throw KDError(.internalError, "no epoch finished") }
    let bestPath = (stateDirectory as NSString).appendingPathComponent(bestFile)
    let best = try SafetensorsFile(path: bestPath)
    try bert.load(from: { name in best.tensors[name] == nil ? nil : try best.floats(name) }, source: bestPath)
    log("selected epoch \(info.bestEpoch) (validation macro-F1 \(String(format: "%.4f", info.bestF1)))"
          + (stoppedEarly ? "; stopped early after \(options.patience) epoch(s) without improvement" : ""))
    var test: ClassificationMetrics?
    let testing = options.evaluateTest && !data.test.isEmpty
    var interpolation: FineTuneInterpolation?
    if let grid = options.interpolationGrid {
      interpolation = try interpolate(grid: grid, info: info, testing: testing)
    }
    if testing {
      // α = 1 kept: the interpolation already scored these weights on test.
      test = interpolation.flatMap { $0.alpha == 1 ? $0.testFineTuned : nil } ?? evaluate(data.test)
      log(String(format: "test: macro-F1 %.4f, accuracy %.4f on %d examples", test!.macroF1, test!.accuracy, test!.examples))
    }
    return FineTuneResult(
      task: data.task, teacher: teacherDirectory, labels: data.labels, trainExamples: data.train.count,
      validationExamples: data.validation.count, testExamples: data.test.count, epochs: info.history, bestEpoch: info.bestEpoch,
      bestValidationMacroF1: info.bestF1, stoppedEarly: stoppedEarly, resumedFromStep: resumed, test: test,
      interpolation: interpolation, seconds: Date().timeIntervalSince(start), options: options, out: nil)
  }

  /// WiSE-FT: with the selected epoch's weights in `bert`, tries `(1 − α)·start + α·selected` for
  /// each α of `grid` on validation and keeps the best (ties: the larger α). The start is epoch 0's
  /// saved weights (the frozen encoder with its fitted head). Returns nil, leaving the weights
  /// as they are, when epoch 0 itself was selected or its file is missing (a head-init random run,
  /// or a state from before kd kept it).
  func interpolate(grid: [Float], info: StateInfo, testing: Bool) throws -> FineTuneInterpolation? {
    let startPath = (stateDirectory as NSString).appendingPathComponent("best-e0.safetensors")
    guard info.bestEpoch > 0 else {
      log("interpolation: epoch 0 (the start) was selected; nothing to interpolate")
      return nil
    }
    guard FileManager.default.fileExists(atPath: startPath) else {
      log("interpolation: no epoch-0 weights in \(stateDirectory) (--head-init random, or an older state); keeping the fine-tuned weights")
      return nil
    }
    let startFile = try SafetensorsFile(path: startPath)
    let params = bert.parameters
    let tuned = params.map(\.value)
    var start: [[Float]] = []
    for p in params {
      let v = try startFile.floats(p.name)
      guard v.count == p.count else {
        throw KDError(.model, "tensor has \(v.count) values; \(p.name) needs \(p.count)", file: startPath, field: p.name)
      }
      start.append(v)
    }
    func mix(_ a: Float) {
      for (i, p) in params.enumerated() {
        let s = start[i], t = tuned[i]
        p.value = a == 1 ? t : (0..<t.count).map { j in (1 - a) * s[j] + a * t[j] }
      }
    }
    var testTuned: ClassificationMetrics?
    if testing {
      testTuned = evaluate(data.test)
      log(String(format: "test of the fine-tuned weights (α = 1): macro-F1 %.4f, accuracy %.4f", testTuned!.macroF1, testTuned!.accuracy))
    }
    var tried: [[Double]] = []
    var best: (alpha: Float, f1: Double) = (1, -1)
    for a in grid {
      if shouldStop() { throw KDError(.io, "interrupted while interpolating (training is done; run again to redo the interpolation)") }
      let f1: Double
      if a == 1 {
        f1 = info.bestF1
      } else if a == 0, let e0 = info.history.first(where: { $0.epoch == 0 }) {
        f1 = e0.validationMacroF1
      } else {
        mix(a)
        f1 = evaluate(data.validation).macroF1
      }
      tried.append([Double(a), f1])
      log(String(format: "interpolation α = %.2f: validation macro-F1 %.4f", a, f1))
      if f1 > best.f1 || (f1 == best.f1 && a > best.alpha) { best = (a, f1) }
    }
    mix(best.alpha)
    log(String(format: "kept α = %.2f (validation macro-F1 %.4f; the fine-tuned weights alone: %.4f)", best.alpha, best.f1, info.bestF1))
    return FineTuneInterpolation(alpha: best.alpha, validationMacroF1: tried, testFineTuned: testTuned)
  }

  /// LP-FT's first stage: fits a logistic-regression head (L-BFGS, strength chosen on validation
  /// log-loss, the kd-teacher-cache `--fit-head` fit) on the frozen encoder's classifier features,
  /// loads it into the classifier, and records it as epoch 0 of the validation selection, so the
  /// selected model is never worse on validation than the frozen encoder with a fitted head.
  func fitHead(_ info: inout StateInfo) throws {
    let start = Date()
    // Each example's features averaged over its windows: the classifier is linear, so the head
    // applied to them is the average of the windows' logits, what `evaluate` and the cache compute.
    func features(_ rows: [FineTuneExample]) -> [Float] {
      averagedOverWindows(rows, width: bert.config.hiddenSize, stop: shouldStop) { bert.classifierFeatures($0, training: false) } ?? []
    }
    log("fitting the classifier on the frozen encoder's \(bert.classifierPooling.rawValue)-pooled\(bert.normalizePooled ? ", normalised," : "") features of \(data.train.count) training examples")
    let trainX = features(data.train)
    let validX = features(data.validation)
    if shouldStop() {
      throw KDError(.io, "interrupted while fitting the head (nothing to save yet; run again to start over)")
    }
    let head = try LogisticRegression.fit(
      features: trainX, labels: data.train.map { Int32($0.label) }, classes: data.labels.count,
      validation: (validX, data.validation.map { Int32($0.label) }), strengths: LogisticRegression.defaultStrengths,
      labelNames: data.labels, balanced: options.classWeights == "balanced")
    bert.classifier.weight.value = head.weight
    bert.classifier.bias?.value = head.bias
    let val = evaluate(data.validation)
    let trainLoss = Double(head.fitSummary?.candidates.first { $0.strength == head.fitSummary?.strength }?.trainLoss ?? 0)
    let ep = FineTuneEpoch(epoch: 0, trainLoss: trainLoss, validationMacroF1: val.macroF1, validationAccuracy: val.accuracy,
                           trainSeconds: 0, seconds: Date().timeIntervalSince(start))
    info.history.append(ep)
    log(String(format: "epoch 0 (fitted head, frozen encoder, strength %g): validation macro-F1 %.4f, accuracy %.4f (%.0f s)",
               Double(head.fitSummary?.strength ?? 0), ep.validationMacroF1, ep.validationAccuracy, ep.seconds))
    let file = "best-e0.safetensors"
    try SafetensorsWriter.write(bert.parameters.map { SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, values: $0.value) },
                                metadata: ["epoch": "0"], to: (stateDirectory as NSString).appendingPathComponent(file))
    info.bestFile = file
    info.bestF1 = val.macroF1
    info.bestEpoch = 0
    try saveState(info)
  }

  /// Metrics of the current weights on `examples` (no dropout), each scored by the average of its
  /// windows' logits, as kd-teacher-cache scores a long text.
  public func evaluate(_ examples: [FineTuneExample]) -> ClassificationMetrics {
    let C = data.labels.count
    let logits = averagedOverWindows(examples, width: C) { bert.forward($0, training: false) } ?? []
    var acc = MetricsAccumulator(numClasses: C)
    for (r, e) in examples.enumerated() {
      let p = classSoftmax(logits[(r * C)..<((r + 1) * C)])
      acc.add(probabilities: p[...], label: e.label, teacherClass: nil)
      acc.addLoss(-Foundation.log(max(p[e.label], 1e-12)), count: 1)
    }
    return acc.result()
  }

  /// `[examples × width]`: each example's `run` outputs (`width` per window) averaged over its
  /// windows. Windows of similar length run together in batches of 32 (fewer wasted cycles).
  /// Nil when `stop` ended it early.
  func averagedOverWindows(_ examples: [FineTuneExample], width: Int, stop: () -> Bool = { false },
                           run: ([[Int32]]) -> [Float]) -> [Float]? {
    var items: [(example: Int, window: Int)] = []
    for (r, e) in examples.enumerated() { for w in e.windows.indices { items.append((r, w)) } }
    items.sort { examples[$0.example].windows[$0.window].count < examples[$1.example].windows[$1.window].count }
    var out = [Float](repeating: 0, count: examples.count * width)
    var i = 0
    while i < items.count {
      if stop() { return nil }
      let chunk = items[i..<min(items.count, i + 32)]
      let y = run(chunk.map { examples[$0.example].windows[$0.window] })
      for (k, item) in chunk.enumerated() {
        let n = Float(examples[item.example].windows.count)
        for j in 0..<width { out[item.example * width + j] += y[k * width + j] / n }
      }
      i += chunk.count
    }
    return out
  }

  /// The mean weighted cross-entropy of the training set under the current weights (no dropout).
  public func trainingLoss() -> Double {
    let C = data.labels.count
    var sum = 0.0, wsum = 0.0
    var i = 0
    while i < data.train.count {
      let chunk = Array(data.train[i..<min(data.train.count, i + 32)])
      let logits = bert.forward(chunk.map(\.ids), training: false)
      for (k, e) in chunk.enumerated() {
        let p = classSoftmax(logits[(k * C)..<((k + 1) * C)])
        let w = Double(classWeights[e.label])
        sum -= w * Foundation.log(Double(max(p[e.label], 1e-12)))
        wsum += w
      }
      i += chunk.count
    }
    return wsum > 0 ? sum / wsum : 0
  }

  // MARK: State

  func saveState(_ info: StateInfo) throws {
    var tensors: [SafetensorsWriter.Tensor] = bert.parameters.map { .init(name: "p." + $0.name, shape: $0.shape, values: $0.value) }
    for (gi, g) in groups.enumerated() {
      for (n, s, v) in g.optimizer.stateTensors() { tensors.append(.init(name: "o\(gi)." + n, shape: s, values: v)) }
    }
    let json = String(decoding: try JSONEncoder().encode(info), as: UTF8.self)
    // SafetensorsWriter writes to a temporary file and renames it: a kill leaves the old or the new state.
    try SafetensorsWriter.write(tensors, metadata: ["kd-finetune-state": json], to: statePath)
  }

  func loadState(expecting fp: String) throws -> StateInfo {
    let f = try SafetensorsFile(path: statePath)
    guard let json = f.metadata["kd-finetune-state"],
      let info = try? JSONDecoder().decode(StateInfo.self, from: Data(json.utf8))
    else { throw KDError(.input, "not a fine-tuning state (pass --restart to start over)", file: statePath) }
    guard info.fingerprint == fp else {
      throw KDError(.input, "the saved state was made with other options or other training data (pass --restart to start over)",
                    file: statePath, field: "fingerprint")
    }
    try bert.load(from: { name in f.tensors["p." + name] == nil ? nil : try f.floats("p." + name) }, source: statePath)
    for (gi, g) in groups.enumerated() {
      var named: [String: (shape: [Int], values: [Float])] = [:]
      let prefix = "o\(gi)."
      for (name, t) in f.tensors where name.hasPrefix(prefix) {
        named[String(name.dropFirst(prefix.count))] = (t.shape, try f.floats(name))
      }
      try g.optimizer.restore(from: named, file: statePath)
    }
    return info
  }
}

@inline(__always)
func classSoftmax(_ x: ArraySlice<Float>) -> [Float] {
  let m = x.max() ?? 0
  var e = x.map { Foundation.exp($0 - m) }
  let s = e.reduce(0, +)
  for i in e.indices { e[i] /= s }
  return e
}
