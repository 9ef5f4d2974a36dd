import Foundation
import KDCore

/// The architecture of a student, saved as `config.json` beside its weights.
public struct StudentConfig: Codable, Sendable, Equatable {
  /// `bow` or `mlp`.
  public var kind: String
  public var vocabSize: Int
  /// Hashed bigram rows (0 disables bigrams).
  public var buckets: Int
  public var dimension: Int
  /// Hidden layer widths (`mlp` only).
  public var hidden: [Int]
  public var numClasses: Int
  /// Longest token sequence; for a transformer also its max position embeddings.
  public var maxTokens: Int
  /// Transformer students only (nil for bow/mlp; see `TransformerStudent`).
  public var transformer: TransformerFields? {
    get { TransformerFields(self) }
  }
  public var layers: Int?
  public var hiddenSize: Int?
  public var heads: Int?
  public var intermediateSize: Int?
  public var typeVocabSize: Int?
  public var layerNormEps: Float?
  public var hiddenAct: String?
  public var padTokenId: Int?
  public var dropout: Float?
  /// `teacher` or `random`.
  public var initialization: String?
  /// The teacher folder the student was initialised from (`--init teacher`).
  public var initTeacher: String?
  /// Teacher layer copied into each student layer (`--init teacher`), 0-based.
  public var layerMap: [Int]?

  public init(kind: String, vocabSize: Int, buckets: Int = 1 << 17, dimension: Int = 64, hidden: [Int] = [],
              numClasses: Int, maxTokens: Int = 512) {
    self.kind = kind; self.vocabSize = vocabSize; self.buckets = buckets; self.dimension = dimension
    self.hidden = hidden; self.numClasses = numClasses; self.maxTokens = maxTokens
  }

  /// Student kinds this build knows.
  public static let kinds = ["bow", "mlp", "transformer"]

  /// Checks sizes before any allocation.
  public func validate() throws {
    guard Self.kinds.contains(kind) else {
      throw KDError(.usage, "unknown student '\(kind)' (expected \(Self.kinds.joined(separator: " or ")))", field: "--student")
    }
    if kind == "transformer" {
      guard let t = transformer else { throw KDError(.usage, "transformer student without its sizes", field: "--student") }
      try t.bertConfig.validate()
      return
    }
    guard vocabSize > 0, buckets >= 0, dimension > 0, numClasses > 1, maxTokens > 0, hidden.allSatisfy({ $0 > 0 })
    else {
      throw KDError(.usage, "student sizes must be positive (vocab \(vocabSize), buckets \(buckets), dim \(dimension), hidden \(hidden), classes \(numClasses))")
    }
    if kind == "bow" && !hidden.isEmpty {
      throw KDError(.usage, "the bow student has no hidden layers (use --student mlp)", field: "--hidden")
    }
  }
}

/// A student: a trainable classifier over token ids with hand-written gradients.
///
/// The trainer only uses this protocol, so a new architecture (a small
/// transformer) plugs in by conforming to it.
public protocol StudentModel: AnyObject {
  var config: StudentConfig { get }
  /// Every trainable tensor, with unique names (the safetensors keys).
  var parameters: [Parameter] { get }
  /// Logits, row-major `[batch.count × numClasses]`. `training` keeps what `backward` needs.
  func forward(_ batch: Batch, training: Bool) -> [Float]
  /// Accumulates parameter gradients from the gradient of the last training forward's logits.
  func backward(_ dLogits: [Float])
  /// Multiplies the logits by `factor` for good, through the output layer's weights and bias
  /// (post-hoc temperature scaling: factor = 1 / T).
  func scaleLogits(by factor: Float)
}

extension Dense {
  /// `y·f` for good: weights and bias scaled.
  func scaleOutput(by f: Float) {
    for i in weight.value.indices { weight.value[i] *= f }
    if let b = bias { for i in b.value.indices { b.value[i] *= f } }
  }
}

extension StudentModel {
  public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
  public func zeroGrad() { for p in parameters { p.zeroGrad() } }
}

/// Bag-of-features students: `bow` (embedding bag → linear, fastText) and
/// `mlp` (embedding bag → hidden ReLU layers → linear).
/// Both run on KDNN's layers (`EmbeddingBag`, `Dense` with torch.nn.Linear's initialisation,
/// `ReLUActivation`), the same ones the transformer student and the teacher use.
public final class BagStudent: StudentModel {
  public let config: StudentConfig
  public let bag: EmbeddingBag
  /// The hidden layers (mlp), each followed by a ReLU, then the output layer.
  public let hidden: [(Dense, ReLUActivation)]
  public let output: Dense
  private var rows = 0

  public init(config: StudentConfig, seed: UInt64) throws {
    try config.validate()
    self.config = config
    var rng = SplitMix64(seed: seed)
    bag = EmbeddingBag(name: "embedding.weight", vocabSize: config.vocabSize, buckets: config.buckets,
                       dimension: config.dimension, rng: &rng)
    var hidden: [(Dense, ReLUActivation)] = []
    var width = config.dimension
    if config.kind == "mlp" {
      for (i, h) in config.hidden.enumerated() {
        hidden.append((Dense(name: "hidden.\(i)", inputSize: width, outputSize: h, linearInit: &rng), ReLUActivation()))
        width = h
      }
    }
    self.hidden = hidden
    output = Dense(name: "output", inputSize: width, outputSize: config.numClasses, linearInit: &rng)
  }

  public var parameters: [Parameter] { [bag.table] + hidden.flatMap { $0.0.parameters } + output.parameters }

  public func forward(_ batch: Batch, training: Bool) -> [Float] {
    rows = batch.count
    var x = bag.forward(tokens: batch.tokens, offsets: batch.offsets, training: training)
    for (dense, relu) in hidden { x = relu.forward(dense.forward(x, rows: rows, training: training), training: training) }
    return output.forward(x, rows: rows, training: training)
  }

  public func scaleLogits(by factor: Float) { output.scaleOutput(by: factor) }

  public func backward(_ dLogits: [Float]) {
    var d = output.backward(dLogits)
    for (dense, relu) in hidden.reversed() { d = dense.backward(relu.backward(d)) }
    bag.backward(d)
  }
}

/// Builds a student of the configured kind.
public func makeStudent(_ config: StudentConfig, seed: UInt64) throws -> StudentModel {
  if config.kind == "transformer" { return try TransformerStudent(config: config, seed: seed) }
  return try BagStudent(config: config, seed: seed)
}
