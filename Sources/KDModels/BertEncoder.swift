import Foundation
import KDCore
import KDTensor

/// How token states become one embedding per sequence.
public enum Pooling: String, Sendable, Codable {
  /// The first token's final hidden state (`[CLS]` / `<s>`).
  case cls
  /// The average of all token states of the sequence (padding excluded).
  case mean
}

/// What a checkpoint's classification head reads.
public enum ClassifierInput: String, Sendable, Codable {
  /// The checkpoint's own pre-classifier on the first token: BERT's pooler
  /// (dense + tanh), RoBERTa's `classifier.dense` + tanh, DistilBERT's `pre_classifier` + ReLU.
  case checkpointPooler
  /// The pooled embedding (`EncoderOutput.pooled`), for heads fitted on embeddings.
  case pooledEmbedding
}

/// Result of `BertEncoder.forward`: one row per input sequence.
public struct EncoderOutput: Sendable {
  public var batchSize: Int
  public var hiddenSize: Int
  /// Pooled embeddings, row-major [batchSize × hiddenSize] (L2-normalised when the encoder says so).
  public var pooled: [Float]
  /// Logits, row-major [batchSize × labelCount], when a classifier is attached.
  public var logits: [Float]?
  public var labelCount: Int

  /// The pooled embedding of sequence `i`.
  public func embedding(_ i: Int) -> ArraySlice<Float> { pooled[i * hiddenSize..<(i + 1) * hiddenSize] }
  /// The logits of sequence `i`, if any.
  public func logits(_ i: Int) -> ArraySlice<Float>? { logits.map { $0[i * labelCount..<(i + 1) * labelCount] } }
}

/// A BERT-family encoder (BERT, RoBERTa, DistilBERT) with an optional
/// classification head, run natively on CPU with OpenBLAS.
///
/// For example:
/// ```swift
/// let encoder = try BertEncoder.load(directory: "models/all-MiniLM-L6-v2", threads: 2)
/// let out = try encoder.forward([[101, 7592, 2088, 102], [101, 2088, 102]])
/// let first = out.embedding(0)   // 384 floats
/// ```
///
/// Sequences are packed without padding: dense layers run on all real tokens
/// at once and attention runs per sequence and head over its own length, which
/// is exactly what a padded batch with an attention mask computes.
/// `forward` is safe to call from one thread at a time (it reuses a workspace
/// and uses `threads` workers internally).
public final class BertEncoder: @unchecked Sendable {
  public let config: BertConfig
  public let family: EncoderFamily
  public var hiddenSize: Int { config.hiddenSize }
  /// Longest sequence (specials included) the position table allows.
  public let maxPositions: Int
  /// How `forward` pools token states into `EncoderOutput.pooled`.
  public var pooling: Pooling
  /// Whether pooled embeddings are L2-normalised (a sentence-transformers `Normalize` module).
  public var normalizeEmbeddings: Bool
  /// The classification head, if the checkpoint has one or one was attached.
  public private(set) var classifier: LinearHead?
  /// What `classifier` reads.
  public private(set) var classifierInput: ClassifierInput
  /// The checkpoint's `id2label` (empty when absent).
  public var id2label: [Int: String] { config.id2label }
  /// `StableHash.hex` of FNV-1a over the whole `model.safetensors` file (all bytes, ~0.1 s for 90 MB).
  public let checkpointHash: String
  /// The directory loaded from, and the `tokenizer.json` beside the weights when present.
  public let directory: String
  public let tokenizerPath: String?
  /// The dtype the weights were stored in (`F32`, `F16`, `BF16`).
  public let storedDType: SafetensorsDType
  /// Worker count used by `forward`.
  public var threads: Int { didSet { threads = max(1, threads) } }

  /// How dense layers multiply: `MatmulPrecision.automatic` (AMX bf16x3 when
  /// this CPU has AMX, else OpenBLAS fp32) unless set. An AMX mode on a machine
  /// without AMX runs fp32.
  public var matmul: MatmulPrecision = .automatic
  /// The matmul mode `forward` actually runs.
  public var effectiveMatmul: MatmulPrecision { matmul.isAvailable ? matmul : .fp32 }
  /// Dense weights packed for AMX, built by the first AMX forward pass.
  private var packedLayers: [PackedLayer]?

  /// Tokens per worker from which dense layers split rows rather than columns (tests force either path).
  var minRowsPerWorker = BertEncoder.defaultMinRowsPerWorker
  let weights: EncoderWeights
  private let lock = NSLock()
  private var workspace = Workspace()

