import Foundation
import KDCore
import KDModels
import KDNN

/// The transformer fields of a `StudentConfig`, all present.
public struct TransformerFields: Sendable, Equatable {
  public var bertConfig: TrainableBertConfig

  init?(_ c: StudentConfig) {
    guard c.kind == "transformer", let l = c.layers, let h = c.hiddenSize, let nh = c.heads, let i = c.intermediateSize else { return nil }
    bertConfig = TrainableBertConfig(layers: l, hiddenSize: h, heads: nh, intermediateSize: i, maxTokens: c.maxTokens,
                                     vocabSize: c.vocabSize, typeVocabSize: c.typeVocabSize ?? 2,
                                     layerNormEps: c.layerNormEps ?? 1e-12, padTokenId: c.padTokenId ?? 0,
                                     numClasses: c.numClasses, dropout: c.dropout ?? 0.1)
  }
}

extension StudentConfig {
  /// A transformer student's config (the fields Hugging Face `BertConfig` needs, by kd's names).
  public static func transformer(_ b: TrainableBertConfig, initialization: String, initTeacher: String? = nil,
                                 layerMap: [Int]? = nil) -> StudentConfig {
    var c = StudentConfig(kind: "transformer", vocabSize: b.vocabSize, buckets: 0, dimension: b.hiddenSize,
                          numClasses: b.numClasses, maxTokens: b.maxTokens)
    c.layers = b.layers
    c.hiddenSize = b.hiddenSize
    c.heads = b.heads
    c.intermediateSize = b.intermediateSize
    c.typeVocabSize = b.typeVocabSize
    c.layerNormEps = b.layerNormEps
    c.hiddenAct = "gelu"
    c.padTokenId = b.padTokenId
    c.dropout = b.dropout
    c.initialization = initialization
    c.initTeacher = initTeacher
    c.layerMap = layerMap
    return c
  }
}

/// A small BERT student (`kd-train --student transformer`): KDModels' `TrainableBert`, exactly
/// Hugging Face's `BertForSequenceClassification`, so its `model.safetensors` carries Hugging
/// Face tensor names and shapes.
public final class TransformerStudent: StudentModel {
  public private(set) var config: StudentConfig
  public let bert: TrainableBert

  /// Random initialisation from `seed`.
  public init(config: StudentConfig, seed: UInt64) throws {
    guard let t = config.transformer else { throw KDError(.usage, "not a transformer student config", field: "--student") }
    bert = try TrainableBert(config: t.bertConfig, seed: seed)
    self.config = config
  }

  /// DistilBERT-style initialisation from a Hugging Face BERT teacher folder: embeddings and
  /// teacher layer `layerMap[i]` as layer `i` (the config records both); the teacher's
  /// LayerNorm eps, token-type count and pad id are taken over.
  public init(config: StudentConfig, teacherDirectory: String, layerMap: [Int], seed: UInt64) throws {
    guard let t = config.transformer else { throw KDError(.usage, "not a transformer student config", field: "--student") }
    bert = try TrainableBert.fromTeacher(directory: teacherDirectory, config: t.bertConfig, layerMap: layerMap, seed: seed)
    var c = StudentConfig.transformer(bert.config, initialization: "teacher", initTeacher: teacherDirectory, layerMap: layerMap)
    c.maxTokens = config.maxTokens
    self.config = c
  }

  public var parameters: [Parameter] { bert.parameters }

  static func sequences(_ batch: Batch) -> [[Int32]] {
    (0..<batch.count).map { Array(batch.tokens[batch.offsets[$0]..<batch.offsets[$0 + 1]]) }
  }

  public func forward(_ batch: Batch, training: Bool) -> [Float] {
    bert.forward(Self.sequences(batch), training: training)
  }

  /// Extra gradients on hidden states for the next `backward` (intermediate distillation losses).
  public var pendingHiddenGradients: [Int: [Float]] = [:]

  public func scaleLogits(by factor: Float) { bert.classifier.scaleOutput(by: factor) }

  public func backward(_ dLogits: [Float]) {
    bert.backward(dLogits, hiddenGradients: pendingHiddenGradients)
    pendingHiddenGradients = [:]
  }

  /// Evenly spread teacher layers for a shallower student, DistilBERT-style: the last teacher
  /// layer always, then every other one going down (6 → 3 gives [1, 3, 5]; 12 → 6 gives [1, 3, …, 11]).
  public static func defaultLayerMap(studentLayers s: Int, teacherLayers t: Int) -> [Int] {
    guard s > 0, t > 0 else { return [] }
    if s >= t { return Array(0..<s) }
    return (0..<s).map { i in t - 1 - (s - 1 - i) * t / s }
  }
}
