import Foundation
import KDCore
import KDStore
import KDTokenizers

/// How teacher logits are stored: chosen from the output count, or fixed.
public enum StorageChoice: Sendable, Equatable {
  /// `f32` dense for up to `TeacherCache.denseLimit` outputs, else top-k with k = `TeacherCache.defaultTopK`.
  case auto
  case fixed(TeacherStorage)
}

/// Options of one `kd-teacher-cache` run.
public struct TeacherCacheOptions: Sendable {
  /// Base teacher name (default: the backend's, e.g. the model directory's base name).
  public var name: String?
  /// Tasks to cache for; empty = the only task, or every task with labels.
  public var taskNames: [String] = []
  public var storage: StorageChoice = .auto
  /// Also cache pooled embeddings (f16), for representation distillation.
  public var storeEmbeddings = false
  /// Examples per teacher call (windows of long examples count separately).
  public var batchSize = 32
  /// Batches per committed transaction: a kill loses at most this much work.
  public var commitEvery = 8
  /// Tokenize examples that lack the teacher's tokenization with the teacher's tokenizer (and store it).
  public var retokenize = false
  /// Drop an existing teacher of the same name (and its outputs) when it differs from this one.
  public var replace = false
  /// Compute at most this many examples per task in this run.
  public var limit: Int?
  /// External teachers: batches in flight at once (1 = send one batch, wait for all its answers).
  public var window = 4
  public var head = HeadOptions()
  /// Compute only the examples of this shard (by a hash of their text); the others are skipped as `other_shard`.
  public var shard: ShardSpec?
  /// The store is one shard of a corpus: a `--task` with no examples here is skipped, not an error.
  public var skipAbsentTasks = false

  public init() {}
}

/// What one run did for one (teacher, task) pair: the `--json` summary.
public struct TeacherCacheSummary: Codable, Sendable, Equatable {
  public var teacher: String
  public var teacherID: Int64
  public var task: String
  public var kind: String
  public var head: String?
  public var storage: String
  public var topK: Int?
  public var numOutputs: Int
  public var embeddingDim: Int?
  /// Examples computed and stored by this run.
  public var cachedNow = 0
  /// Examples that already had an output (incremental reruns skip them).
  public var alreadyCached = 0
  /// Examples not computed, by reason (`duplicate`, `teacher_error`, `limit`, `interrupted`).
  public var skipped: [String: Int] = [:]
  /// The first few per-example failures, each naming the example.
  public var failures: [String] = []
  /// Examples longer than the teacher's limit, scored as averaged windows.
  public var windowed = 0
  /// Examples tokenized with the teacher's tokenizer by this run (untokenized ones, or all with `--retokenize`).
  public var tokenizedNow = 0
  public var seconds: Double = 0
  public var examplesPerSecond: Double = 0
  /// Mean stored bytes per cached example (logits + embedding), measured in the DB.
  public var bytesPerExample: Double = 0
  /// Bytes per example each storage mode takes for this output count (logits only).
  public var bytesPerExampleByStorage: [String: Int] = [:]
  /// Bytes per example of the f16 embedding, when cached.
  public var embeddingBytesPerExample: Int?
  /// The temperature fitted on the validation outputs (nil: too few labelled validation outputs; T = 1).
  public var calibration: TeacherCalibration?

  enum CodingKeys: String, CodingKey {
    case teacher, teacherID = "teacher_id", task, kind, head, storage, topK = "top_k", numOutputs = "num_outputs"
    case embeddingDim = "embedding_dim", cachedNow = "cached_now", alreadyCached = "already_cached", skipped, failures
    case windowed, tokenizedNow = "tokenized_now", seconds, examplesPerSecond = "examples_per_second", bytesPerExample = "bytes_per_example"
    case bytesPerExampleByStorage = "bytes_per_example_by_storage", embeddingBytesPerExample = "embedding_bytes_per_example"
    case calibration
  }
}

/// Fills `teacher_outputs` for the examples that lack them: incremental,
/// resumable after a kill (work is committed every `commitEvery` batches),
/// and safe to run from cron (the caller holds the `WriterLock`).
///
/// For example:
/// ```swift
/// let cache = TeacherCache(store: store, backend: try ExternalTeacher(command: "python3 t.py"), options: .init())
/// let summaries = try cache.run(runID: runID)
/// ```
public final class TeacherCache: TeacherPreparationContext {
  /// Output counts up to this are stored dense (`f32`) by `StorageChoice.auto`.
  public static let denseLimit = 256
  /// k of top-k storage chosen by `StorageChoice.auto` for larger output spaces.
  public static let defaultTopK = 32

