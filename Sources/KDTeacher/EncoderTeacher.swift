import Foundation
import KDCore
import KDModels
import KDStore
import KDTensor
import KDTokenizers

/// A native teacher: a BERT-family checkpoint run on CPU (`BertEncoder`),
/// with either its own classification head or a head fitted on its pooled
/// embeddings from the task's labeled training examples.
///
/// Length limit: `maxTokens` is the sentence-transformers `max_seq_length`
/// (`sentence_bert_config.json`, 256 for all-MiniLM-L6-v2) when present, else
/// the model's position limit (512 for BERT); never the `tokenizer.json`
/// truncation (128 in MiniLM's file). Longer examples are windowed by
/// `TeacherCache` and their outputs averaged, never truncated.
public final class EncoderTeacher: TeacherBackend {
  public let encoder: BertEncoder
  public let directory: String
  public let tokenizerInfo: TeacherTokenizerInfo?
  public let maxTokens: Int?
  /// The checkpoint's own classifier as loaded (before any label mapping).
  public let ownHead: LinearHead?
  /// What the own head reads: the checkpoint's pooler, or the pooled embedding (a sentence-transformers Dense head).
  let ownHeadInput: ClassifierInput
  /// Tokenizes text with the teacher's tokenizer (specials, no truncation or padding); nil = unavailable.
  public var tokenizer: ((String) throws -> [Int32])?
  /// When set, fitted heads are also saved as `<dir>/<task>/head.safetensors` + `head.json`.
  public var saveHeadDirectory: String?
  /// L2 strengths tried when fitting a head (when `HeadOptions.strengths` is empty).
  public static let defaultStrengths = LogisticRegression.defaultStrengths
  /// Pooled embeddings computed while fitting a head, by example id: a fitted
  /// head is linear in the embedding, so their logits need no second forward pass.
  var fittedEmbeddings: [Int64: [Float]] = [:]
  /// At most this many embeddings are kept from fitting (1.5 KB each at 384 dimensions).
  static let fittedEmbeddingLimit = 200_000

