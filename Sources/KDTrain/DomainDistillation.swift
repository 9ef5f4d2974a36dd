import Foundation
import KDCore
import KDModels
import KDNN
import KDStore
import KDTokenizers

/// Settings of `kd-train encoder`: task-agnostic distillation of a small BERT encoder from a
/// teacher over a domain's text (TinyBERT general distillation, MiniLM / MiniLMv2). docs/train.md.
public struct DomainDistillationOptions: Sendable, Codable, Equatable {
  /// Domains whose text is used (empty: every domain of `task`).
  public var domains: [String] = []
  /// Only this task's examples (labeled or not); nil: every example of `domains`, of any task or none.
  public var task: String?
  /// Student layers (at most the teacher's with `--init teacher`).
  public var layers = 3
  /// nil: the teacher's with `--init teacher`, else 256.
  public var hiddenSize: Int?
  /// nil: the teacher's with `--init teacher`, else 4.
  public var heads: Int?
  /// nil: the teacher's with `--init teacher`, else 4 × hidden.
  public var intermediateSize: Int?
  /// `teacher` (embeddings and teacher layers `layerMap`, DistilBERT-style) or `random` (seeded).
  public var initialization = "teacher"
  /// Teacher layer per student layer, 0-based (nil: evenly spread ending at the last layer, e.g. 1,3,5 of 6).
  /// Used for the initialisation and the hidden-state loss.
  public var layerMap: [Int]?
  public var seed: UInt64 = 1
  /// Token sequences are cut to this length (specials included).
  public var maxTokens = 128
  public var batchSize = 32
  /// Peak learning rate (AdamW, linear warmup then linear decay).
  public var learningRate: Float = 1e-4
  /// Most epochs over the text (early stopping on the validation loss may end sooner).
  public var epochs = 3
  /// Stop after this many optimizer steps (0: no limit).
  public var maxSteps = 0
  public var warmup: Double = 0.05
  public var weightDecay: Float = 0.01
  /// Global gradient-norm clip (0: off).
  public var clip: Float = 1
  /// Hidden dropout of the student while it trains.
  public var dropout: Float = 0
  /// Weight of the last-layer self-attention KL (MiniLM; Q-Q and K-K relations when head counts differ).
  public var attentionLoss: Float = 1
  /// Weight of the last-layer value-relation KL (MiniLMv2).
  public var valueLoss: Float = 1
  /// Weight of the hidden-state MSE through learned projections (TinyBERT).
  public var hiddenLoss: Float = 1
  /// Relation heads (nil: the largest count up to the teacher's heads dividing both widths).
  public var relationHeads: Int?
  /// Epochs without a lower validation loss before stopping (0: never).
  public var patience = 2
  /// Validation examples the validation loss is measured on (0: none; a seeded-order prefix of the split).
  public var validationExamples = 2000
  /// Save a resumable state every N steps besides epoch ends (0: epoch ends only).
  public var checkpointEvery = 500
  /// Worker threads (0: all cores).
  public var threads = 0

  public init() {}