  public let store: Store
  public let backend: TeacherBackend
  public let options: TeacherCacheOptions
  public var headOptions: HeadOptions { options.head }
  /// Called with (examples done, examples to do) while computing.
  public var progress: ((Int, Int) -> Void)?
  /// Log lines (stderr in the executable).
  public var logger: ((String) -> Void)?
  /// Checked between batches: when true, the current chunk is committed and the run stops.
  public var isInterrupted: () -> Bool = { false }
  /// Test hook: called after each committed chunk with the number of examples cached so far.
  public var afterCommit: ((Int) -> Void)?

  public private(set) var existingTeacher: TeacherRecord?
  var tokenizerID: Int64?
  private var maxTokens: Int?
  public internal(set) var interrupted = false
  /// Embedding files of this run's head fits: deleted once the task's outputs are all stored.
  var spills: [EmbeddingSpill] = []

  public init(store: Store, backend: TeacherBackend, options: TeacherCacheOptions) {
    self.store = store
    self.backend = backend
    self.options = options
  }

  public func log(_ message: String) { logger?(message) }

  /// The `matmul` entry of a teacher's config JSON, if any.
  static func matmulMode(_ configJSON: String?) -> String? {
    guard let data = configJSON?.data(using: .utf8),
          let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
    return obj["matmul"] as? String
  }

  // MARK: Tasks and names

  /// The tasks this run serves, and whether the teacher name is qualified by the task.
  ///
  /// With `--task` naming one task (or one task in the DB) the teacher is
  /// called `<name>`; when several tasks are cached in one run, `<name>/<task>`.
  /// - Throws: `KDError(.input)` when the DB has no tasks or a named task is missing.
  public func plannedTasks() throws -> [(task: TaskRecord, qualified: Bool)] {
    let all = try store.tasks()
    if all.isEmpty {
      let examples = try store.exampleCount()
      throw KDError(
        .input,
        examples == 0
          ? "the database has no examples and no tasks: run kd-ingest first"
          : "the database has no labeled task: a teacher predicts a task's labels, so ingest labeled data (or a task's label set) first",
        file: store.path)
    }
    if !options.taskNames.isEmpty && options.skipAbsentTasks {
      var out: [(task: TaskRecord, qualified: Bool)] = []
      for n in options.taskNames {
        guard let t = try store.task(named: n), try store.teacherCoverage(teacherID: nil, taskID: t.id).eligible > 0 else {
          log("task \(n) has no examples in this shard: nothing to cache for it")
          continue
        }
        out.append((t, options.taskNames.count > 1))
      }
      return out
    }
    if !options.taskNames.isEmpty {
      return try options.taskNames.map { n in
        guard let t = try store.task(named: n) else {
          throw KDError(.input, "no task named '\(n)' (tasks: \(all.map(\.name).joined(separator: ", ")))", field: "--task")
        }
        return (t, options.taskNames.count > 1)
      }
    }
    if all.count == 1 { return [(all[0], false)] }
    let labeled = all.filter { !$0.labels.isEmpty }
    guard !labeled.isEmpty else {
      throw KDError(.input, "no task has labels (tasks: \(all.map(\.name).joined(separator: ", ")))", file: store.path)
    }
    return labeled.map { ($0, true) }
  }

  /// The teacher name for a task: `--name` (or the teacher's default), qualified by the task when asked.
  func teacherName(task: TaskRecord, qualified: Bool) throws -> String {
    let base = options.name ?? backend.defaultName
    guard !base.isEmpty else { throw KDError(.usage, "the teacher name is empty", field: "--name") }
    return qualified ? "\(base)/\(task.name)" : base
  }

  // MARK: Running

  /// Caches outputs for every planned task. Records nothing about the run
  /// itself: the caller owns `runs` and the writer lock.
  /// - Returns: one summary per (teacher, task).
  public func run(runID: Int64?) throws -> [TeacherCacheSummary] {
    var out: [TeacherCacheSummary] = []
    for (task, qualified) in try plannedTasks() {
      if interrupted { break }
      out.append(try cache(task: task, qualified: qualified, runID: runID))
    }
    return out
  }