  /// Loads a checkpoint directory (`config.json`, `model.safetensors`, `tokenizer.json` or `vocab.txt`).
  /// - Parameters:
  ///   - threads: worker threads of the encoder.
  ///   - maxTokens: overrides the length limit (capped at the model's positions).
  ///   - matmul: how dense layers multiply (default: AMX bf16x3 where available, else fp32).
  /// - Throws: `KDError(.io)` when the directory or its tokenizer is missing; `KDError(.usage)` for an AMX
  ///   mode on a CPU without AMX; the encoder's errors otherwise.
  public static func load(directory: String, threads: Int, maxTokens: Int? = nil,
                          matmul: MatmulPrecision = .automatic) throws -> EncoderTeacher {
    guard matmul.isAvailable else {
      throw KDError(.usage, "\(matmul.rawValue) needs a CPU with AMX-BF16 (Sapphire Rapids or later) and Linux 5.16+; use --matmul fp32", field: "--matmul")
    }
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
      throw KDError(
        .io, "teacher directory not found (run `make models` for the default all-MiniLM-L6-v2, or pass --teacher DIR or --teacher-cmd)",
        file: directory)
    }
    let encoder = try BertEncoder.load(directory: directory, threads: threads)
    encoder.matmul = matmul
    let tokPath = encoder.tokenizerPath
      ?? (FileManager.default.fileExists(atPath: directory + "/vocab.txt") ? directory + "/vocab.txt" : nil)
    guard let tokPath, let bytes = FileManager.default.contents(atPath: tokPath) else {
      throw KDError(.io, "no tokenizer.json or vocab.txt beside the checkpoint", file: directory)
    }
    let tokenizer = try Tokenizer.load(path: tokPath)
    let info = TeacherTokenizerInfo(
      name: URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent + "/" + (tokPath as NSString).lastPathComponent,
      contentHash: tokenizer.contentHash, vocabularySize: tokenizer.vocabularySize, fileBytes: Array(bytes))
    var limit = encoder.maxPositions
    if let data = FileManager.default.contents(atPath: directory + "/sentence_bert_config.json"),
      let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let m = obj["max_seq_length"] as? Int, m > 2
    {
      limit = min(limit, m)
    }
    if let maxTokens {
      guard maxTokens >= 3 else { throw KDError(.usage, "--max-tokens must be at least 3", field: "--max-tokens") }
      limit = min(encoder.maxPositions, maxTokens)
    }
    let teacher = EncoderTeacher(encoder: encoder, directory: directory, tokenizerInfo: info, maxTokens: limit)
    // As kd-ingest stores ids: special tokens, no truncation, no padding.
    teacher.tokenizer = { tokenizer.encode($0, addSpecialTokens: true, truncation: nil, padding: nil).ids }
    return teacher
  }

  init(encoder: BertEncoder, directory: String, tokenizerInfo: TeacherTokenizerInfo?, maxTokens: Int?) {
    self.encoder = encoder
    self.directory = directory
    self.tokenizerInfo = tokenizerInfo
    self.maxTokens = maxTokens
    self.ownHead = encoder.classifier
    self.ownHeadInput = encoder.classifierInput
  }

  public var defaultName: String {
    let url = URL(fileURLWithPath: directory).standardizedFileURL
    return url.lastPathComponent
  }

  var configJSON: String {
    let c = encoder.config
    return jsonText([
      "directory": URL(fileURLWithPath: directory).standardizedFileURL.path, "model_type": c.modelType,
      "family": encoder.family.rawValue, "hidden_size": c.hiddenSize, "layers": c.numHiddenLayers,
      "heads": c.numAttentionHeads, "intermediate_size": c.intermediateSize, "vocab_size": c.vocabSize,
      "max_positions": encoder.maxPositions, "max_tokens": maxTokens ?? encoder.maxPositions,
      "pooling": encoder.pooling.rawValue, "normalize_embeddings": encoder.normalizeEmbeddings,
      "dtype": encoder.storedDType.rawValue, "matmul": encoder.effectiveMatmul.rawValue, "long_examples": "windows of max_tokens, 25% overlap, logits averaged",
    ] as [String: Any])
  }

  // MARK: Heads

  public func prepare(task: TaskRecord, context: TeacherPreparationContext) throws -> TeacherDescription {
    fittedEmbeddings = [:]
    let head: (json: String, blob: [UInt8]?)
    if let own = ownHead, !context.headOptions.forceFit {
      let mapped: LinearHead
      do { mapped = try own.mapped(onto: task.labels) } catch let e as KDError {
        throw KDError(
          .model, "the checkpoint's own head does not fit task '\(task.name)': \(e.message). Pass --fit-head to fit a head on its embeddings instead",
          file: directory + "/config.json", field: "id2label")
      }
      if encoder.classifierInput != ownHeadInput { throw KDError(.internalError, "fitted head attached before own head") }
      try encoder.mapClassifierLabels(onto: task.labels)
      _ = mapped
      let input = ownHeadInput == .pooledEmbedding ? "pooled_embedding" : "checkpoint_pooler"
      head = (jsonText(["type": "own", "labels": own.labels, "input": input] as [String: Any]), nil)
    } else {
      head = try fittedHead(task: task, context: context)
    }
    guard let classes = encoder.classifier?.classes else { throw KDError(.internalError, "no head attached") }
    return TeacherDescription(
      kind: "bert", checkpointHash: encoder.checkpointHash, tokenizer: tokenizerInfo, configJSON: configJSON,
      headJSON: head.json, headBlob: head.blob, numOutputs: classes, embeddingDim: encoder.hiddenSize, maxTokens: maxTokens)
  }

  /// Fits (or reuses) a logistic-regression head on pooled embeddings.
  func fittedHead(task: TaskRecord, context: TeacherPreparationContext) throws -> (json: String, blob: [UInt8]?) {
    let store = context.store
    let opts = context.headOptions
    if task.multiLabel {
      throw KDError(
        .unsupported, "task '\(task.name)' is multi-label; fitting a head supports single-label tasks only (use a checkpoint with its own head or --teacher-cmd)",
        field: "--task")
    }
    guard task.labels.count >= 2 else {
      throw KDError(.input, "task '\(task.name)' has \(task.labels.count) label; a head needs at least 2", field: "--task")
    }
    guard opts.labelFraction > 0, opts.labelFraction <= 1 else {
      throw KDError(.usage, "--label-fraction must be in (0, 1], got \(opts.labelFraction)", field: "--label-fraction")
    }
    let encoderHash = StableHash.hex(StableHash.fnv1a64(
      "\(encoder.checkpointHash)|\(tokenizerInfo?.contentHash ?? "")|\(encoder.pooling.rawValue)|\(encoder.normalizeEmbeddings)|\(maxTokens ?? 0)"))
    // An existing teacher keeps its head, so that all its outputs come from one
    // head even when labels were added since (refit with --replace or a new --name).
    if let existing = context.existingTeacher, existing.taskID == task.id, let blob = existing.headBlob,
      let json = existing.headJSON,
      let recorded = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any],
      recorded["encoder_hash"] as? String == encoderHash,
      recorded["label_fraction"] as? Double == opts.labelFraction,
      (recorded["balanced"] as? Bool ?? false) == opts.balanced,
      (recorded["label_seed"] as? Int).map({ UInt64(truncatingIfNeeded: $0) }) == opts.labelSeed
    {
      let head = try HeadBlob.decode(blob)
      guard head.labels == task.labels else {
        throw KDError(
          .input, "teacher '\(existing.name)' was fitted for labels \(head.labels), the task now has \(task.labels); pass --replace to refit",
          field: "--replace")
      }
      try encoder.attachFittedHead(head)
      adoptSavedEmbeddings(context: context, cacheKey: encoderHash)
      context.log("keeping the head of teacher \(existing.name) (fitted on \(recorded["train_examples"] ?? "?") labels; --replace refits)")
      return (json, blob)
    }
    let allTrain = try store.labeledExamples(taskID: task.id, split: .train)
    var train = allTrain.filter { opts.labelFraction >= 1 || LabelFraction.keeps(contentKey: $0.contentKey, fraction: opts.labelFraction, seed: opts.labelSeed) }
    guard !allTrain.isEmpty else {
      throw KDError(
        .input, "task '\(task.name)' has no labeled training examples to fit a head on (the checkpoint has no classification head)",
        file: store.path)
    }
    guard !train.isEmpty else {
      throw KDError(.input, "--label-fraction \(opts.labelFraction) keeps none of the \(allTrain.count) labeled training examples", field: "--label-fraction")
    }
    var validation = try store.labeledExamples(taskID: task.id, split: .validation)
    var validationSource = "validation split"
    if validation.isEmpty {
      // No validation split: hold out a deterministic fifth of the training labels.
      let held = train.filter { StableHash.unitInterval("holdout:\($0.contentKey)") < 0.2 }
      if !held.isEmpty && held.count < train.count {
        let heldIDs = Set(held.map(\.exampleID))
        validation = held
        train = train.filter { !heldIDs.contains($0.exampleID) }
        validationSource = "20% of the training labels (no validation split)"
      }
    }
    var strengths = opts.strengths.isEmpty ? Self.defaultStrengths : opts.strengths
    if validation.isEmpty {
      strengths = [strengths.sorted()[strengths.count / 2]]
      validationSource = "none (too few labels): fixed strength"
    }
    var key = "labels:" + task.labels.joined(separator: "\u{1F}") + (opts.balanced ? "|balanced" : "") + "|strengths:" + strengths.map { "\($0)" }.joined(separator: ",")
    for (tag, rows) in [("train", train), ("validation", validation)] {
      key += "|\(tag):"
      for r in rows { key += "\(StableHash.hex(r.contentKey))=\(r.classes.first ?? -1)," }
    }
    let labeledSetHash = StableHash.hex(StableHash.fnv1a64(key))
    if let recorded = try store.recordedFittedHead(encoderHash: encoderHash, labeledSetHash: labeledSetHash) {
      let head = try HeadBlob.decode(recorded.headBlob)
      guard head.labels == task.labels else { throw KDError(.model, "recorded head labels differ from the task's", field: "teachers.head_blob") }
      try encoder.attachFittedHead(head)
      adoptSavedEmbeddings(context: context, cacheKey: encoderHash)
      context.log("reusing the head fitted earlier for this encoder and these labels")
      return (recorded.headJSON, recorded.headBlob)
    }
    context.log("fitting a head for task \(task.name) on \(train.count) training and \(validation.count) validation embeddings")
    // Saved batch by batch under the encoder's identity: a kill during the fit loses at most one batch.
    let trainX = try context.pooledEmbeddings(of: train.map(\.exampleID), cacheKey: encoderHash)
    let trainY = train.map { Int32($0.classes.first ?? 0) }
    var valid: (features: [Float], labels: [Int32])?
    if !validation.isEmpty {
      valid = (try context.pooledEmbeddings(of: validation.map(\.exampleID), cacheKey: encoderHash),
               validation.map { Int32($0.classes.first ?? 0) })
    }
    let head = try LogisticRegression.fit(
      features: trainX, labels: trainY, classes: task.labels.count, validation: valid, strengths: strengths, labelNames: task.labels,
      balanced: opts.balanced)
    try encoder.attachFittedHead(head)
    let d = encoder.hiddenSize
    for (rows, x) in [(train, trainX), (validation, valid?.features ?? [])] where x.count == rows.count * d {
      for (i, r) in rows.enumerated() where fittedEmbeddings.count < Self.fittedEmbeddingLimit {
        fittedEmbeddings[r.exampleID] = Array(x[(i * d)..<((i + 1) * d)])
      }
    }
    if let dir = saveHeadDirectory {
      try head.save(directory: (dir as NSString).appendingPathComponent(task.name))
    }
    let fit = head.fitSummary
    let chosen = fit?.candidates.first { $0.strength == fit?.strength }
    var json: [String: Any] = [
      "type": "fitted", "input": "pooled_embedding", "model": "logistic_regression",
      "strength": Double(fit?.strength ?? strengths[0]), "criterion": fit?.criterion ?? "",
      "train_examples": train.count, "validation_examples": validation.count, "validation_source": validationSource,
      "label_fraction": opts.labelFraction, "label_seed": Int(truncatingIfNeeded: opts.labelSeed), "balanced": opts.balanced,
      "labeled_train_examples_total": allTrain.count,
      "encoder_hash": encoderHash, "labeled_set_hash": labeledSetHash,
      "candidates": (fit?.candidates ?? []).map { c -> [String: Any] in
        var o: [String: Any] = ["strength": Double(c.strength), "train_loss": c.trainLoss, "iterations": c.iterations, "converged": c.converged]
        if let f = c.validationMacroF1 { o["validation_macro_f1"] = f }
        if let l = c.validationLogLoss { o["validation_log_loss"] = l }
        return o
      },
    ]
    if let f = chosen?.validationMacroF1 { json["validation_macro_f1"] = f }
    if let l = chosen?.validationLogLoss { json["validation_log_loss"] = l }
    if let v = valid {
      let logits = head.logits(v.features, rows: v.labels.count)
      var correct = 0
      for (i, y) in v.labels.enumerated() {
        let row = logits[(i * head.classes)..<((i + 1) * head.classes)]
        if let best = row.indices.max(by: { row[$0] < row[$1] }), best - i * head.classes == Int(y) { correct += 1 }
      }
      json["validation_accuracy"] = Double(correct) / Double(v.labels.count)
    }
    return (jsonText(json), HeadBlob.encode(head))
  }


  /// Embeddings a killed run saved while fitting: the kept head turns them into outputs without a forward pass.
  func adoptSavedEmbeddings(context: TeacherPreparationContext, cacheKey: String) {
    for (id, e) in context.savedEmbeddings(cacheKey: cacheKey) where fittedEmbeddings.count < Self.fittedEmbeddingLimit {
      fittedEmbeddings[id] = e
    }
  }

  // MARK: Computing

  public func compute(_ batch: [TeacherInput], wantEmbeddings: Bool) throws -> [TeacherResult] {
    guard let head = encoder.classifier else { throw KDError(.internalError, "no head attached") }
    var results = [TeacherResult?](repeating: nil, count: batch.count)
    var missing: [Int] = []
    if encoder.classifierInput == .pooledEmbedding && !fittedEmbeddings.isEmpty {
      // Examples embedded while fitting: the head applied to their (window-averaged)
      // embedding equals the average of the windows' logits, so no forward pass is needed.
      for (i, b) in batch.enumerated() {
        if let e = fittedEmbeddings[b.exampleID] {
          results[i] = .output(logits: head.logits(e, rows: 1), embedding: wantEmbeddings ? e : nil)
        } else {
          missing.append(i)
        }
      }
    } else {
      missing = Array(batch.indices)
    }
    if !missing.isEmpty {
      let out = try forward(missing.map { batch[$0] })
      for (j, i) in missing.enumerated() {
        results[i] = .output(logits: Array(out.logits(j) ?? []), embedding: wantEmbeddings ? Array(out.embedding(j)) : nil)
      }
    }
    return results.map { $0 ?? .failed("internal: no result") }
  }

  public func embed(_ batch: [TeacherInput]) throws -> [[Float]] {
    let out = try forward(batch)
    return batch.indices.map { Array(out.embedding($0)) }
  }

  /// Runs the encoder; on a numeric or input failure, finds and names the example that caused it.
  func forward(_ batch: [TeacherInput]) throws -> EncoderOutput {
    var seqs: [[Int32]] = []
    seqs.reserveCapacity(batch.count)
    for b in batch {
      guard let ids = b.ids else { throw KDError(.internalError, "example \(b.exampleID) has no token ids") }
      seqs.append(ids)
    }
    do {
      return try encoder.forward(seqs)
    } catch let e as KDError where e.kind == .numeric || e.kind == .input {
      for (i, s) in seqs.enumerated() {
        do { _ = try encoder.forward([s]) } catch let one as KDError {
          throw KDError(one.kind, "example \(batch[i].exampleID): \(one.message)", file: one.file, field: "teacher output")
        }
      }
      throw e
    }
  }

  public func tokenize(_ text: String) throws -> [Int32] {
    guard let tokenizer else {
      throw KDError(.unsupported, "this build cannot tokenize with the teacher's tokenizer", field: "--retokenize")
    }
    return try tokenizer(text)
  }

  public func close() throws {}
}
