import Foundation
import KDCore
import KDStore

/// One database the loader reads, with the rows to select in it.
public struct LoaderSource: Sendable {
  public var path: String
  public var query: TrainingQuery
  /// The teachers of `query.teacherIDs`, in the same order.
  public var teachers: [TrainingTeacher]
  /// Calibration temperature of each teacher (same order; missing or 1: raw logits). Cached logits are
  /// divided by it where they are read, before anything else (`TeacherCalibration`).
  public var calibration: [Float]

  public init(path: String, query: TrainingQuery, teachers: [TrainingTeacher], calibration: [Float] = []) {
    self.path = path; self.query = query; self.teachers = teachers; self.calibration = calibration
  }
}

/// Where a training stream stands: saved with every checkpoint so that a
/// resumed run sees exactly the batches it would have seen.
public struct LoaderPosition: Codable, Sendable, Equatable {
  public var epoch: Int
  /// Batches already consumed in `epoch`.
  public var offset: Int
  public var seed: UInt64
  public init(epoch: Int, offset: Int, seed: UInt64) { self.epoch = epoch; self.offset = offset; self.seed = seed }
}

/// How the loader turns rows into batches.
public struct LoaderOptions: Sendable {
  public var numClasses: Int
  /// Token ids must be below this (the student's vocabulary).
  public var vocabSize: Int
  public var batchSize = 32
  /// Shuffle block order and examples (training); off for evaluation.
  public var shuffle = true
  public var seed: UInt64 = 0
  /// Example-id span of one read (one SQL statement execution).
  public var blockSize: Int64 = 4096
  /// Examples held for shuffling; bounds memory together with `bucketPool`.
  public var shuffleBuffer = 16384
  /// Sort runs of `bucketPool` batches by length and cut them into batches, to minimise padding.
  public var bucketing = true
  public var bucketPool = 64
  /// Batches prepared ahead by the background thread.
  public var prefetch = 8
  /// Weight of each teacher (same order as the source's teachers); normalised per example.
  public var teacherWeights: [Float] = []
  /// Keep labels only for this share of the split's examples (`LabelFraction`).
  public var labelFraction: Double = 1
  public var labelSeed: UInt64 = 0
  /// Whether rows need a label (CE term) / can use teacher outputs (KD term).
  /// A row is kept when it has something the loss uses.
  public var useLabels = true
  public var useTeachers = true
  /// Keep only rows with a (kept) label, e.g. for evaluation.
  public var requireLabel = false
  /// Keep every row, with neither label nor teacher output (domain text for `kd-train encoder`).
  public var keepAll = false
  /// Longer token sequences are cut to this many ids.
  public var maxTokens = 512
  /// Cut sequences keep their last id, the trailing special token kd-ingest stores (BERT's `[SEP]`),
  /// as Hugging Face tokenizers truncate: transformer students, whose exports run on those tokenizers.
  public var keepsLastToken = false

  public init(numClasses: Int, vocabSize: Int) { self.numClasses = numClasses; self.vocabSize = vocabSize }
}

/// Streams examples, token ids and cached teacher outputs from one or more
/// SQLite stores in bounded memory.
///
/// Each epoch reads the examples in blocks of `blockSize` consecutive ids; the
/// block order is shuffled (per database, then interleaved), rows pass through a
/// shuffle buffer, and runs of `bucketPool` batches are sorted by length before
/// they are cut, so batches hold examples of similar length; the batch order
/// within a run is shuffled again. Everything is driven by one SplitMix64 seeded
/// from (seed, epoch): the same seed and epoch give the same batches. A
/// background thread with its own read-only connections prepares `prefetch`
/// batches ahead. Memory is bounded by `blockSize + shuffleBuffer +
/// bucketPool·batchSize` examples, whatever the size of the databases.
public final class StreamingLoader: @unchecked Sendable {
  public let sources: [LoaderSource]
  public let options: LoaderOptions