  /// Caches one task's outputs (teacher name: see `plannedTasks`).
  public func cache(task: TaskRecord, qualified: Bool = false, runID: Int64?) throws -> TeacherCacheSummary {
    let started = Date()
    guard !task.labels.isEmpty else {
      throw KDError(.input, "task '\(task.name)' has no labels: nothing for a teacher to predict", field: "--task")
    }
    // Examples first: a clear error before any model work.
    let coverage0 = try store.teacherCoverage(teacherID: nil, taskID: task.id)
    guard coverage0.eligible > 0 else {
      throw KDError(.input, "task '\(task.name)' has no examples: run kd-ingest first", file: store.path)
    }
    tokenizerID = nil
    maxTokens = backend.maxTokens
    var tokenizedNow = 0
    if let info = backend.tokenizerInfo {
      tokenizedNow += try ensureTokenized(task: task, info: info)
    }

    log("preparing the teacher for task \(task.name)")
    existingTeacher = options.replace ? nil : try store.teacher(named: try teacherName(task: task, qualified: qualified))
    defer { existingTeacher = nil }
    let desc = try backend.prepare(task: task, context: self)
    let name = try teacherName(task: task, qualified: qualified)
    maxTokens = desc.maxTokens
    if let info = desc.tokenizer, tokenizerID == nil {
      tokenizedNow += try ensureTokenized(task: task, info: info)
    }
    let teacher = try teacherRow(name: name, task: task, desc: desc, runID: runID)

    var summary = TeacherCacheSummary(
      teacher: teacher.name, teacherID: teacher.id, task: task.name, kind: teacher.kind,
      head: Self.headType(teacher.headJSON), storage: teacher.storage.name, topK: Self.topK(teacher.storage),
      numOutputs: teacher.numOutputs, embeddingDim: teacher.embeddingDim)
    let coverage = try store.teacherCoverage(teacherID: teacher.id, taskID: task.id)
    summary.alreadyCached = coverage.cached
    if coverage.duplicates > 0 { summary.skipped["duplicate"] = coverage.duplicates }

    summary.tokenizedNow = tokenizedNow
    var pending = try store.pendingTeacherExamples(teacherID: teacher.id, taskID: task.id, tokenizerID: tokenizerID)
    if tokenizerID != nil, let first = pending.first(where: { $0.tokenCount == nil }) {
      throw KDError(.internalError, "example \(first.exampleID) is still not tokenized with the teacher's tokenizer")
    }
    if let shard = options.shard {
      // Stable: an example's shard depends only on its text.
      var hashes: [Int64: UInt64] = [:]
      for e in try store.exampleTextHashes() { hashes[e.id] = e.hash }
      let before = pending.count
      pending = pending.filter { shard.containsText(hash: hashes[$0.exampleID] ?? 0) }
      if before > pending.count { summary.skipped["other_shard"] = before - pending.count }
    }
    if let limit = options.limit, pending.count > limit {
      summary.skipped["limit"] = pending.count - limit
      pending = Array(pending.prefix(max(0, limit)))
    }
    // Similar lengths in one batch: cost follows the longest sequence.
    pending.sort { ($0.tokenCount ?? 0, $0.exampleID) < ($1.tokenCount ?? 0, $1.exampleID) }
    if !pending.isEmpty {
      log("\(teacher.name): \(pending.count) examples to compute, \(coverage.cached) already cached")
    }
    try compute(pending.map(\.exampleID), teacher: teacher, runID: runID, summary: &summary)
    if !interrupted {
      summary.calibration = try calibrate(teacher: teacher, task: task)
      if try store.pendingTeacherExamples(teacherID: teacher.id, taskID: task.id, tokenizerID: tokenizerID).isEmpty {
        for s in spills { s.remove() }
        spills = []
      }
    }

    let sizes = try store.teacherOutputSizes(teacherID: teacher.id)
    summary.bytesPerExample = sizes.count > 0 ? sizes.logitsBytes + sizes.embeddingBytes : 0
    summary.bytesPerExampleByStorage = Self.bytesByStorage(numOutputs: teacher.numOutputs, topK: Self.topK(teacher.storage))
    summary.embeddingBytesPerExample = teacher.embeddingDim.map { 2 * $0 }
    summary.seconds = Date().timeIntervalSince(started)
    summary.examplesPerSecond = summary.seconds > 0 ? Double(summary.cachedNow) / summary.seconds : 0
    return summary
  }

