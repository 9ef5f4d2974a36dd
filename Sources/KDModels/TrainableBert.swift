import Foundation
import KDCore
import KDNN
import KDTensor

/// The shape of a trainable BERT (Hugging Face `BertForSequenceClassification`).
public struct TrainableBertConfig: Codable, Sendable, Equatable {
  public var layers: Int
  public var hiddenSize: Int
  public var heads: Int
  public var intermediateSize: Int
  /// Max position embeddings (longest sequence, specials included).
  public var maxTokens: Int
  public var vocabSize: Int
  public var typeVocabSize: Int
  public var layerNormEps: Float
  public var padTokenId: Int
  public var numClasses: Int
  /// Hidden dropout (embeddings, attention output, feed-forward output, classifier); attention-probability dropout is 0.
  public var dropout: Float

  public init(layers: Int, hiddenSize: Int, heads: Int, intermediateSize: Int, maxTokens: Int, vocabSize: Int,
              typeVocabSize: Int = 2, layerNormEps: Float = 1e-12, padTokenId: Int = 0, numClasses: Int, dropout: Float = 0.1) {
    self.layers = layers; self.hiddenSize = hiddenSize; self.heads = heads; self.intermediateSize = intermediateSize
    self.maxTokens = maxTokens; self.vocabSize = vocabSize; self.typeVocabSize = typeVocabSize
    self.layerNormEps = layerNormEps; self.padTokenId = padTokenId; self.numClasses = numClasses; self.dropout = dropout
  }

  /// Checks sizes; throws `KDError(.usage)` naming the kd-train flag.
  public func validate() throws {
    func bad(_ flag: String, _ why: String) -> KDError { KDError(.usage, why, field: flag) }
    guard layers > 0 else { throw bad("--layers", "a transformer student needs at least 1 layer (got \(layers))") }
    guard hiddenSize > 0 else { throw bad("--hidden-size", "hidden size must be positive") }
    guard heads > 0, hiddenSize % heads == 0 else {
      throw bad("--heads", "hidden size \(hiddenSize) is not divisible by \(heads) heads")
    }
    guard intermediateSize > 0 else { throw bad("--intermediate-size", "intermediate size must be positive") }
    guard maxTokens > 1 else { throw bad("--max-tokens", "max tokens must be at least 2") }
    guard vocabSize > 0, numClasses > 1 else { throw bad("--student", "vocabulary \(vocabSize) and classes \(numClasses) must be positive") }
    guard dropout >= 0 && dropout < 1 else { throw bad("--dropout", "dropout must be in [0, 1)") }
  }
}

/// One encoder layer: self-attention, output projection + residual + LayerNorm, feed-forward (GELU) + residual + LayerNorm.
public final class TrainableBertLayer {
  public let attention: SelfAttention
  public let attentionOutput: Dense
  let attentionDropout: Dropout
  public let attentionNorm: LayerNorm
  public let intermediate: Dense
  let gelu = GELU()
  public let output: Dense
  let outputDropout: Dropout
  public let outputNorm: LayerNorm
  var layout = SequenceLayout(offsets: [0])
  var firstRowOnly = false

  init(index: Int, config c: TrainableBertConfig, std: Float, rng: inout NNRandom, seed: UInt64) {
    let p = "bert.encoder.layer.\(index)"
    attention = SelfAttention(prefix: p + ".attention.self", hidden: c.hiddenSize, heads: c.heads, std: std, rng: &rng)
    attentionOutput = Dense(name: p + ".attention.output.dense", inputSize: c.hiddenSize, outputSize: c.hiddenSize, std: std, rng: &rng)
    attentionDropout = Dropout(p: c.dropout, seed: seed &+ UInt64(2 * index + 11))
    attentionNorm = LayerNorm(name: p + ".attention.output.LayerNorm", size: c.hiddenSize, eps: c.layerNormEps)
    intermediate = Dense(name: p + ".intermediate.dense", inputSize: c.hiddenSize, outputSize: c.intermediateSize, std: std, rng: &rng)
    output = Dense(name: p + ".output.dense", inputSize: c.intermediateSize, outputSize: c.hiddenSize, std: std, rng: &rng)
    outputDropout = Dropout(p: c.dropout, seed: seed &+ UInt64(2 * index + 12))
    outputNorm = LayerNorm(name: p + ".output.LayerNorm", size: c.hiddenSize, eps: c.layerNormEps)
  }

