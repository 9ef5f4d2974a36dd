import Foundation
import KDCore

/// The architecture of a transformer student: exactly `BertForSequenceClassification`
/// (embeddings + LayerNorm, post-LN encoder layers with exact GELU, `[CLS]` →
/// pooler dense + tanh → classifier), with weights under the Hugging Face names.
public struct TransformerShape: Equatable, Sendable {
  public var layers: Int
  public var hiddenSize: Int
  public var heads: Int
  public var intermediateSize: Int
  /// Max position embeddings (kd's `maxTokens`).
  public var maxPositions: Int
  public var vocabSize: Int
  public var typeVocabSize: Int
  public var layerNormEps: Double
  public var hiddenAct: String
  public var padTokenId: Int
  public var numClasses: Int

  public var headSize: Int { hiddenSize / heads }
}

/// One Hugging Face tensor of a BERT classifier, in the order written.
struct NamedTensor {
  let name: String
  let shape: [Int]
  let values: [Float]
}

/// A transformer student's config and weights, read from its folder.
struct TransformerStudent {
  let shape: TransformerShape
  /// Every tensor of `BertForSequenceClassification`, Hugging Face names, `[out, in]` Linear weights.
  let tensors: [String: NamedTensor]
  /// Names in the canonical order (embeddings, layers, pooler, classifier).
  let order: [String]
  /// Tensors in the file that are not part of the classifier (training-only heads), left out of exports.
  let extra: [String]

  /// The Hugging Face names of a BERT sequence classifier with `layers` layers.
  static func tensorNames(layers: Int) -> [String] {
    var n = ["bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
             "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
             "bert.embeddings.LayerNorm.bias"]
    for l in 0..<layers {
      let p = "bert.encoder.layer.\(l)."
      for s in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"] {
        n.append(p + s + ".weight")
        n.append(p + s + ".bias")
      }
    }
    n += ["bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"]
    return n
  }

  /// Reads the config (leniently: kd's camelCase names, snake_case, or Hugging Face names; sizes the
  /// config leaves out are taken from the tensor shapes) and every tensor, checking each shape.
  /// - Throws: `KDError(.input)` naming config.json and the field for a missing or inconsistent size,
  ///   `KDError(.model)` naming model.safetensors and the tensor for a missing tensor or wrong shape,
  ///   `KDError(.unsupported)` for an activation other than exact GELU.
  static func load(_ folder: StudentFolder) throws -> TransformerStudent {
    let w = try StudentWeights(path: folder.weightsPath)
    let cfg = folder.configPath
    func shapeOf(_ name: String) -> [Int]? { w.has(name) ? (try? w.shape(name)) : nil }
    let word = shapeOf("bert.embeddings.word_embeddings.weight")
    guard let word, word.count == 2 else {
      throw KDError(.model, "tensor bert.embeddings.word_embeddings.weight is missing: not a BERT-named transformer student",
                    file: folder.weightsPath, field: "bert.embeddings.word_embeddings.weight")
    }
    var layerCount = 0
    while w.has("bert.encoder.layer.\(layerCount).attention.self.query.weight") { layerCount += 1 }
    let layers = folder.optionalInt("layers", "numLayers", "num_layers", "num_hidden_layers") ?? layerCount
    let hidden = folder.optionalInt("hiddenSize", "hidden_size", "dimension") ?? word[1]
    guard let heads = folder.optionalInt("heads", "numHeads", "num_heads", "num_attention_heads") else {
      throw KDError(.input, "missing the number of attention heads", file: cfg, field: "student.heads")
    }
    let inter = folder.optionalInt("intermediateSize", "intermediate_size")
      ?? shapeOf("bert.encoder.layer.0.intermediate.dense.weight")?.first ?? 4 * hidden
    let maxPos = folder.optionalInt("maxPositions", "maxPositionEmbeddings", "max_position_embeddings", "maxTokens", "max_tokens")
      ?? shapeOf("bert.embeddings.position_embeddings.weight")?.first ?? 512
    let vocab = folder.optionalInt("vocabSize", "vocab_size") ?? word[0]
    let typeVocab = folder.optionalInt("typeVocabSize", "type_vocab_size")
      ?? shapeOf("bert.embeddings.token_type_embeddings.weight")?.first ?? 2
    let classes = folder.optionalInt("numClasses", "num_classes", "num_labels")
      ?? shapeOf("classifier.weight")?.first ?? folder.labels.count
    let act = folder.optionalString("hiddenAct", "hidden_act", "activation") ?? "gelu"
    let shape = TransformerShape(
      layers: layers, hiddenSize: hidden, heads: heads, intermediateSize: inter, maxPositions: maxPos, vocabSize: vocab,
      typeVocabSize: typeVocab, layerNormEps: folder.optionalDouble("layerNormEps", "layer_norm_eps") ?? 1e-12,
      hiddenAct: act, padTokenId: folder.optionalInt("padTokenId", "pad_token_id") ?? 0, numClasses: classes)
    guard layers > 0 else { throw KDError(.input, "layers must be positive, got \(layers)", file: cfg, field: "student.layers") }
    guard heads > 0, hidden % heads == 0 else {
      throw KDError(.input, "hidden size \(hidden) is not divisible by \(heads) heads", file: cfg, field: "student.heads")
    }
    guard classes > 1 else { throw KDError(.input, "a classifier needs at least 2 classes, got \(classes)", file: cfg, field: "student.numClasses") }
    guard act == "gelu" else {
      throw KDError(.unsupported, "activation \"\(act)\" cannot be exported (only exact \"gelu\", as BertForSequenceClassification)",
                    file: cfg, field: "student.hiddenAct")
    }
    guard layers == layerCount else {
      throw KDError(.model, "the config says \(layers) layers but the weights have \(layerCount)", file: folder.weightsPath,
                    field: "bert.encoder.layer.\(min(layers, layerCount))")
    }
    let H = hidden, I = inter
    var expected: [String: [Int]] = [
      "bert.embeddings.word_embeddings.weight": [vocab, H],
      "bert.embeddings.position_embeddings.weight": [maxPos, H],
      "bert.embeddings.token_type_embeddings.weight": [typeVocab, H],
      "bert.embeddings.LayerNorm.weight": [H], "bert.embeddings.LayerNorm.bias": [H],
      "bert.pooler.dense.weight": [H, H], "bert.pooler.dense.bias": [H],
      "classifier.weight": [classes, H], "classifier.bias": [classes],
    ]
    for l in 0..<layers {
      let p = "bert.encoder.layer.\(l)."
      for s in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
        expected[p + s + ".weight"] = [H, H]
        expected[p + s + ".bias"] = [H]
      }
      for s in ["attention.output.LayerNorm", "output.LayerNorm"] {
        expected[p + s + ".weight"] = [H]
        expected[p + s + ".bias"] = [H]
      }
      expected[p + "intermediate.dense.weight"] = [I, H]
      expected[p + "intermediate.dense.bias"] = [I]
      expected[p + "output.dense.weight"] = [H, I]
      expected[p + "output.dense.bias"] = [H]
    }
    let order = tensorNames(layers: layers)
    var tensors: [String: NamedTensor] = [:]
    for name in order {
      guard let s = expected[name] else { continue }
      tensors[name] = NamedTensor(name: name, shape: s, values: try w.floats(name, s))
    }
    let known = Set(order).union(["bert.embeddings.position_ids"])
    return TransformerStudent(shape: shape, tensors: tensors, order: order, extra: w.names.filter { !known.contains($0) })
  }

  func values(_ name: String) -> [Float] { tensors[name]?.values ?? [] }
}