  /// Checks ranges; throws `KDError(.usage)` naming the flag.
  public func validate() throws {
    func bad(_ f: String, _ m: String) -> KDError { KDError(.usage, m, field: f) }
    guard !domains.isEmpty || task != nil else { throw bad("--domain", "give --domain NAME and/or --task NAME: the text to distil on") }
    guard ["teacher", "random"].contains(initialization) else { throw bad("--init", "--init must be teacher or random (got '\(initialization)')") }
    guard layers > 0 else { throw bad("--layers", "the encoder needs at least 1 layer") }
    if let m = layerMap {
      guard m.count == layers else { throw bad("--layer-map", "--layer-map has \(m.count) entries for \(layers) layers") }
      guard m.allSatisfy({ $0 >= 0 }) else { throw bad("--layer-map", "--layer-map takes 0-based teacher layers") }
    }
    if let h = hiddenSize, h <= 0 { throw bad("--hidden-size", "the hidden size must be positive") }
    if let h = heads, h <= 0 { throw bad("--heads", "heads must be positive") }
    if let i = intermediateSize, i <= 0 { throw bad("--intermediate-size", "the intermediate size must be positive") }
    guard maxTokens >= 3 else { throw bad("--max-tokens", "max tokens must be at least 3") }
    guard batchSize > 0 else { throw bad("--batch-size", "the batch size must be positive") }
    guard learningRate > 0, learningRate.isFinite else { throw bad("--lr", "the learning rate must be positive") }
    guard epochs > 0 else { throw bad("--epochs", "epochs must be at least 1") }
    guard maxSteps >= 0 else { throw bad("--steps", "must be 0 or more") }
    guard warmup >= 0, warmup < 1 else { throw bad("--warmup", "warmup must be in [0, 1)") }
    guard dropout >= 0, dropout < 1 else { throw bad("--dropout", "dropout must be in [0, 1)") }
    for (f, w) in [("--attention-loss", attentionLoss), ("--value-loss", valueLoss), ("--hidden-loss", hiddenLoss)] {
      guard w >= 0, w.isFinite else { throw bad(f, "loss weights must be 0 or more") }
    }
    guard attentionLoss + valueLoss + hiddenLoss > 0 else {
      throw bad("--attention-loss", "every loss weight is 0: give --attention-loss, --value-loss or --hidden-loss a positive weight")
    }
    if let r = relationHeads, r <= 0 { throw bad("--relation-heads", "relation heads must be positive") }
    guard patience >= 0 else { throw bad("--patience", "patience must be 0 or more") }
    guard validationExamples >= 0 else { throw bad("--validation-examples", "must be 0 or more") }
    guard checkpointEvery >= 0 else { throw bad("--checkpoint-every", "must be 0 or more") }
    guard threads >= 0 else { throw bad("--threads", "must be 0 or more") }
  }
}

/// One finished epoch of a domain distillation.
public struct DomainDistillationEpoch: Sendable, Codable, Equatable {
  public var epoch: Int
  public var steps: Int
  /// Mean weighted loss of the epoch's training steps.
  public var trainLoss: Double
  /// The validation losses (nil without validation text).
  public var validation: IntermediateLosses?
  public var seconds: Double
}

/// Where a run stands (after every step).
public struct DomainDistillationProgress: Sendable {
  public var epoch: Int
  public var epochs: Int
  public var globalStep: Int
  public var totalSteps: Int
  public var loss: Double
  public var examplesPerSecond: Double
}

/// The outcome of `kd-train encoder` (`--json`).
public struct DomainDistillationResult: Sendable, Encodable {
  public var teacher: String
  public var domains: [String]
  public var task: String?
  public var student: TrainableBertConfig
  public var initialization: String
  public var layerMap: [Int]
  public var relationHeads: Int
  public var attentionAsRelations: Bool
  public var parameters: Int
  public var trainExamples: Int
  public var validationExamples: Int
  public var epochs: [DomainDistillationEpoch]
  public var steps: Int
  /// The epoch whose weights were kept (lowest validation loss; the last one without validation).
  public var bestEpoch: Int
  public var bestValidationLoss: Double?
  public var stoppedEarly: Bool
  public var resumedFromStep: Int?
  public var examplesPerSecond: Double
  public var seconds: Double
  public var options: DomainDistillationOptions
  /// The written folder (set by the command).
  public var out: String?
}

