import Foundation
import KDCore

/// The encoder families the runtime implements.
public enum EncoderFamily: String, Sendable, Codable {
  case bert, roberta, distilbert
}

/// A BERT-family `config.json`, normalised across BERT, RoBERTa and DistilBERT
/// (DistilBERT's `dim`/`n_layers`/`n_heads`/`hidden_dim` map onto the BERT names).
public struct BertConfig: Decodable, Sendable, Equatable {
  public var modelType: String
  public var architectures: [String]
  public var hiddenSize: Int
  public var numHiddenLayers: Int
  public var numAttentionHeads: Int
  public var intermediateSize: Int
  public var hiddenAct: String
  public var maxPositionEmbeddings: Int
  public var typeVocabSize: Int
  public var vocabSize: Int
  public var layerNormEps: Float
  public var padTokenId: Int
  public var positionEmbeddingType: String
  /// `id2label` with integer keys; empty when absent.
  public var id2label: [Int: String]

  enum Keys: String, CodingKey {
    case model_type, architectures, hidden_size, num_hidden_layers, num_attention_heads,
      intermediate_size, hidden_act, max_position_embeddings, type_vocab_size, vocab_size,
      layer_norm_eps, pad_token_id, position_embedding_type, id2label
    case dim, n_layers, n_heads, hidden_dim, activation
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: Keys.self)
    modelType = try c.decodeIfPresent(String.self, forKey: .model_type) ?? "bert"
    architectures = try c.decodeIfPresent([String].self, forKey: .architectures) ?? []
    let distil = modelType == "distilbert"
    func int(_ k: Keys, _ alt: Keys) throws -> Int {
      if let v = try c.decodeIfPresent(Int.self, forKey: k) { return v }
      if distil, let v = try c.decodeIfPresent(Int.self, forKey: alt) { return v }
      throw DecodingError.keyNotFound(k, .init(codingPath: c.codingPath, debugDescription: "missing \(k.rawValue)"))
    }
    hiddenSize = try int(.hidden_size, .dim)
    numHiddenLayers = try int(.num_hidden_layers, .n_layers)
    numAttentionHeads = try int(.num_attention_heads, .n_heads)
    intermediateSize = try int(.intermediate_size, .hidden_dim)
    hiddenAct = try c.decodeIfPresent(String.self, forKey: .hidden_act)
      ?? c.decodeIfPresent(String.self, forKey: .activation) ?? "gelu"
    maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .max_position_embeddings) ?? 512
    typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .type_vocab_size) ?? (distil ? 0 : 2)
    vocabSize = try c.decode(Int.self, forKey: .vocab_size)
    layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layer_norm_eps) ?? 1e-12
    padTokenId = try c.decodeIfPresent(Int.self, forKey: .pad_token_id) ?? 0
    positionEmbeddingType = try c.decodeIfPresent(String.self, forKey: .position_embedding_type) ?? "absolute"
    var labels: [Int: String] = [:]
    if let raw = try c.decodeIfPresent([String: String].self, forKey: .id2label) {
      for (k, v) in raw {
        guard let i = Int(k) else {
          throw DecodingError.dataCorruptedError(forKey: .id2label, in: c, debugDescription: "id2label key \"\(k)\" is not an integer")
        }
        labels[i] = v
      }
    }
    id2label = labels
  }

  /// A BERT (`BertModel`, GELU, absolute positions) of the given shape, for a model built in memory.
  init(hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int, maxPositions: Int, typeVocabSize: Int,
       vocabSize: Int, layerNormEps: Float, padTokenId: Int) {
    modelType = "bert"
    architectures = ["BertModel"]
    self.hiddenSize = hiddenSize
    numHiddenLayers = layers
    numAttentionHeads = heads
    self.intermediateSize = intermediateSize
    hiddenAct = "gelu"
    maxPositionEmbeddings = maxPositions
    self.typeVocabSize = typeVocabSize
    self.vocabSize = vocabSize
    self.layerNormEps = layerNormEps
    self.padTokenId = padTokenId
    positionEmbeddingType = "absolute"
    id2label = [:]
  }

  /// Reads and validates `config.json`.
  /// - Throws: `KDError(.model)` naming the file and field when it is missing,
  ///   not JSON, or inconsistent (hidden size not divisible by the head count, …).
  public static func load(path: String) throws -> BertConfig {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw KDError(.io, "cannot read config.json", file: path)
    }
    let config: BertConfig
    do {
      config = try JSONDecoder().decode(BertConfig.self, from: data)
    } catch let DecodingError.keyNotFound(key, _) {
      throw KDError(.model, "missing required field", file: path, field: key.stringValue)
    } catch let DecodingError.typeMismatch(_, ctx) {
      throw KDError(.model, "wrong type: \(ctx.debugDescription)", file: path, field: ctx.codingPath.map(\.stringValue).joined(separator: "."))
    } catch let DecodingError.dataCorrupted(ctx) {
      throw KDError(.model, "invalid: \(ctx.debugDescription)", file: path, field: ctx.codingPath.map(\.stringValue).joined(separator: ".").nilIfEmpty)
    } catch {
      throw KDError(.model, "cannot decode config.json: \(error)", file: path)
    }
    try config.validate(path: path)
    return config
  }

  func validate(path: String) throws {
    func bad(_ field: String, _ msg: String) -> KDError { KDError(.model, msg, file: path, field: field) }
    guard hiddenSize > 0 else { throw bad("hidden_size", "must be positive, got \(hiddenSize)") }
    guard numHiddenLayers > 0 else { throw bad("num_hidden_layers", "must be positive, got \(numHiddenLayers)") }
    guard numAttentionHeads > 0, hiddenSize % numAttentionHeads == 0 else {
      throw bad("num_attention_heads", "hidden_size \(hiddenSize) is not divisible by \(numAttentionHeads) heads")
    }
    guard intermediateSize > 0 else { throw bad("intermediate_size", "must be positive") }
    guard vocabSize > 0 else { throw bad("vocab_size", "must be positive") }
    guard maxPositionEmbeddings > 0 else { throw bad("max_position_embeddings", "must be positive") }
    guard hiddenAct == "gelu" else {
      throw KDError(.unsupported, "activation \"\(hiddenAct)\" is not supported (only exact \"gelu\")", file: path, field: "hidden_act")
    }
    guard positionEmbeddingType == "absolute" else {
      throw KDError(.unsupported, "position_embedding_type \"\(positionEmbeddingType)\" is not supported (only \"absolute\")", file: path, field: "position_embedding_type")
    }
  }

  /// The family and whether the checkpoint is expected to carry a sequence-classification head.
  /// - Throws: `KDError(.unsupported)` for anything but the BERT, RoBERTa and DistilBERT encoders.
  public func family(path: String) throws -> (EncoderFamily, hasClassifier: Bool) {
    let supported: [String: (EncoderFamily, Bool)] = [
      "BertModel": (.bert, false), "BertForSequenceClassification": (.bert, true),
      "BertForMaskedLM": (.bert, false), "BertForPreTraining": (.bert, false),
      "RobertaModel": (.roberta, false), "RobertaForSequenceClassification": (.roberta, true),
      "RobertaForMaskedLM": (.roberta, false), "XLMRobertaModel": (.roberta, false),
      "XLMRobertaForSequenceClassification": (.roberta, true),
      "DistilBertModel": (.distilbert, false), "DistilBertForSequenceClassification": (.distilbert, true),
      "DistilBertForMaskedLM": (.distilbert, false),
    ]
    if let arch = architectures.first {
      guard let f = supported[arch] else {
        throw KDError(.unsupported, "architecture \(arch) is not supported (supported: \(supported.keys.sorted().joined(separator: ", ")))", file: path, field: "architectures")
      }
      return f
    }
    switch modelType {
    case "bert": return (.bert, false)
    case "roberta", "xlm-roberta": return (.roberta, false)
    case "distilbert": return (.distilbert, false)
    default:
      throw KDError(.unsupported, "model_type \(modelType) is not supported (bert, roberta, distilbert)", file: path, field: "model_type")
    }
  }
}

extension String {
  var nilIfEmpty: String? { isEmpty ? nil : self }
}