  public var parameters: [Parameter] {
    attention.parameters + attentionOutput.parameters + attentionNorm.parameters + intermediate.parameters
      + output.parameters + outputNorm.parameters
  }

  /// The layer's output `[tokens × hidden]`, or with `firstRowOnly` only each sequence's first
  /// row `[sequences × hidden]` (`SelfAttention.forward(firstRowOnly:)`; the rows equal the full pass's).
  func forward(_ x: [Float], layout: SequenceLayout, training: Bool, firstRowOnly: Bool = false) -> [Float] {
    let T = firstRowOnly ? layout.count : layout.tokens
    self.layout = layout
    self.firstRowOnly = firstRowOnly
    let ctx = attention.forward(x, layout: layout, training: training, firstRowOnly: firstRowOnly)
    var a = attentionDropout.forward(attentionOutput.forward(ctx, rows: T, training: training), training: training)
    let residual = firstRowOnly ? layout.firstRows(of: x, width: attention.hidden) : x
    for i in a.indices { a[i] += residual[i] }
    let h1 = attentionNorm.forward(a, rows: T, training: training)
    let inter = gelu.forward(intermediate.forward(h1, rows: T, training: training), training: training)
    var o = outputDropout.forward(output.forward(inter, rows: T, training: training), training: training)
    for i in o.indices { o[i] += h1[i] }
    return outputNorm.forward(o, rows: T, training: training)
  }

  func backward(_ dy: [Float]) -> [Float] {
    let dO = outputNorm.backward(dy)
    var dh1 = intermediate.backward(gelu.backward(output.backward(outputDropout.backward(dO))))
    for i in dh1.indices { dh1[i] += dO[i] }
    let dA = attentionNorm.backward(dh1)
    var dx = attention.backward(attentionOutput.backward(attentionDropout.backward(dA)))
    if firstRowOnly {
      layout.addFirstRows(dA, into: &dx, width: attention.hidden)
    } else {
      for i in dx.indices { dx[i] += dA[i] }
    }
    return dx
  }
}

/// A trainable BERT with a sequence-classification head, laid out exactly as Hugging Face's
/// `BertForSequenceClassification`: embeddings (word + position + token type 0, LayerNorm,
/// dropout) → encoder layers → pooler (`[CLS]` → dense → tanh) → dropout → classifier.
/// Parameters carry the Hugging Face tensor names, Linear weights `[out × in]`.
///
/// For example:
/// ```swift
/// let bert = try TrainableBert.fromTeacher(directory: "models/all-MiniLM-L6-v2", layerMap: [1, 3, 5], numClasses: 4, seed: 1)
/// let logits = bert.forward([[101, 7592, 102]], training: true)
/// bert.backward(dLogits)
/// ```
///
/// Taps for intermediate distillation (after a forward pass): `hiddenStates` (the embedding
/// output and each layer's output, `[tokens × hidden]`), and each layer's
/// `attention.probabilities(sequence:head:)` and `attention.values`. `backward(_:hiddenGradients:)`
/// takes extra gradients on those hidden states.
public final class TrainableBert {
  public let config: TrainableBertConfig
  public let wordEmbeddings: Embedding
  public let positionEmbeddings: Embedding
  public let tokenTypeEmbeddings: Embedding
  public let embeddingNorm: LayerNorm
  let embeddingDropout: Dropout
  public let layers: [TrainableBertLayer]
  public let pooler: Dense
  let poolerTanh = Tanh()
  let classifierDropout: Dropout
  public let classifier: Dense
  /// What the classifier reads: `.cls` (Hugging Face `BertForSequenceClassification`: `[CLS]` through
  /// the pooler's dense + tanh) or `.mean` (the mean of each sequence's final hidden states, the
  /// sentence-transformers embedding; the pooler is then unused).
  public var classifierPooling: Pooling = .cls
  /// With `.mean`: L2-normalise the pooled embedding before the classifier (a sentence-transformers
  /// `Normalize` module, as all-MiniLM-L6-v2's pipeline has).
  public var normalizePooled = false
  /// With `.cls` pooling, run the last layer for each sequence's `[CLS]` row only in `forward` and
  /// `classifierFeatures` (keys and values still from every token): the classifier reads nothing
  /// else, so logits and every gradient are those of the full pass, for about 5/6 less of the last
  /// layer's work. Then `hiddenStates.last` has one row per sequence and the last attention's
  /// probabilities one row per sequence and head: intermediate losses that read them turn it off
  /// (`IntermediateDistillation`). `encode` always runs every row.
  public var lastLayerCLSOnly = true
  /// The normalised embeddings and their pre-normalisation norms of the last forward pass (for backward).
  var normalized: (values: [Float], norms: [Float])?
  /// `hiddenStates[0]` is the embedding output, `hiddenStates[l + 1]` the output of layer `l` (last forward).
  public internal(set) var hiddenStates: [[Float]] = []
  public internal(set) var layout = SequenceLayout(offsets: [0])
  /// The inference encoder on a copy of the weights and the parameter versions it copied (`inferenceLogits`).
  var inferenceSnapshot: (versions: [UInt64], encoder: BertEncoder)?