  public init(sources: [LoaderSource], options: LoaderOptions) throws {
    guard !sources.isEmpty else { throw KDError(.usage, "the loader needs at least one database") }
    guard options.batchSize > 0 else { throw KDError(.usage, "batch size must be positive", field: "--batch-size") }
    for s in sources {
      guard s.teachers.count == s.query.teacherIDs.count else {
        throw KDError(.internalError, "loader source teachers do not match the query", file: s.path)
      }
      for t in s.teachers where t.numOutputs != options.numClasses {
        throw KDError(
          .input,
          "teacher '\(t.name)' has \(t.numOutputs) outputs but the task has \(options.numClasses) labels (label vocabulary mismatch)",
          file: s.path, field: "teachers.num_outputs")
      }
    }
    self.sources = sources
    self.options = options
  }

  /// Starts a background stream of the batches of `position.epoch`, skipping the first `position.offset`.
  public func batches(from position: LoaderPosition) -> BatchStream {
    let stream = BatchStream(capacity: max(1, options.prefetch))
    let thread = Thread { [self] in
      do {
        try self.produce(epoch: position.epoch, seed: position.seed, skip: position.offset) { batch in
          stream.push(batch)
        }
        stream.finish(nil)
      } catch {
        stream.finish(error)
      }
    }
    thread.stackSize = 1 << 22
    thread.start()
    return stream
  }

  /// All batches of an epoch on the calling thread (evaluation, tests).
  public func allBatches(epoch: Int = 0) throws -> [Batch] {
    var out: [Batch] = []
    try produce(epoch: epoch, seed: options.seed, skip: 0) { out.append($0); return true }
    return out
  }

  /// Counts the examples one epoch yields, without decoding tokens or teacher outputs.
  public func countExamples() throws -> Int {
    var n = 0
    for source in sources {
      let store = try Store.open(path: source.path, readOnly: true)
      try store.useStreamingCache()
      guard let bounds = try store.exampleIDBounds(source.query) else { continue }
      let reader = try store.trainingRowReader(source.query)
      try reader.read(idRange: bounds) { row in
        if self.isUseful(row, label: self.keptLabel(row)) { n += 1 }
      }
    }
    return n
  }

  @inline(__always)
  func keptLabel(_ row: TrainingRowView) -> Int32 {
    guard row.label >= 0 else { return -1 }
    if options.labelFraction < 1
      && !LabelFraction.keeps(contentKey: row.contentKey, fraction: options.labelFraction, seed: options.labelSeed)
    {
      return -1
    }
    return row.label
  }

  /// Whether the loss can use a row, given its kept label.
  @inline(__always)
  func isUseful(_ row: TrainingRowView, label: Int32) -> Bool {
    if options.keepAll { return true }
    if options.requireLabel { return label >= 0 }
    if options.useLabels && label >= 0 { return true }
    if options.useTeachers { for b in row.teacherBlobs where b != nil { return true } }
    return false
  }

