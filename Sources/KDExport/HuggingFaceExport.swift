import Foundation
import KDCore
import KDTensor

/// Writes a transformer student as a Hugging Face `BertForSequenceClassification`
/// folder that `transformers.AutoModelForSequenceClassification.from_pretrained`
/// and `AutoTokenizer.from_pretrained` load offline, and `kd-teacher-cache --teacher` accepts:
///
/// - `config.json`: architecture, sizes, `id2label`/`label2id`;
/// - `model.safetensors`: fp32, Hugging Face names, metadata `format: pt`;
/// - `tokenizer.json` (copied), `tokenizer_config.json`, `special_tokens_map.json`,
///   and `vocab.txt` for WordPiece vocabularies (so the slow BERT tokenizer loads too).
enum HuggingFaceExport {
  /// The files of the folder, by name, and the weights of `model.safetensors`.
  static func files(student: TransformerStudent, folder: StudentFolder) throws
    -> (files: [String: Data], weights: [SafetensorsWriter.Tensor]) {
    let s = student.shape
    let labels = folder.labelNames(count: s.numClasses)
    var files: [String: Data] = [:]
    files["config.json"] = try json(config(s, labels: labels))
    let tensors = student.order.compactMap { student.tensors[$0] }.map {
      SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, values: $0.values)
    }
    guard let tok = folder.tokenizerPath, let tokData = FileManager.default.contents(atPath: tok) else {
      throw KDError(.input, "the student folder has no tokenizer.json or vocab.txt; a Hugging Face folder needs one",
                    file: folder.path, field: "tokenizer.json")
    }
    let info = try TokenizerInfo(path: tok, data: tokData)
    files[(tok as NSString).lastPathComponent] = tokData
    if let vocab = info.vocabTxt { files["vocab.txt"] = vocab }
    files["tokenizer_config.json"] = try json(info.tokenizerConfig(maxLength: s.maxPositions))
    files["special_tokens_map.json"] = try json(info.specialTokens)
    return (files, tensors)
  }

  /// `config.json` for `BertForSequenceClassification`.
  static func config(_ s: TransformerShape, labels: [String]) -> [String: Any] {
    var id2label: [String: String] = [:]
    var label2id: [String: Int] = [:]
    for (i, l) in labels.enumerated() {
      id2label[String(i)] = l
      label2id[l] = i
    }
    return [
      "architectures": ["BertForSequenceClassification"],
      "model_type": "bert",
      "hidden_size": s.hiddenSize,
      "num_hidden_layers": s.layers,
      "num_attention_heads": s.heads,
      "intermediate_size": s.intermediateSize,
      "hidden_act": s.hiddenAct,
      "hidden_dropout_prob": 0.1,
      "attention_probs_dropout_prob": 0.1,
      "classifier_dropout": NSNull(),
      "max_position_embeddings": s.maxPositions,
      "type_vocab_size": s.typeVocabSize,
      "vocab_size": s.vocabSize,
      "layer_norm_eps": s.layerNormEps,
      "pad_token_id": s.padTokenId,
      "position_embedding_type": "absolute",
      "initializer_range": 0.02,
      "id2label": id2label,
      "label2id": label2id,
      "problem_type": "single_label_classification",
      "torch_dtype": "float32",
      "use_cache": true,
    ]
  }

  static func json(_ object: Any) throws -> Data {
    var d = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    d.append(0x0a)
    return d
  }
}

/// What a `tokenizer.json` (or `vocab.txt`) says about its special tokens, casing and vocabulary.
struct TokenizerInfo {
  var isWordPiece = false
  var lowercase = true
  var stripAccents: Bool?
  var specialTokens: [String: String] = [:]
  var vocabTxt: Data?

  init(path: String, data: Data) throws {
    if path.hasSuffix("vocab.txt") {
      isWordPiece = true
      guard let text = String(data: data, encoding: .utf8) else {
        throw KDError(.input, "vocab.txt is not UTF-8", file: path)
      }
      let tokens = Set(text.split(whereSeparator: \.isNewline).map(String.init))
      pickSpecials(tokens)
      return
    }
    guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
      throw KDError(.input, "tokenizer.json is not a JSON object", file: path)
    }
    let model = root["model"] as? [String: Any]
    isWordPiece = (model?["type"] as? String) == "WordPiece"
    if let norm = root["normalizer"] as? [String: Any] {
      if norm["type"] as? String == "BertNormalizer" {
        lowercase = norm["lowercase"] as? Bool ?? true
        stripAccents = norm["strip_accents"] as? Bool
      } else {
        lowercase = Self.contains(norm, type: "Lowercase")
      }
    } else {
      lowercase = false
    }
    var tokens = Set<String>()
    if let added = root["added_tokens"] as? [[String: Any]] {
      for t in added where t["special"] as? Bool ?? false { if let c = t["content"] as? String { tokens.insert(c) } }
    }
    if isWordPiece, let vocab = model?["vocab"] as? [String: Int] {
      var byID = [String?](repeating: nil, count: (vocab.values.max() ?? -1) + 1)
      for (tok, id) in vocab where id >= 0 { byID[id] = tok }
      if byID.allSatisfy({ $0 != nil }) {
        vocabTxt = Data(byID.map { $0! + "\n" }.joined().utf8)
      }
      for t in ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"] where vocab[t] != nil { tokens.insert(t) }
    }
    pickSpecials(tokens)
  }

  private static func contains(_ node: [String: Any], type: String) -> Bool {
    if node["type"] as? String == type { return true }
    if let list = node["normalizers"] as? [[String: Any]] { return list.contains { contains($0, type: type) } }
    return false
  }

  private mutating func pickSpecials(_ tokens: Set<String>) {
    let roles: [(String, [String])] = [
      ("cls_token", ["[CLS]", "<s>"]), ("sep_token", ["[SEP]", "</s>"]), ("pad_token", ["[PAD]", "<pad>"]),
      ("unk_token", ["[UNK]", "<unk>"]), ("mask_token", ["[MASK]", "<mask>"]),
    ]
    for (role, names) in roles { if let n = names.first(where: tokens.contains) { specialTokens[role] = n } }
  }

  /// `tokenizer_config.json`: the BERT tokenizer class for WordPiece vocabularies, else the generic fast tokenizer.
  func tokenizerConfig(maxLength: Int) -> [String: Any] {
    var c: [String: Any] = specialTokens
    c["tokenizer_class"] = isWordPiece ? "BertTokenizer" : "PreTrainedTokenizerFast"
    c["model_max_length"] = maxLength
    c["clean_up_tokenization_spaces"] = true
    if isWordPiece {
      c["do_lower_case"] = lowercase
      c["tokenize_chinese_chars"] = true
      c["strip_accents"] = stripAccents.map { $0 as Any } ?? NSNull()
    }
    return c
  }
}