  /// Random initialisation from `seed` (BERT's: N(0, 0.02) weights, zero biases, unit LayerNorms).
  public convenience init(config c: TrainableBertConfig, seed: UInt64) throws {
    try self.init(config: c, seed: seed, encoderStd: 0.02)
  }

  /// `encoderStd` 0 leaves embeddings and layers zero (they are about to be loaded).
  init(config c: TrainableBertConfig, seed: UInt64, encoderStd std: Float) throws {
    try c.validate()
    config = c
    var rng = NNRandom(seed: seed)
    wordEmbeddings = Embedding(name: "bert.embeddings.word_embeddings.weight", rows: c.vocabSize, width: c.hiddenSize,
                               std: std, sparse: true, rng: &rng)
    positionEmbeddings = Embedding(name: "bert.embeddings.position_embeddings.weight", rows: c.maxTokens, width: c.hiddenSize, std: std, rng: &rng)
    tokenTypeEmbeddings = Embedding(name: "bert.embeddings.token_type_embeddings.weight", rows: max(1, c.typeVocabSize),
                                    width: c.hiddenSize, std: std, rng: &rng)
    embeddingNorm = LayerNorm(name: "bert.embeddings.LayerNorm", size: c.hiddenSize, eps: c.layerNormEps)
    embeddingDropout = Dropout(p: c.dropout, seed: seed &+ 1)
    var ls: [TrainableBertLayer] = []
    for l in 0..<c.layers { ls.append(TrainableBertLayer(index: l, config: c, std: std, rng: &rng, seed: seed)) }
    layers = ls
    pooler = Dense(name: "bert.pooler.dense", inputSize: c.hiddenSize, outputSize: c.hiddenSize, rng: &rng)
    classifierDropout = Dropout(p: c.dropout, seed: seed &+ 3)
    classifier = Dense(name: "classifier", inputSize: c.hiddenSize, outputSize: c.numClasses, rng: &rng)
  }

  /// Every trainable tensor in Hugging Face order and naming.
  public var parameters: [Parameter] {
    [wordEmbeddings.table, positionEmbeddings.table, tokenTypeEmbeddings.table] + embeddingNorm.parameters
      + layers.flatMap(\.parameters) + pooler.parameters + classifier.parameters
  }

  /// The parameters of the encoder: embeddings, layers and pooler (what a Hugging Face `BertModel` holds; no classifier).
  public var encoderParameters: [Parameter] { parameters.filter { !$0.name.hasPrefix("classifier") } }

  /// Drops trailing pad ids and cuts to `maxTokens`; ids outside the vocabulary become the pad id.
  public func clean(_ seq: [Int32]) -> [Int32] {
    let pad = Int32(config.padTokenId)
    var end = min(seq.count, config.maxTokens)
    while end > 1 && seq[end - 1] == pad { end -= 1 }
    let v = Int32(config.vocabSize)
    return seq[0..<end].map { $0 >= 0 && $0 < v ? $0 : pad }
  }