  init(config: BertConfig, family: EncoderFamily, weights: EncoderWeights,
       pooling: Pooling, normalize: Bool, classifier: LinearHead?, classifierOnEmbedding: Bool = false, directory: String,
       tokenizerPath: String?, hash: String, dtype: SafetensorsDType, threads: Int) {
    self.config = config
    self.family = family
    self.weights = weights
    self.pooling = pooling
    self.normalizeEmbeddings = normalize
    self.classifier = classifier
    self.classifierInput = classifierOnEmbedding ? .pooledEmbedding : .checkpointPooler
    self.directory = directory
    self.tokenizerPath = tokenizerPath
    self.checkpointHash = hash
    self.storedDType = dtype
    self.threads = max(1, threads)
    self.maxPositions = family == .roberta
      ? config.maxPositionEmbeddings - config.padTokenId - 1 : config.maxPositionEmbeddings
  }

  /// Attaches a head fitted on pooled embeddings (replacing any checkpoint head).
  /// - Throws: `KDError(.model)` when the head's input size is not `hiddenSize`.
  public func attachFittedHead(_ head: LinearHead) throws {
    guard head.inputSize == hiddenSize else {
      throw KDError(.model, "head expects \(head.inputSize) inputs, encoder hidden size is \(hiddenSize)")
    }
    classifier = head
    classifierInput = .pooledEmbedding
  }

  /// Replaces the checkpoint's own head with the same head with outputs reordered
  /// onto `vocabulary` (see `LinearHead.mapped(onto:)`).
  public func mapClassifierLabels(onto vocabulary: [String]) throws {
    guard let c = classifier else {
      throw KDError(.model, "the checkpoint has no classification head", file: directory)
    }
    classifier = try c.mapped(onto: vocabulary)
  }

  /// Removes the classifier (embeddings only).
  public func detachClassifier() {
    classifier = nil
    classifierInput = .checkpointPooler
  }

  /// Runs the encoder on a batch of token-id sequences.
  ///
  /// - Parameter batch: one `[Int32]` per sequence, already tokenized with the
  ///   model's tokenizer, specials included; trailing `pad_token_id`s are
  ///   ignored (treated as masked padding); lengths may differ (group similar
  ///   lengths for speed: cost grows with the sum of lengths and, for attention,
  ///   with the sum of squared lengths).
  /// - Returns: pooled embeddings and, if a classifier is attached, logits.
  /// - Throws: `KDError(.input)` for an empty sequence, one longer than
  ///   `maxPositions`, or an id outside the vocabulary; `KDError(.numeric)`
  ///   when an output is NaN or infinite.
  public func forward(_ batch: [[Int32]]) throws -> EncoderOutput {
    // Trailing pad ids (a tokenizer's fixed padding) are padding, never content: drop them,
    // exactly as an attention mask would.
    let pad = Int32(config.padTokenId)
    let batch = batch.map { seq -> [Int32] in
      guard seq.last == pad else { return seq }
      var end = seq.count
      while end > 0 && seq[end - 1] == pad { end -= 1 }
      return Array(seq[0..<end])
    }
    for (i, seq) in batch.enumerated() {
      guard !seq.isEmpty else { throw KDError(.input, "sequence \(i) is empty", field: "batch[\(i)]") }
      guard seq.count <= maxPositions else {
        throw KDError(.input, "sequence \(i) has \(seq.count) tokens; the model allows at most \(maxPositions)", field: "batch[\(i)]")
      }
      for id in seq where id < 0 || Int(id) >= config.vocabSize {
        throw KDError(.input, "sequence \(i) has token id \(id) outside the vocabulary (0..<\(config.vocabSize))", field: "batch[\(i)]")
      }
    }
    let out = try runChecked(batch)
    guard isFinite(out.pooled) else {
      throw KDError(.numeric, "encoder produced NaN or infinite embeddings (corrupt weights or overflow in \(storedDType.rawValue))", file: directory)
    }
    if let l = out.logits, !isFinite(l) {
      throw KDError(.numeric, "classifier produced NaN or infinite logits", file: directory)
    }
    return out
  }
}

extension BertEncoder {
  /// The forward pass on sequences already checked (no pad stripping, no range checks): packs the
  /// weights for AMX on first use, then `runForward`, under the encoder's lock.
  func runChecked(_ batch: [[Int32]]) throws -> EncoderOutput {
    lock.lock()
    defer { lock.unlock() }
    var packed: [PackedLayer]?
    if effectiveMatmul == .amxBF16x3 {
      if packedLayers == nil {
        packedLayers = weights.layers.map { PackedLayer($0, hidden: config.hiddenSize, intermediate: config.intermediateSize) }
      }
      packed = packedLayers
    }
    return try runForward(batch, workspace: &workspace, packed: packed)
  }
}

/// Whether every value is finite (true for an empty array).
func isFinite(_ values: [Float]) -> Bool {
  values.withUnsafeBufferPointer { b in
    guard let p = b.baseAddress, b.count > 0 else { return true }
    return Kernels.allFinite(p, count: b.count)
  }
}