  /// Bytes of the logits blob per example in each storage mode.
  public static func bytesByStorage(numOutputs: Int, topK: Int?) -> [String: Int] {
    let k = min(topK ?? defaultTopK, numOutputs)
    return ["f32": 4 * numOutputs, "f16": 2 * numOutputs,
            "topk": 2 * k + (k * TeacherOutputCodec.bitsPerIndex(numOutputs) + 7) / 8]
  }

  static func topK(_ s: TeacherStorage) -> Int? {
    if case .topK(let k) = s { return k }
    return nil
  }

  static func headType(_ json: String?) -> String? {
    guard let json, let o = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return nil }
    return o["type"] as? String
  }

  // MARK: Teacher rows

  /// Makes sure every example the teacher serves has token ids from its tokenizer.
  ///
  /// Examples without any tokenization are tokenized with the teacher's
  /// tokenizer (and stored); examples tokenized with another tokenizer are
  /// refused unless `retokenize` is set. Sets `tokenizerID`.
  /// - Returns: how many examples were tokenized.
  private func ensureTokenized(task: TaskRecord, info: TeacherTokenizerInfo) throws -> Int {
    tokenizerID = try store.tokenizerID(contentHash: info.contentHash)
    let lacking = try store.examplesLackingTokenization(taskID: task.id, tokenizerID: tokenizerID)
    guard !lacking.isEmpty else { return 0 }
    let other = lacking.filter(\.tokenizedOtherwise).count
    if other > 0 && !options.retokenize {
      throw try tokenizerMismatch(task: task, missing: other, info: info)
    }
    if tokenizerID == nil {
      tokenizerID = try store.transaction {
        try store.tokenizerID(name: info.name, contentHash: info.contentHash, vocabSize: info.vocabularySize, json: info.fileBytes)
      }
    }
    return try retokenize(lacking.map(\.exampleID))
  }

  private func tokenizerMismatch(task: TaskRecord, missing: Int, info: TeacherTokenizerInfo?) throws -> KDError {
    let others = try store.otherTokenizations(taskID: task.id, tokenizerID: tokenizerID)
    let detail = others.prefix(4).map { o in
      o.name.map { "\(o.examples) tokenized with '\($0)' (\(o.contentHash ?? "?"))" } ?? "\(o.examples) not tokenized"
    }.joined(separator: ", ")
    let teacherTok = info.map { "'\($0.name)' (\($0.contentHash))" } ?? "the teacher's tokenizer"
    return KDError(
      .input,
      "\(missing) examples of task '\(task.name)' are not tokenized with \(teacherTok): \(detail). "
        + "Ingest with the teacher's tokenizer, or pass --retokenize to tokenize them with it (stored beside the others)",
      file: store.path)
  }

  /// The teacher row for `name`: created when missing; an existing one must describe the same teacher.
  private func teacherRow(name: String, task: TaskRecord, desc: TeacherDescription, runID: Int64?) throws -> TeacherRecord {
    let storage: TeacherStorage
    var requested: TeacherStorage?
    switch options.storage {
    case .fixed(let s): requested = s; storage = s
    case .auto:
      storage = desc.numOutputs <= Self.denseLimit ? .f32 : .topK(min(Self.defaultTopK, desc.numOutputs))
    }
    let embeddingDim = options.storeEmbeddings ? desc.embeddingDim : nil
    if options.storeEmbeddings && desc.embeddingDim == nil {
      throw KDError(.unsupported, "teacher \(name) does not return embeddings; drop --embeddings", field: "--embeddings")
    }
    if let existing = try store.teacher(named: name) {
      var diffs: [String] = []
      if existing.kind != desc.kind { diffs.append("kind \(existing.kind) -> \(desc.kind)") }
      if existing.taskID != task.id { diffs.append("task id \(existing.taskID.map(String.init) ?? "none") -> \(task.id)") }
      if existing.checkpointHash != desc.checkpointHash {
        diffs.append("checkpoint \(existing.checkpointHash ?? "none") -> \(desc.checkpointHash ?? "none")")
      }
      if existing.tokenizerID != tokenizerID {
        diffs.append("tokenizer id \(existing.tokenizerID.map(String.init) ?? "none") -> \(tokenizerID.map(String.init) ?? "none")")
      }
      if existing.numOutputs != desc.numOutputs { diffs.append("outputs \(existing.numOutputs) -> \(desc.numOutputs)") }
      if let requested, requested != existing.storage { diffs.append("storage \(existing.storage.name) -> \(requested.name)") }
      if options.storeEmbeddings && existing.embeddingDim != embeddingDim {
        diffs.append("embeddings not cached before")
      }
      if existing.headBlob != nil && desc.headBlob != nil && existing.headBlob != desc.headBlob {
        diffs.append("fitted head differs (labels changed?)")
      }
      if diffs.isEmpty {
        // The matmul mode (AMX bf16x3 vs fp32) changes outputs by ~1e-5, far below what
        // distillation notices, so a cache may be continued on another machine; say so.
        if let was = Self.matmulMode(existing.configJSON), let now = Self.matmulMode(desc.configJSON), was != now {
          log("warning: teacher '\(name)' was cached with --matmul \(was); this run adds outputs computed with \(now) (they differ by ~1e-5)")
        }
        return existing
      }
      guard options.replace else {
        throw KDError(
          .input,
          "teacher '\(name)' is already cached with different settings (\(diffs.joined(separator: "; "))). "
            + "Pass --name for a separate teacher, or --replace to drop its \(try store.teacherOutputSizes(teacherID: existing.id).count) cached outputs",
          field: "--name")
      }
      log("replacing teacher \(name): \(diffs.joined(separator: "; "))")
      try store.transaction { try store.deleteTeacher(existing.id) }
    }
    let id = try store.transaction {
      try store.insertTeacher(
        NewTeacher(name: name, kind: desc.kind, taskID: task.id, tokenizerID: tokenizerID, checkpointHash: desc.checkpointHash,
                   configJSON: desc.configJSON, headJSON: desc.headJSON, headBlob: desc.headBlob, storage: storage,
                   numOutputs: desc.numOutputs, embeddingDim: embeddingDim, runID: runID))
    }
    guard let row = try store.teacher(id: id) else { throw KDError(.internalError, "teacher row \(id) vanished") }
    return row
  }

  // MARK: Tokenization

  private func retokenize(_ ids: [Int64]) throws -> Int {
    guard let info = backend.tokenizerInfo, let tok = tokenizerID else {
      throw KDError(.unsupported, "this teacher has no tokenizer to --retokenize with")
    }
    log("tokenizing \(ids.count) examples with the teacher's tokenizer \(info.name)")
    var done = 0
    for chunk in stride(from: 0, to: ids.count, by: 2048) {
      let part = Array(ids[chunk..<min(chunk + 2048, ids.count)])
      let rows = try store.teacherInputs(part, tokenizerID: nil)
      var encoded: [(Int64, [Int32])] = []
      for r in rows { encoded.append((r.exampleID, try backend.tokenize(r.text))) }
      try store.transaction {
        for (e, t) in encoded { try store.insertTokenization(example: e, tokenizer: tok, ids: t, vocabSize: info.vocabularySize) }
      }
      done += part.count
    }
    return done
  }

  // MARK: Computing

  private func compute(_ ids: [Int64], teacher: TeacherRecord, runID: Int64?, summary: inout TeacherCacheSummary) throws {
    if let external = backend as? ExternalTeacher, options.window > 1 {
      return try computePipelined(ids, external: external, teacher: teacher, runID: runID, summary: &summary)
    }
    let batch = max(1, options.batchSize)
    let chunkSize = batch * max(1, options.commitEvery)
    var done = 0
    progress?(0, ids.count)
    var chunkStart = 0
    while chunkStart < ids.count {
      if isInterrupted() {
        interrupted = true
        summary.skipped["interrupted"] = ids.count - chunkStart
        break
      }
      let chunk = Array(ids[chunkStart..<min(chunkStart + chunkSize, ids.count)])
      var chunkSummary = summary
      try store.transaction {
        var b = 0
        while b < chunk.count {
          let part = Array(chunk[b..<min(b + batch, chunk.count)])
          let rows = try store.teacherInputs(part, tokenizerID: tokenizerID)
          try computeBatch(rows, teacher: teacher, runID: runID, summary: &chunkSummary)
          b += part.count
          progress?(done + b, ids.count)
        }
      }
      summary = chunkSummary
      done += chunk.count
      chunkStart += chunk.count
      afterCommit?(summary.cachedNow)
    }
  }

  func inputs(_ rows: [TeacherInputRow]) throws -> (inputs: [TeacherInput], owner: [Int], windows: [Int]) {
    var inputs: [TeacherInput] = [], owner: [Int] = [], windows: [Int] = []
    for (i, r) in rows.enumerated() {
      if tokenizerID != nil && r.ids == nil {
        throw KDError(.input, "example \(r.exampleID) has no tokenization with the teacher's tokenizer", field: "tokenizations")
      }
      if let ids = r.ids, ids.isEmpty {
        throw KDError(.input, "example \(r.exampleID) has an empty tokenization", field: "tokenizations")
      }
      var parts: [[Int32]?] = [r.ids]
      if let ids = r.ids, let maxTokens { parts = TokenWindows.split(ids, maxTokens: maxTokens) }
      windows.append(parts.count)
      for p in parts {
        inputs.append(TeacherInput(exampleID: r.exampleID, text: r.text, ids: p))
        owner.append(i)
      }
    }
    return (inputs, owner, windows)
  }

  private func computeBatch(_ rows: [TeacherInputRow], teacher: TeacherRecord, runID: Int64?, summary: inout TeacherCacheSummary) throws {
    let (inputs, owner, windows) = try inputs(rows)
    let wantEmbeddings = teacher.embeddingDim != nil
    let results = try backend.compute(inputs, wantEmbeddings: wantEmbeddings)
    try storeResults(results, rows: rows, owner: owner, windows: windows, teacher: teacher, runID: runID, summary: &summary)
  }

  /// Averages windows and stores one batch's results (in the caller's transaction).
  func storeResults(
    _ results: [TeacherResult], rows: [TeacherInputRow], owner: [Int], windows: [Int], teacher: TeacherRecord, runID: Int64?,
    summary: inout TeacherCacheSummary
  ) throws {
    guard results.count == owner.count else {
      throw KDError(.model, "teacher returned \(results.count) results for \(owner.count) inputs")
    }
    let n = teacher.numOutputs
    var sums = [[Float]](repeating: [Float](repeating: 0, count: n), count: rows.count)
    var embSums = [[Float]](repeating: [], count: rows.count)
    var failure = [String?](repeating: nil, count: rows.count)
    for (j, result) in results.enumerated() {
      let i = owner[j]
      let exampleID = rows[i].exampleID
      switch result {
      case .failed(let message):
        if failure[i] == nil { failure[i] = "example \(exampleID): \(message)" }
      case .output(let logits, let embedding):
        guard logits.count == n else {
          throw KDError(.model, "teacher returned \(logits.count) logits for example \(exampleID), expected \(n)", field: "logits")
        }
        try Self.checkFinite(logits, what: "logits", exampleID: exampleID, storage: teacher.storage)
        for c in 0..<n { sums[i][c] += logits[c] }
        if let dim = teacher.embeddingDim {
          guard let embedding, embedding.count == dim else {
            throw KDError(.model, "teacher returned \(embedding?.count ?? 0) embedding values for example \(exampleID), expected \(dim)", field: "embedding")
          }
          try Self.checkFinite(embedding, what: "embedding", exampleID: exampleID, storage: .f16)
          if embSums[i].isEmpty { embSums[i] = [Float](repeating: 0, count: dim) }
          for c in 0..<dim { embSums[i][c] += embedding[c] }
        }
      }
    }
    for (i, r) in rows.enumerated() {
      if let f = failure[i] {
        summary.skipped["teacher_error", default: 0] += 1
        if summary.failures.count < 10 { summary.failures.append(f) }
        continue
      }
      let w = Float(windows[i])
      if windows[i] > 1 {
        summary.windowed += 1
        for c in 0..<n { sums[i][c] /= w }
        for c in embSums[i].indices { embSums[i][c] /= w }
      }
      let blob = TeacherOutputCodec.encode(sums[i], storage: teacher.storage)
      let emb = teacher.embeddingDim != nil ? TeacherOutputCodec.encode(embSums[i], storage: .f16) : nil
      try store.insertTeacherOutput(teacherID: teacher.id, exampleID: r.exampleID, logits: blob, embedding: emb, runID: runID)
      summary.cachedNow += 1
    }
  }

  /// Throws a clear error naming the example when a value is NaN, infinite, or too large for f16 storage.
  static func checkFinite(_ values: [Float], what: String, exampleID: Int64, storage: TeacherStorage) throws {
    for (i, v) in values.enumerated() where !v.isFinite || (storage != .f32 && abs(v) > 65504) {
      let problem = v.isNaN ? "NaN" : (v.isInfinite ? "infinite" : "too large for fp16 storage (\(v); use --storage f32)")
      throw KDError(
        .numeric,
        "teacher output for example \(exampleID) is \(problem) at \(what)[\(i)]; nothing from the current chunk was stored (earlier chunks are kept)",
        field: what)
    }
  }

  // MARK: TeacherPreparationContext

  /// Pooled embeddings of examples, windowed and averaged like the outputs.
  public func pooledEmbeddings(of exampleIDs: [Int64]) throws -> [Float] {
    try pooledEmbeddings(of: exampleIDs, onBatch: nil)
  }

  /// Pooled embeddings, appended to `EmbeddingSpill(cacheKey)` batch by batch; those saved by a killed
  /// earlier run are read back instead of recomputed.
  public func pooledEmbeddings(of exampleIDs: [Int64], cacheKey: String) throws -> [Float] {
    let spill = EmbeddingSpill(databasePath: store.path, key: cacheKey)
    spills.append(spill)
    let saved = spill.load()
    var seen = Set<Int64>()
    let missing = exampleIDs.filter { saved[$0] == nil && seen.insert($0).inserted }
    let reused = exampleIDs.count - missing.count
    if reused > 0 {
      log("reusing \(reused) embeddings saved by an earlier run; embedding \(missing.count)")
    }
    var byID = saved
    if !missing.isEmpty {
      let x = try pooledEmbeddings(of: missing) { rows in try spill.append(rows) }
      let d = x.count / missing.count
      for (i, id) in missing.enumerated() { byID[id] = Array(x[(i * d)..<((i + 1) * d)]) }
    }
    var out: [Float] = []
    var dim = 0
    for id in exampleIDs {
      guard let e = byID[id] else { throw KDError(.internalError, "no embedding for example \(id)") }
      if dim == 0 { dim = e.count }
      guard e.count == dim else {
        throw KDError(.model, "saved embedding sizes differ (\(e.count) vs \(dim)); delete \(spill.path)", file: spill.path)
      }
      out.append(contentsOf: e)
    }
    return out
  }

  public func savedEmbeddings(cacheKey: String) -> [Int64: [Float]] {
    let spill = EmbeddingSpill(databasePath: store.path, key: cacheKey)
    spills.append(spill)
    return spill.load()
  }

  func pooledEmbeddings(of exampleIDs: [Int64], onBatch: (([(id: Int64, embedding: [Float])]) throws -> Void)?) throws -> [Float] {
    var out: [Float] = []
    var dim = 0
    let batch = max(1, options.batchSize)
    let rows = try store.teacherInputs(exampleIDs, tokenizerID: tokenizerID)
    if tokenizerID != nil, let r = rows.first(where: { $0.ids == nil }) {
      throw KDError(.input, "labeled example \(r.exampleID) is not tokenized with the teacher's tokenizer", field: "tokenizations")
    }
    // Sort by length for speed; results go back to the caller's order.
    let order = rows.indices.sorted { (rows[$0].ids?.count ?? 0) < (rows[$1].ids?.count ?? 0) }
    var byIndex = [[Float]](repeating: [], count: rows.count)
    var start = 0
    var done = 0
    while start < order.count {
      let idx = Array(order[start..<min(start + batch, order.count)])
      let (inputs, owner, windows) = try inputs(idx.map { rows[$0] })
      let embs = try backend.embed(inputs)
      guard embs.count == inputs.count else { throw KDError(.model, "teacher returned \(embs.count) embeddings for \(inputs.count) inputs") }
      for (j, e) in embs.enumerated() {
        let i = idx[owner[j]]
        if dim == 0 { dim = e.count }
        guard e.count == dim else { throw KDError(.model, "embedding sizes differ (\(e.count) vs \(dim))") }
        try Self.checkFinite(e, what: "embedding", exampleID: rows[i].exampleID, storage: .f32)
        if byIndex[i].isEmpty { byIndex[i] = [Float](repeating: 0, count: dim) }
        let w = Float(windows[owner[j]])
        for c in 0..<dim { byIndex[i][c] += e[c] / w }
      }
      try onBatch?(idx.map { (rows[$0].exampleID, byIndex[$0]) })
      start += idx.count
      done += idx.count
      progress?(done, order.count)
    }
    out.reserveCapacity(rows.count * dim)
    for e in byIndex { out.append(contentsOf: e) }
    return out
  }
}