/// Distils a small BERT encoder from a teacher over a domain's text, task-agnostically: the student
/// learns the teacher's last-layer self-attention distributions and value relations (MiniLM /
/// MiniLMv2) and/or its hidden states through learned projections (TinyBERT), all computed online by
/// `IntermediateDistillation` with the teacher in the same process.
///
/// The text comes through the `StreamingLoader` (every example of the domains, labeled or not,
/// tokenized with the teacher's tokenizer, train split; the validation split gives the validation
/// loss that selects the epoch and stops early). Resumable like every kd training run: the state
/// (weights, AdamW moments, loader position) is saved atomically under `stateDirectory/state` every
/// `checkpointEvery` steps and at epoch ends, the best epoch under `stateDirectory/best`.
///
/// For example:
/// ```swift
/// var o = DomainDistillationOptions(); o.domains = ["medical"]
/// let d = try DomainDistiller(database: "data.sqlite", teacherDirectory: "models/all-MiniLM-L6-v2", options: o,
///                             stateDirectory: "enc.kd-state")
/// let result = try d.run()          // d.student holds the selected weights
/// ```
public final class DomainDistiller {
  public let database: String
  public let teacherDirectory: String
  public let options: DomainDistillationOptions
  public let stateDirectory: String
  public let student: TrainableBert
  public let distillation: IntermediateDistillation
  public let layerMap: [Int]
  /// The teacher's tokenizer file (tokenizer.json or vocab.txt).
  public let tokenizerPath: String
  public let trainExamples: Int
  public let validationExamples: Int
  public var log: (String) -> Void = { _ in }
  public var progress: (DomainDistillationProgress) -> Void = { _ in }
  public var shouldStop: () -> Bool = { false }
  /// Test hook: called after each optimizer step with the global step.
  public var afterStep: (Int) -> Void = { _ in }
  /// Where metrics go (model `encoder`), with the run id.
  public var resultStore: Store?
  public var runID: Int64?

  let train: StreamingLoader
  let validation: StreamingLoader?
  let optimizer: AdamW