  /// Each sequence `clean`ed; an empty one becomes one pad token (the rows both forward paths run).
  func cleanedBatch(_ batch: [[Int32]]) -> [[Int32]] {
    batch.map { s -> [Int32] in let c = clean(s); return c.isEmpty ? [Int32(config.padTokenId)] : c }
  }

  /// The final hidden states `[tokens × hidden]` of the packed batch (`layout` tells the rows of each sequence).
  public func encode(_ batch: [[Int32]], training: Bool) -> [Float] {
    encode(batch, training: training, lastLayerFirstRowOnly: false)
  }

  /// `encode`; with `lastLayerFirstRowOnly`, the last layer gives each sequence's first row only `[sequences × hidden]`.
  func encode(_ batch: [[Int32]], training: Bool, lastLayerFirstRowOnly: Bool) -> [Float] {
    if training && inferenceSnapshot != nil {
      // Inference -> training: the snapshot and the evaluation buffers are gone; their pages go
      // back to the system rather than staying in the heap's holes (`Allocator`).
      inferenceSnapshot = nil
      Allocator.releaseFreeMemory()
    }
    let seqs = cleanedBatch(batch)
    let layout = SequenceLayout(lengths: seqs.map(\.count))
    self.layout = layout
    let T = layout.tokens
    var ids = [Int32](), pos = [Int32]()
    ids.reserveCapacity(T)
    pos.reserveCapacity(T)
    for s in seqs {
      ids += s
      for j in 0..<s.count { pos.append(Int32(j)) }
    }
    var x = wordEmbeddings.forward(ids, training: training)
    let p = positionEmbeddings.forward(pos, training: training)
    let t = tokenTypeEmbeddings.forward([Int32](repeating: 0, count: T), training: training)
    for i in x.indices { x[i] += p[i] + t[i] }
    x = embeddingDropout.forward(embeddingNorm.forward(x, rows: T, training: training), training: training)
    var states = [x]
    for (i, l) in layers.enumerated() {
      x = l.forward(x, layout: layout, training: training, firstRowOnly: lastLayerFirstRowOnly && i == layers.count - 1)
      states.append(x)
    }
    hiddenStates = states
    return x
  }

  /// Logits `[batch × numClasses]`, row-major. For inference (`training: false`) they come from the
  /// teacher's inference kernels on a snapshot of the weights (`inferenceLogits`); no taps are set then
  /// (`encode` sets them).
  public func forward(_ batch: [[Int32]], training: Bool) -> [Float] {
    if !training, let z = inferenceLogits(batch) { return z }
    let features = classifierFeatures(batch, training: training)
    return classifier.forward(classifierDropout.forward(features, training: training), rows: layout.count, training: training)
  }

  /// What the classifier reads `[batch × hidden]` (see `classifierPooling`), before its dropout.
  public func classifierFeatures(_ batch: [[Int32]], training: Bool) -> [Float] {
    let clsRowsOnly = classifierPooling == .cls && lastLayerCLSOnly && !layers.isEmpty
    let x = encode(batch, training: training, lastLayerFirstRowOnly: clsRowsOnly)
    let H = config.hiddenSize, B = layout.count
    var pooled = [Float](repeating: 0, count: B * H)
    switch classifierPooling {
    case .mean:
      for s in 0..<B {
        let lo = layout.offsets[s], hi = lo + layout.length(s)
        let inv = 1 / Float(hi - lo)
        for t in lo..<hi { for j in 0..<H { pooled[s * H + j] += x[t * H + j] } }
        for j in 0..<H { pooled[s * H + j] *= inv }
      }
      if normalizePooled {
        var norms = [Float](repeating: 0, count: B)
        for s in 0..<B {
          var ss: Float = 0
          for j in 0..<H { ss += pooled[s * H + j] * pooled[s * H + j] }
          // sentence-transformers: F.normalize(p=2, eps=1e-12).
          norms[s] = max(ss.squareRoot(), 1e-12)
          for j in 0..<H { pooled[s * H + j] /= norms[s] }
        }
        normalized = (pooled, norms)
      }
    case .cls:
      pooled = clsRowsOnly ? x : layout.firstRows(of: x, width: H)
      pooled = poolerTanh.forward(pooler.forward(pooled, rows: B, training: training), training: training)
    }
    return pooled
  }