  /// Decodes a kept row into an example.
  func decode(_ row: TrainingRowView, source si: Int, label: Int32) throws -> TrainingExample {
    let source = sources[si]
    var tokens: [Int32] = []
    tokens.reserveCapacity(min(options.maxTokens, row.tokenBlob.count / row.tokenWidth))
    TokenBlob.decode(row.tokenBlob, width: row.tokenWidth, into: &tokens)
    TokenCut.cut(&tokens, to: options.maxTokens, keepingLast: options.keepsLastToken)
    let v = Int32(options.vocabSize)
    for t in tokens where t < 0 || t >= v {
      throw KDError(.input, "example \(row.exampleID): token id \(t) outside the vocabulary (size \(v))",
                    file: source.path, field: "tokenizations.ids")
    }
    if label >= Int32(options.numClasses) {
      throw KDError(.input, "example \(row.exampleID): label position \(label) >= \(options.numClasses) classes",
                    file: source.path, field: "labels.position")
    }
    var logits: [Float] = []
    var weights: [Float] = []
    if options.useTeachers {
      let c = options.numClasses
      for (ti, blob) in row.teacherBlobs.enumerated() {
        guard let blob else { continue }
        let t = source.teachers[ti]
        let w = ti < options.teacherWeights.count ? options.teacherWeights[ti] : 1
        // The teacher's calibration: raw logits / T_cal (1 when uncalibrated).
        let calibration: Float = ti < source.calibration.count ? 1 / source.calibration[ti] : 1
        let base = logits.count
        if case .f32 = t.storage, blob.count == t.numOutputs * 4, t.numOutputs == c {
          // Fast path for dense f32 outputs: straight from the blob.
          logits.reserveCapacity(base + c)
          for i in 0..<c {
            logits.append(calibration * Float(bitPattern: UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
          }
        } else {
          let decoded: TeacherLogits
          do {
            decoded = try TeacherOutputCodec.decode(blob, storage: t.storage, numOutputs: t.numOutputs)
          } catch let e as KDError {
            throw KDError(.input, "example \(row.exampleID), teacher '\(t.name)': \(e.message)", file: source.path,
                          field: e.field)
          }
          // Classes a top-k output did not keep: −∞, so the target's softmax runs over the kept ones.
          logits.append(contentsOf: repeatElement(-Float.infinity, count: c))
          for (j, k) in decoded.indices.enumerated() where k >= 0 && Int(k) < c {
            logits[base + Int(k)] = calibration * decoded.values[j]
          }
          for k in decoded.indices where k < 0 || Int(k) >= c {
            throw KDError(.input, "example \(row.exampleID), teacher '\(t.name)': class \(k) outside \(c) classes",
                          file: source.path, field: "teacher_outputs.logits")
          }
          if decoded.values.contains(where: { !$0.isFinite }) {
            throw KDError(.numeric, "example \(row.exampleID): teacher output is not finite (NaN or inf logits)",
                          file: source.path, field: "teacher_outputs.logits")
          }
        }
        for j in base..<(base + c) where logits[j].isNaN || logits[j] == .infinity {
          throw KDError(.numeric, "example \(row.exampleID): teacher output is not finite (NaN or inf logits)",
                        file: source.path, field: "teacher_outputs.logits")
        }
        if !logits[base..<(base + c)].contains(where: { $0.isFinite }) {
          throw KDError(.numeric, "example \(row.exampleID): teacher output is not finite (NaN or inf logits)",
                        file: source.path, field: "teacher_outputs.logits")
        }
        weights.append(w)
      }
    }
    return TrainingExample(id: row.exampleID, source: Int32(si), label: label, tokens: tokens, teacherLogits: logits,
                           teacherWeights: weights)
  }

  /// The deterministic producer: calls `emit` for every batch after the first `skip`; stops when it returns false.
  func produce(epoch: Int, seed: UInt64, skip: Int, emit: (Batch) -> Bool) throws {
    var rng = SplitMix64(seed: seed ^ (UInt64(epoch &+ 1) &* 0xd1b5_4a32_d192_ed03))
    // Blocks of every database, shuffled.
    var stores: [Store] = []
    var readers: [TrainingRowReader] = []
    var blocks: [(source: Int, range: Range<Int64>)] = []
    for (si, source) in sources.enumerated() {
      let store = try Store.open(path: source.path, readOnly: true)
      try store.useStreamingCache()
      stores.append(store)
      readers.append(try store.trainingRowReader(source.query))
      guard let bounds = try store.exampleIDBounds(source.query) else { continue }
      var lo = bounds.lowerBound
      while lo < bounds.upperBound {
        let hi = min(bounds.upperBound, lo + options.blockSize)
        blocks.append((si, lo..<hi))
        lo = hi
      }
    }
    if options.shuffle { blocks.shuffle(using: &rng) }

    var emitted = 0
    var stopped = false
    var buffer: [TrainingExample] = []
    var pool: [TrainingExample] = []
    let bs = options.batchSize
    let poolSize = options.bucketing ? bs * max(1, options.bucketPool) : bs

    func send(_ batch: Batch) {
      if emitted >= skip && !stopped { stopped = !emit(batch) }
      emitted += 1
    }
    func flushPool(final: Bool) {
      if options.bucketing {
        pool.sort { ($0.tokens.count, $0.id) < ($1.tokens.count, $1.id) }
      }
      let full = pool.count / bs
      var starts = Array(0..<full).map { $0 * bs }
      let rest = pool.count - full * bs
      if final && rest > 0 { starts.append(full * bs) }
      if options.shuffle && options.bucketing { starts.shuffle(using: &rng) }
      for s in starts {
        var b = Batch(numClasses: options.numClasses)
        for i in s..<min(s + bs, pool.count) { b.append(pool[i]) }
        send(b)
      }
      if final || rest == 0 {
        pool.removeAll(keepingCapacity: true)
      } else {
        pool.removeFirst(full * bs)
      }
    }
    func accept(_ e: TrainingExample) {
      pool.append(e)
      if pool.count >= poolSize { flushPool(final: false) }
    }

    for block in blocks {
      if stopped { break }
      try readers[block.source].read(idRange: block.range) { row in
        let label = self.keptLabel(row)
        guard self.isUseful(row, label: label) else { return }
        let e = try self.decode(row, source: block.source, label: options.useLabels ? label : -1)
        if options.shuffle {
          buffer.append(e)
          if buffer.count >= options.shuffleBuffer {
            let j = Int(rng.next() % UInt64(buffer.count))
            buffer.swapAt(j, buffer.count - 1)
            accept(buffer.removeLast())
          }
        } else {
          accept(e)
        }
      }
    }
    if options.shuffle { buffer.shuffle(using: &rng) }
    for e in buffer { accept(e) }
    buffer.removeAll()
    flushPool(final: true)
    _ = stores
  }
}

/// Batches handed over from the loader's background thread (a bounded queue).
public final class BatchStream: @unchecked Sendable {
  private let condition = NSCondition()
  private var queue: [Batch] = []
  private var head = 0
  private let capacity: Int
  private var done = false
  private var failure: Error?
  private var cancelled = false

  init(capacity: Int) { self.capacity = capacity }

  /// Called by the producer; blocks while the queue is full. Returns false once cancelled.
  func push(_ batch: Batch) -> Bool {
    condition.lock()
    defer { condition.unlock() }
    while queue.count - head >= capacity && !cancelled { condition.wait() }
    if cancelled { return false }
    queue.append(batch)
    condition.broadcast()
    return true
  }

  func finish(_ error: Error?) {
    condition.lock()
    done = true
    failure = error
    condition.broadcast()
    condition.unlock()
  }

  /// The next batch, nil at the end of the epoch; rethrows the producer's error.
  public func next() throws -> Batch? {
    condition.lock()
    defer { condition.unlock() }
    while head == queue.count && !done { condition.wait() }
    if head < queue.count {
      let b = queue[head]
      head += 1
      if head > 64 {
        queue.removeFirst(head)
        head = 0
      }
      condition.broadcast()
      return b
    }
    if let failure { throw failure }
    return nil
  }

  /// Stops the producer (early stop, step budget reached).
  public func cancel() {
    condition.lock()
    cancelled = true
    condition.broadcast()
    condition.unlock()
  }

  deinit { cancel() }
}

/// Cutting stored token ids (`[CLS] … [SEP]`, as kd-ingest stores them) to a model's length.
public enum TokenCut {
  /// Cuts `ids` to `maxTokens`: the first ones, or with `keepingLast` the first `maxTokens − 1` and
  /// the last id (Hugging Face's truncation of a `[CLS] … [SEP]` sequence).
  public static func cut(_ ids: inout [Int32], to maxTokens: Int, keepingLast: Bool) {
    guard ids.count > maxTokens else { return }
    guard keepingLast, maxTokens >= 2, let last = ids.last else {
      ids.removeLast(ids.count - maxTokens)
      return
    }
    ids.removeLast(ids.count - maxTokens + 1)
    ids.append(last)
  }
}