  /// Resolves the text, builds the student and the online teacher.
  /// - Throws: `KDError(.usage)` naming the flag or file for a teacher folder without config or
  ///   tokenizer, a student that does not fit the teacher with `--init teacher`, or a selection
  ///   without text; `KDError(.input)` when the text is not tokenized with the teacher's tokenizer.
  public init(database: String, teacherDirectory: String, options: DomainDistillationOptions, stateDirectory: String) throws {
    try options.validate()
    self.database = database
    self.teacherDirectory = teacherDirectory
    self.options = options
    self.stateDirectory = stateDirectory
    let fm = FileManager.default
    let configPath = (teacherDirectory as NSString).appendingPathComponent("config.json")
    guard fm.fileExists(atPath: configPath) else {
      throw KDError(.usage, "no Hugging Face BERT folder (config.json missing; run `make models` for the default)",
                    file: configPath, field: "--teacher")
    }
    let t = try BertConfig.load(path: configPath)
    guard let tok = ["tokenizer.json", "vocab.txt"].map({ (teacherDirectory as NSString).appendingPathComponent($0) })
      .first(where: { fm.fileExists(atPath: $0) })
    else {
      throw KDError(.usage, "the teacher folder has no tokenizer.json or vocab.txt (the encoder is trained on, and ships, the teacher's tokenizer)",
                    file: teacherDirectory, field: "--teacher")
    }
    tokenizerPath = tok
    let tokenizer = try Tokenizer.load(path: tok)
    guard tokenizer.vocabularySize <= t.vocabSize else {
      throw KDError(.usage, "the tokenizer has \(tokenizer.vocabularySize) tokens, the model's vocabulary \(t.vocabSize)", file: tok, field: "--teacher")
    }

    // The student's shape.
    let isTeacherInit = options.initialization == "teacher"
    if isTeacherInit {
      func misfit(_ flag: String, _ why: String) -> KDError {
        KDError(.usage, "--init teacher copies teacher layers: \(why) (use --init random for another shape)", file: configPath, field: flag)
      }
      if let h = options.hiddenSize, h != t.hiddenSize {
        throw misfit("--hidden-size", "hidden size \(h) differs from the teacher's \(t.hiddenSize)\(h > t.hiddenSize ? " (wider than the teacher)" : "")")
      }
      if let h = options.heads, h != t.numAttentionHeads { throw misfit("--heads", "\(h) heads differ from the teacher's \(t.numAttentionHeads)") }
      if let i = options.intermediateSize, i != t.intermediateSize {
        throw misfit("--intermediate-size", "intermediate size \(i) differs from the teacher's \(t.intermediateSize)")
      }
      guard options.layers <= t.numHiddenLayers else {
        throw misfit("--layers", "\(options.layers) layers, more than the teacher's \(t.numHiddenLayers)")
      }
    } else if options.layerMap != nil && options.hiddenLoss == 0 {
      throw KDError(.usage, "--layer-map needs --init teacher or --hidden-loss", field: "--layer-map")
    }
    guard options.maxTokens <= t.maxPositionEmbeddings else {
      throw KDError(.usage, "max tokens \(options.maxTokens) exceeds the teacher's \(t.maxPositionEmbeddings) positions", file: configPath,
                    field: "--max-tokens")
    }
    let map = options.layerMap ?? TransformerStudent.defaultLayerMap(studentLayers: options.layers, teacherLayers: t.numHiddenLayers)
    for l in map where l >= t.numHiddenLayers {
      throw KDError(.usage, "layer \(l) is outside the teacher's 0..<\(t.numHiddenLayers)", file: configPath, field: "--layer-map")
    }
    layerMap = map
    let hidden = options.hiddenSize ?? (isTeacherInit ? t.hiddenSize : 256)
    let c = TrainableBertConfig(
      layers: options.layers, hiddenSize: hidden, heads: options.heads ?? (isTeacherInit ? t.numAttentionHeads : 4),
      intermediateSize: options.intermediateSize ?? (isTeacherInit ? t.intermediateSize : 4 * hidden),
      // A teacher-initialised encoder keeps the teacher's whole position table (rows past --max-tokens stay the teacher's).
      maxTokens: isTeacherInit ? t.maxPositionEmbeddings : options.maxTokens, vocabSize: t.vocabSize,
      typeVocabSize: max(1, t.typeVocabSize), layerNormEps: t.layerNormEps, padTokenId: t.padTokenId, numClasses: 2,
      dropout: options.dropout)
    useWorkerThreads(options.threads)
    student = isTeacherInit
      ? try TrainableBert.fromTeacher(directory: teacherDirectory, config: c, layerMap: map, seed: options.seed)
      : try TrainableBert(config: c, seed: options.seed)
    distillation = try IntermediateDistillation(
      studentConfig: student.config, teacherDirectory: teacherDirectory, layerMap: map, hiddenWeight: options.hiddenLoss,
      attentionWeight: options.attentionLoss, valueWeight: options.valueLoss, relationHeads: options.relationHeads, seed: options.seed)
    if distillation.attentionAsRelations { student.layers.last?.attention.keepProjections = true }

    // The text.
    guard fm.fileExists(atPath: database) else { throw KDError(.io, "no such database", file: database, field: "--db") }
    let store = try Store.open(path: database, readOnly: true)
    var taskID: Int64?
    if let name = options.task {
      guard let task = try store.task(named: name) else {
        let known = try store.tasks().map(\.name)
        throw KDError(.usage, "no task '\(name)' (tasks: \(known.isEmpty ? "none" : known.joined(separator: ", ")))", file: database,
                      field: "--task")
      }
      taskID = task.id
    }
    let tokenizerID = try store.tokenizerID(contentHash: tokenizer.contentHash)
    let selection = (options.domains.isEmpty ? "" : "domain \(options.domains.joined(separator: "+"))")
      + (options.domains.isEmpty || options.task == nil ? "" : ", ") + (options.task.map { "task \($0)" } ?? "")
    let trainCounts = try store.domainTextCounts(domains: options.domains, taskID: taskID, split: .train, tokenizerID: tokenizerID)
    guard trainCounts.examples > 0 else {
      let domains = try store.exampleDomains()
      throw KDError(.usage, "no training text for \(selection) (domains in the store: \(domains.isEmpty ? "none" : domains.joined(separator: ", ")))",
                    file: database, field: options.domains.isEmpty ? "--task" : "--domain")
    }
    guard let tokenizerID, trainCounts.tokenized > 0 else {
      throw KDError(.input, "the \(trainCounts.examples) training examples of \(selection) are not tokenized with the teacher's tokenizer \(tok); "
                      + "ingest with `kd-ingest --tokenizer \(tok)` (or cache the task with `kd-teacher-cache --retokenize`)",
                    file: database, field: "--teacher")
    }
    if trainCounts.tokenized < trainCounts.examples {
      log("note: \(trainCounts.examples - trainCounts.tokenized) of \(trainCounts.examples) training examples are not tokenized with the teacher's tokenizer and are left out")
    }
    trainExamples = trainCounts.tokenized
    let valCounts = try store.domainTextCounts(domains: options.domains, taskID: taskID, split: .validation, tokenizerID: tokenizerID)
    validationExamples = options.validationExamples == 0 ? 0 : min(options.validationExamples, valCounts.tokenized)

    func loader(_ split: Split, training: Bool) throws -> StreamingLoader {
      var o = LoaderOptions(numClasses: 1, vocabSize: t.vocabSize)
      o.batchSize = training ? options.batchSize : max(options.batchSize, 32)
      o.shuffle = training
      o.bucketing = true
      o.seed = options.seed
      o.keepAll = true
      o.useLabels = false
      o.useTeachers = false
      o.maxTokens = options.maxTokens
      o.keepsLastToken = true  // cut as Hugging Face tokenizers cut: the first max-1 ids and [SEP] (TokenCut)
      return try StreamingLoader(
        sources: [LoaderSource(path: database, query: Store.domainTextQuery(domains: options.domains, taskID: taskID, split: split,
                                                                            tokenizerID: tokenizerID), teachers: [])],
        options: o)
    }
    train = try loader(.train, training: true)
    validation = validationExamples > 0 ? try loader(.validation, training: false) : nil
    // Only what the losses reach: not the pooler, nor (without the hidden-state loss) the last layer's
    // parts above its attention, which would otherwise only be decayed.
    var skip: [Parameter] = student.pooler.parameters
    if options.hiddenLoss == 0, let last = student.layers.last {
      skip += last.attentionOutput.parameters + last.attentionNorm.parameters + last.intermediate.parameters
        + last.output.parameters + last.outputNorm.parameters
    }
    let frozen = Set(skip.map(\.name))
    optimizer = AdamW(parameters: student.encoderParameters.filter { !frozen.contains($0.name) } + distillation.parameters,
                      learningRate: options.learningRate, weightDecay: options.weightDecay)
  }