  /// Accumulates every parameter's gradient from `∂loss/∂logits` of the last training forward pass,
  /// plus optional extra gradients on `hiddenStates[i]` (intermediate distillation losses).
  public func backward(_ dLogits: [Float], hiddenGradients: [Int: [Float]] = [:]) {
    let H = config.hiddenSize, B = layout.count, T = layout.tokens
    let dPooled = classifierDropout.backward(classifier.backward(dLogits))
    if classifierPooling == .cls, layers.last?.firstRowOnly == true {
      // The last layer ran on the [CLS] rows only: its gradient is one row per sequence.
      precondition(hiddenGradients[layers.count] == nil, "TrainableBert: a gradient on the last hidden state needs lastLayerCLSOnly off")
      backwardEncoder(pooler.backward(poolerTanh.backward(dPooled)), hiddenGradients: hiddenGradients)
      return
    }
    var dx = [Float](repeating: 0, count: T * H)
    switch classifierPooling {
    case .mean:
      var dMean = dPooled
      if normalizePooled, let (n, norms) = normalized {
        // d(p/‖p‖) = (dn − n·(n·dn)) / ‖p‖
        for s in 0..<B {
          var dot: Float = 0
          for j in 0..<H { dot += n[s * H + j] * dPooled[s * H + j] }
          for j in 0..<H { dMean[s * H + j] = (dPooled[s * H + j] - n[s * H + j] * dot) / norms[s] }
        }
      }
      for s in 0..<B {
        let lo = layout.offsets[s], hi = lo + layout.length(s)
        let inv = 1 / Float(hi - lo)
        for t in lo..<hi { for j in 0..<H { dx[t * H + j] = dMean[s * H + j] * inv } }
      }
    case .cls:
      let dCLS = pooler.backward(poolerTanh.backward(dPooled))
      for s in 0..<B {
        let o = layout.offsets[s]
        for j in 0..<H { dx[o * H + j] = dCLS[s * H + j] }
      }
    }
    backwardEncoder(dx, hiddenGradients: hiddenGradients)
  }

  /// Accumulates the gradients of the embeddings and encoder layers from `∂loss/∂(final hidden states)`
  /// of the last training `encode` (nil: zero, e.g. an encoder trained only on intermediate losses),
  /// plus extra gradients on `hiddenStates[i]`. The pooler and classifier are untouched.
  public func backwardEncoder(_ dTop: [Float]?, hiddenGradients: [Int: [Float]] = [:]) {
    let topRows = layers.last?.firstRowOnly == true ? layout.count : layout.tokens
    var dx = dTop ?? [Float](repeating: 0, count: topRows * config.hiddenSize)
    for l in stride(from: layers.count - 1, through: 0, by: -1) {
      if let g = hiddenGradients[l + 1] { for i in dx.indices { dx[i] += g[i] } }
      dx = layers[l].backward(dx)
    }
    if let g = hiddenGradients[0] { for i in dx.indices { dx[i] += g[i] } }
    let dEmb = embeddingNorm.backward(embeddingDropout.backward(dx))
    wordEmbeddings.backward(dEmb)
    positionEmbeddings.backward(dEmb)
    tokenTypeEmbeddings.backward(dEmb)
  }

  /// Copies tensors by Hugging Face name: `get(name)` returns the values (or nil when absent);
  /// `rename` maps a student name to the source's name. Returns the names that were found.
  /// - Throws: `KDError(.model)` when a tensor has the wrong size.
  @discardableResult
  public func load(from get: (String) throws -> [Float]?, rename: (String) -> String = { $0 }, source: String) throws -> Set<String> {
    var found = Set<String>()
    for p in parameters {
      let n = rename(p.name)
      guard var v = try get(n) else { continue }
      if p === tokenTypeEmbeddings.table && v.count > p.count { v = Array(v[0..<p.count]) }
      if p === positionEmbeddings.table && v.count > p.count { v = Array(v[0..<p.count]) }
      guard v.count == p.count else {
        throw KDError(.model, "tensor has \(v.count) values; the student's \(p.name) needs \(p.count) (shape \(p.shape))", file: source, field: n)
      }
      p.value = v
      found.insert(p.name)
    }
    return found
  }
}