  public var stepsPerEpoch: Int { (trainExamples + options.batchSize - 1) / options.batchSize }
  var statePath: String { (stateDirectory as NSString).appendingPathComponent("state") }
  var bestPath: String { (stateDirectory as NSString).appendingPathComponent("best") }

  /// What a state records besides tensors.
  struct StateInfo: Codable {
    var fingerprint: String
    var position: LoaderPosition
    var step: Int
    var epochLossSum: Double
    var epochSteps: Int
    var history: [DomainDistillationEpoch]
    var bestEpoch: Int
    var bestLoss: Double?
    var badEpochs: Int
    var examplesSeen: Int
    var trainSeconds: Double
  }

  /// Options (less those that do not change the result), teacher, database and data that must match to resume.
  var fingerprint: String {
    var o = options
    o.checkpointEvery = 0
    o.threads = 0
    let enc = JSONEncoder()
    enc.outputFormatting = .sortedKeys
    var s = (try? enc.encode(o)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    let weights = (teacherDirectory as NSString).appendingPathComponent("model.safetensors")
    let size = ((try? FileManager.default.attributesOfItem(atPath: weights))?[.size] as? Int) ?? 0
    s += "|\(URL(fileURLWithPath: teacherDirectory).standardizedFileURL.path)|\(size)|\(database)|\(trainExamples)|\(validationExamples)"
    return StableHash.hex(StableHash.fnv1a64(s))
  }

  /// Trains (or resumes); returns the result and leaves the selected epoch's weights in `student`.
  /// - Throws: `KDError(.interrupted)` when `shouldStop` asked to stop (the state is saved first),
  ///   `KDError(.numeric)` on a non-finite loss.
  public func run(restart: Bool = false) throws -> DomainDistillationResult {
    let start = Date()
    let fm = FileManager.default
    try fm.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
    var info = StateInfo(fingerprint: fingerprint, position: LoaderPosition(epoch: 0, offset: 0, seed: options.seed), step: 0,
                         epochLossSum: 0, epochSteps: 0, history: [], bestEpoch: -1, bestLoss: nil, badEpochs: 0, examplesSeen: 0,
                         trainSeconds: 0)
    var resumed: Int?
    if restart {
      try? fm.removeItem(atPath: statePath)
      try? fm.removeItem(atPath: bestPath)
    } else if let saved = try loadState(expecting: info.fingerprint) {
      info = saved
      resumed = info.step
      log("encoder: resuming at epoch \(info.position.epoch + 1), batch \(info.position.offset) (step \(info.step)) from \(statePath)")
    }
    let perEpoch = max(1, stepsPerEpoch)
    let totalSteps = options.maxSteps > 0 ? min(options.maxSteps, options.epochs * perEpoch) : options.epochs * perEpoch
    let epochs = (totalSteps + perEpoch - 1) / perEpoch
    let schedule = LearningRateSchedule(peak: options.learningRate, warmupSteps: Int(Double(totalSteps) * options.warmup),
                                        totalSteps: totalSteps, decay: .linear)
    let params = optimizer.parameters
    var stoppedEarly = false
    var rateExamples = 0
    let rateStart = Date()
    log("encoder: \(student.config.layers) layers × \(student.config.hiddenSize) (\(student.config.heads) heads), "
          + "\(student.encoderParameters.reduce(0) { $0 + $1.count }) parameters, init \(options.initialization)"
          + (options.initialization == "teacher" ? " (teacher layers \(layerMap.map(String.init).joined(separator: ",")))" : "")
          + "; \(trainExamples) train examples, \(perEpoch) steps/epoch, up to \(epochs) epochs; losses: attention × \(options.attentionLoss)"
          + (distillation.attentionAsRelations ? " (Q-Q and K-K relations, heads differ)" : "")
          + ", value relation × \(options.valueLoss), hidden MSE × \(options.hiddenLoss); \(distillation.relationHeads) relation heads")
    while info.position.epoch < epochs && info.step < totalSteps {
      if options.patience > 0 && info.badEpochs >= options.patience { stoppedEarly = true; break }
      let epoch = info.position.epoch
      let stream = train.batches(from: info.position)
      defer { stream.cancel() }
      let epochStart = Date()
      while let batch = try stream.next() {
        if shouldStop() {
          info.trainSeconds += Date().timeIntervalSince(epochStart)
          try saveState(info)
          throw KDError(.interrupted, "interrupted at epoch \(epoch + 1), step \(info.step); the state is saved in \(statePath) and a rerun resumes")
        }
        let seqs = TransformerStudent.sequences(batch)
        for p in student.encoderParameters { p.zeroGrad() }
        _ = student.encode(seqs, training: true)
        let (losses, grads) = distillation.apply(student: student, sequences: seqs, training: true)
        let loss = losses.total
        guard loss.isFinite else {
          throw KDError(.numeric, "the distillation loss became \(loss) at epoch \(epoch + 1), step \(info.step + 1) (try a lower --lr)", field: "--lr")
        }
        student.backwardEncoder(nil, hiddenGradients: grads)
        if options.clip > 0 { _ = clipGradients(params, maxNorm: options.clip) }
        optimizer.learningRate = schedule.rate(at: info.step)
        optimizer.update()
        info.step += 1
        info.position.offset += 1
        info.epochLossSum += loss
        info.epochSteps += 1
        info.examplesSeen += batch.count
        rateExamples += batch.count
        progress(DomainDistillationProgress(
          epoch: epoch + 1, epochs: epochs, globalStep: info.step, totalSteps: totalSteps,
          loss: info.epochLossSum / Double(max(1, info.epochSteps)),
          examplesPerSecond: Double(rateExamples) / max(1e-6, Date().timeIntervalSince(rateStart))))
        if options.checkpointEvery > 0 && info.step % options.checkpointEvery == 0 {
          info.trainSeconds += Date().timeIntervalSince(epochStart)
          try saveState(info)
          info.trainSeconds -= Date().timeIntervalSince(epochStart)
        }
        afterStep(info.step)
        if info.step >= totalSteps { break }
      }
      stream.cancel()
      info.trainSeconds += Date().timeIntervalSince(epochStart)
      // Epoch end (or the step limit): validate, keep the best, save.
      let val = try validationLoss()
      let ep = DomainDistillationEpoch(epoch: epoch + 1, steps: info.epochSteps, trainLoss: info.epochLossSum / Double(max(1, info.epochSteps)),
                                       validation: val, seconds: Date().timeIntervalSince(epochStart))
      info.history.append(ep)
      log(String(format: "encoder: epoch %d/%d  train loss %.5f", ep.epoch, epochs, ep.trainLoss)
            + (val.map { String(format: "  validation loss %.5f (attention %.5f, value %.5f, hidden %.5f)", $0.total, $0.attention, $0.value, $0.hidden) } ?? "")
            + String(format: "  %.0f s", ep.seconds))
      try record(epoch: ep.epoch, step: info.step, split: "train", values: [("loss", ep.trainLoss)])
      if let val {
        try record(epoch: ep.epoch, step: info.step, split: "validation",
                   values: [("loss", val.total), ("attention_loss", val.attention), ("value_loss", val.value), ("hidden_loss", val.hidden)])
      }
      let value = val?.total
      // Without validation text every epoch is kept (the last one wins); else the lowest validation loss.
      let improves = value.map { v in info.bestLoss.map { v < $0 } ?? true } ?? true
      if improves {
        info.bestLoss = value
        info.bestEpoch = ep.epoch
        info.badEpochs = 0
        try CheckpointWriter.write(path: bestPath, files: ["model.safetensors": try weights(student.encoderParameters)])
      } else {
        info.badEpochs += 1
      }
      info.position = LoaderPosition(epoch: epoch + 1, offset: 0, seed: options.seed)
      info.epochLossSum = 0
      info.epochSteps = 0
      try saveState(info)
    }
    if options.patience > 0 && info.badEpochs >= options.patience && info.position.epoch < epochs { stoppedEarly = true }
    let best = (bestPath as NSString).appendingPathComponent("model.safetensors")
    guard fm.fileExists(atPath: best) else { throw KDError(.internalError, "no epoch finished", file: bestPath) }
    try load(path: best, into: student.encoderParameters)
    if let l = info.bestLoss { log(String(format: "encoder: selected epoch %d (validation loss %.5f)", info.bestEpoch, l)) }
    return DomainDistillationResult(
      teacher: teacherDirectory, domains: options.domains, task: options.task, student: student.config,
      initialization: options.initialization, layerMap: layerMap, relationHeads: distillation.relationHeads,
      attentionAsRelations: distillation.attentionAsRelations, parameters: student.encoderParameters.reduce(0) { $0 + $1.count },
      trainExamples: trainExamples, validationExamples: validationExamples, epochs: info.history, steps: info.step,
      bestEpoch: info.bestEpoch, bestValidationLoss: info.bestLoss, stoppedEarly: stoppedEarly, resumedFromStep: resumed,
      examplesPerSecond: Double(info.examplesSeen) / max(1e-9, info.trainSeconds), seconds: Date().timeIntervalSince(start),
      options: options, out: nil)
  }

  /// The weighted losses of the current weights on the validation text (no dropout), nil without validation text.
  public func validationLoss() throws -> IntermediateLosses? {
    guard let validation else { return nil }
    var sum = IntermediateLosses()
    var n = 0
    let stream = validation.batches(from: LoaderPosition(epoch: 0, offset: 0, seed: options.seed))
    defer { stream.cancel() }
    while n < validationExamples, let batch = try stream.next() {
      let seqs = TransformerStudent.sequences(batch)
      _ = student.encode(seqs, training: false)
      let (l, _) = distillation.apply(student: student, sequences: seqs, training: false)
      let w = Double(batch.count)
      sum.hidden += l.hidden * w
      sum.attention += l.attention * w
      sum.value += l.value * w
      n += batch.count
    }
    guard n > 0 else { return nil }
    sum.hidden /= Double(n)
    sum.attention /= Double(n)
    sum.value /= Double(n)
    return sum
  }

  /// The weighted loss of the current weights on the first `examples` training examples (no dropout; tests).
  public func trainingLoss(examples: Int) throws -> Double {
    var total = 0.0
    var n = 0
    for batch in try train.allBatches(epoch: 0) where n < examples {
      let seqs = TransformerStudent.sequences(batch)
      _ = student.encode(seqs, training: false)
      total += distillation.apply(student: student, sequences: seqs, training: false).0.total * Double(batch.count)
      n += batch.count
    }
    return n > 0 ? total / Double(n) : 0
  }

  // MARK: State

  func weights(_ params: [Parameter]) throws -> Data {
    try SafeTensorsF32.encode(params.map { ($0.name, $0.shape, $0.value) })
  }

  func load(path: String, into params: [Parameter]) throws {
    let t = try SafeTensorsF32.read(path: path)
    for p in params {
      guard let v = t[p.name], v.values.count == p.count else {
        throw KDError(.input, "the saved state lacks \(p.name) or has another shape (pass --restart)", file: path, field: p.name)
      }
      p.value = v.values
    }
  }

  func saveState(_ info: StateInfo) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try CheckpointWriter.write(path: statePath, files: [
      "model.safetensors": try weights(student.encoderParameters + distillation.parameters),
      "optimizer.safetensors": try SafeTensorsF32.encode(optimizer.stateTensors().map { ($0.0, $0.1, $0.2) }),
      "encoder_state.json": try enc.encode(info),
    ])
  }