extension TrainableBert {
  /// A student initialised from a Hugging Face BERT teacher DistilBERT-style: the embeddings
  /// (position table cut to `maxTokens`), teacher layer `layerMap[i]` as student layer `i`, and the
  /// pooler when the teacher has one; the classifier is random from `seed`.
  ///
  /// - Throws: `KDError(.usage)` naming `--init` when the student does not fit the teacher (another
  ///   vocabulary, width, head count, feed-forward size, more layers than the teacher, a layer index
  ///   outside the teacher, more positions than the teacher has, or a non-BERT family).
  public static func fromTeacher(directory: String, config: TrainableBertConfig, layerMap: [Int], seed: UInt64) throws -> TrainableBert {
    let configPath = (directory as NSString).appendingPathComponent("config.json")
    let t = try BertConfig.load(path: configPath)
    func misfit(_ why: String) -> KDError {
      KDError(.usage, "--init teacher: \(why) (use --init random, or a student shaped like the teacher)", file: configPath, field: "--init")
    }
    let (family, _) = try t.family(path: configPath)
    guard family == .bert else { throw misfit("the teacher is \(family.rawValue); only BERT teachers can initialise a student") }
    guard t.vocabSize == config.vocabSize else {
      throw misfit("the teacher's vocabulary has \(t.vocabSize) tokens, the task's tokenizer \(config.vocabSize)")
    }
    guard config.layers <= t.numHiddenLayers else {
      throw misfit("the student has \(config.layers) layers, more than the teacher's \(t.numHiddenLayers)")
    }
    guard t.hiddenSize == config.hiddenSize else { throw misfit("hidden size \(config.hiddenSize) differs from the teacher's \(t.hiddenSize)") }
    guard t.numAttentionHeads == config.heads else { throw misfit("\(config.heads) heads differ from the teacher's \(t.numAttentionHeads)") }
    guard t.intermediateSize == config.intermediateSize else {
      throw misfit("intermediate size \(config.intermediateSize) differs from the teacher's \(t.intermediateSize)")
    }
    guard config.maxTokens <= t.maxPositionEmbeddings else {
      throw misfit("max tokens \(config.maxTokens) exceeds the teacher's \(t.maxPositionEmbeddings) positions")
    }
    guard layerMap.count == config.layers else { throw misfit("the layer map \(layerMap) has \(layerMap.count) entries for \(config.layers) layers") }
    for l in layerMap where l < 0 || l >= t.numHiddenLayers {
      throw misfit("layer \(l) of the layer map is outside the teacher's 0..<\(t.numHiddenLayers)")
    }
    var c = config
    c.layerNormEps = t.layerNormEps
    c.typeVocabSize = max(1, t.typeVocabSize)
    c.padTokenId = t.padTokenId
    let bert = try TrainableBert(config: c, seed: seed, encoderStd: 0)
    let path = (directory as NSString).appendingPathComponent("model.safetensors")
    let file = try SafetensorsFile(path: path)
    // Teachers name tensors `bert.…` (task models) or without the prefix (BertModel).
    let prefixed = file.tensors.keys.contains { $0.hasPrefix("bert.") }
    let found = try bert.load(from: { name in
      guard file.tensors[name] != nil else { return nil }
      return try file.floats(name)
    }, rename: { name in
      var n = name
      if n.hasPrefix("bert.encoder.layer."), let rest = n.split(separator: ".", maxSplits: 4).dropFirst(3).first,
         let i = Int(rest) {
        let tail = n.dropFirst("bert.encoder.layer.\(i)".count)
        n = "bert.encoder.layer.\(layerMap[i])" + tail
      }
      if n.hasPrefix("classifier") { return "\u{0}none" }
      return prefixed ? n : String(n.dropFirst("bert.".count))
    }, source: path)
    let needed = bert.parameters.map(\.name).filter { !$0.hasPrefix("bert.pooler") && !$0.hasPrefix("classifier") }
    for n in needed where !found.contains(n) {
      throw KDError(.model, "the teacher has no tensor for \(n)", file: path, field: n)
    }
    return bert
  }
}