  /// The saved state when it belongs to this configuration; nil when there is none.
  /// - Throws: `KDError(.input)` for a state of other options or data (pass `--restart`).
  func loadState(expecting fp: String) throws -> StateInfo? {
    let path = (statePath as NSString).appendingPathComponent("encoder_state.json")
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    guard let info = try? JSONDecoder().decode(StateInfo.self, from: data) else {
      throw KDError(.input, "not an encoder distillation state (pass --restart to start over)", file: path)
    }
    guard info.fingerprint == fp else {
      throw KDError(.input, "the saved state was made with other options, teacher or text (pass --restart to start over)",
                    file: path, field: "fingerprint")
    }
    try load(path: (statePath as NSString).appendingPathComponent("model.safetensors"), into: student.encoderParameters + distillation.parameters)
    let opt = (statePath as NSString).appendingPathComponent("optimizer.safetensors")
    try optimizer.restore(from: try SafeTensorsF32.read(path: opt), file: opt)
    return info
  }

  func record(epoch: Int, step: Int, split: String, values: [(String, Double)]) throws {
    guard let store = resultStore, let runID else { return }
    try store.insertMetrics(runID: runID, model: "encoder", epoch: epoch, step: step, split: split,
                            values: values.map { (name: $0.0, value: $0.1) })
  }
}
