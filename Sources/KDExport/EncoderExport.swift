import Foundation
import KDCore
import KDModels
import KDTensor

/// Writes a domain-distilled encoder (`kd-train encoder`) as a Hugging Face `BertModel` folder:
/// config.json (`model_type` bert, `architectures` BertModel), model.safetensors under BertModel's
/// names (`embeddings.…`, `encoder.layer.N.…`, `pooler.dense.…`; no classifier), the teacher's
/// tokenizer files, and the teacher's sentence-transformers files when it has them (modules.json,
/// 1_Pooling, sentence_bert_config.json), sized for the encoder.
///
/// The folder serves as `kd-train --student transformer --init teacher --init-from DIR` and as
/// `kd-teacher-cache --teacher DIR` (an encoder teacher: a head is fitted on its pooled embeddings).
public enum EncoderExport {
  /// Refuses an output folder that is the source (teacher) folder or inside it: the teacher is only read.
  /// `kd-train encoder` calls it before training, `write` again before writing.
  /// - Throws: `KDError(.usage)` naming `--out`.
  public static func checkOutput(_ out: String, source: String) throws {
    let src = resolved(source), dst = resolved(out)
    if dst == src || dst.hasPrefix(src + "/") {
      throw KDError(.usage, "the output must not be the teacher folder or inside it (the teacher is only read)", file: out, field: "--out")
    }
  }

  /// The absolute path with every symbolic link resolved, also for a path that does not exist yet
  /// (its deepest existing ancestor is resolved: `resolvingSymlinksInPath` leaves a missing path as it is,
  /// so `models/teacher-link/out` would not be seen to lie inside the teacher).
  static func resolved(_ path: String) -> String {
    var url = URL(fileURLWithPath: path).standardizedFileURL
    var tail: [String] = []
    while !FileManager.default.fileExists(atPath: url.path) && url.pathComponents.count > 1 {
      tail.insert(url.lastPathComponent, at: 0)
      url.deleteLastPathComponent()
    }
    var p = url.resolvingSymlinksInPath().path
    for c in tail { p = (p as NSString).appendingPathComponent(c) }
    return p
  }

  /// Writes `bert`'s encoder to `out` atomically; returns the file names written.
  /// - Parameters:
  ///   - provenance: extra `config.json` keys (`kd_…`: teacher, layer map, domains).
  ///   - head: a classifier on the mean-pooled embedding (a fine-tuned teacher with `--pooling mean`):
  ///     written as a sentence-transformers Dense module after mean pooling (and `Normalize` when
  ///     `bert.normalizePooled`), labels in `id2label`.
  /// - Throws: `KDError(.usage)` naming the file when the source has no tokenizer, or when `out` is the
  ///   source folder or inside it.
  @discardableResult
  public static func write(bert: TrainableBert, source: String, out: String, provenance: [String: Any] = [:],
                           head: (labels: [String], weight: [Float], bias: [Float])? = nil) throws -> [String] {
    let fm = FileManager.default
    try checkOutput(out, source: source)
    let srcConfig = try BertConfig.load(path: (source as NSString).appendingPathComponent("config.json"))
    let c = bert.config
    var config: [String: Any] = [
      "architectures": ["BertModel"],
      "model_type": "bert",
      "hidden_size": c.hiddenSize,
      "num_hidden_layers": c.layers,
      "num_attention_heads": c.heads,
      "intermediate_size": c.intermediateSize,
      "hidden_act": srcConfig.hiddenAct,
      "hidden_dropout_prob": 0.1,
      "attention_probs_dropout_prob": 0.1,
      "max_position_embeddings": c.maxTokens,
      "type_vocab_size": c.typeVocabSize,
      "vocab_size": c.vocabSize,
      "layer_norm_eps": Double("\(c.layerNormEps)") ?? Double(c.layerNormEps),  // 1e-12, not 9.99999996e-13
      "pad_token_id": c.padTokenId,
      "position_embedding_type": "absolute",
      "initializer_range": 0.02,
      "torch_dtype": "float32",
      "use_cache": true,
      "kd_distilled_from": (source as NSString).lastPathComponent,
    ]
    for (k, v) in provenance { config[k] = v }
    var files: [String: Data] = ["config.json": try HuggingFaceExport.json(config)]
    guard let tok = ["tokenizer.json", "vocab.txt"].map({ (source as NSString).appendingPathComponent($0) }).first(where: { fm.fileExists(atPath: $0) }),
      let tokData = fm.contents(atPath: tok)
    else {
      throw KDError(.usage, "the teacher folder has no tokenizer.json or vocab.txt; the encoder ships the teacher's tokenizer",
                    file: source, field: "--teacher")
    }
    let info = try TokenizerInfo(path: tok, data: tokData)
    files[(tok as NSString).lastPathComponent] = tokData
    if let vocab = info.vocabTxt { files["vocab.txt"] = vocab }
    files["tokenizer_config.json"] = try HuggingFaceExport.json(info.tokenizerConfig(maxLength: c.maxTokens))
    files["special_tokens_map.json"] = try HuggingFaceExport.json(info.specialTokens)
    // sentence-transformers: the same pipeline (pooling, normalisation) at the encoder's width and length.
    func object(_ name: String) -> [String: Any]? {
      fm.contents(atPath: (source as NSString).appendingPathComponent(name))
        .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }
    var st = object("sentence_bert_config.json") ?? [:]
    st["max_seq_length"] = min(st["max_seq_length"] as? Int ?? c.maxTokens, c.maxTokens)
    if let head {
      // A classifier on the mean-pooled embedding: Transformer → Pooling (mean) → [Normalize] → Dense (identity),
      // so `SentenceTransformer(out).encode(texts)` returns the logits; id2label names them.
      var cfg = config
      cfg["kd_distilled_from"] = nil
      cfg["id2label"] = Dictionary(uniqueKeysWithValues: head.labels.enumerated().map { ("\($0.offset)", $0.element) })
      cfg["label2id"] = Dictionary(uniqueKeysWithValues: head.labels.enumerated().map { ($0.element, $0.offset) })
      files["config.json"] = try HuggingFaceExport.json(cfg)
      var modules: [[String: Any]] = [
        ["idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"],
        ["idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"],
      ]
      if bert.normalizePooled {
        modules.append(["idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"])
      }
      let dense = "\(modules.count)_Dense"
      modules.append(["idx": modules.count, "name": "\(modules.count)", "path": dense, "type": "sentence_transformers.models.Dense"])
      files["modules.json"] = try JSONSerialization.data(withJSONObject: modules, options: [.prettyPrinted, .sortedKeys])
      files["1_Pooling/config.json"] = try HuggingFaceExport.json([
        "word_embedding_dimension": c.hiddenSize, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true,
        "pooling_mode_max_tokens": false, "pooling_mode_mean_sqrt_len_tokens": false,
      ])
      files["sentence_bert_config.json"] = try HuggingFaceExport.json(st)
      files[dense + "/config.json"] = try HuggingFaceExport.json([
        "in_features": c.hiddenSize, "out_features": head.labels.count, "bias": true,
        "activation_function": "torch.nn.modules.linear.Identity",
      ])
      files[dense + "/model.safetensors"] = try SafetensorsWriter.encode([
        .init(name: "linear.weight", shape: [head.labels.count, c.hiddenSize], values: head.weight),
        .init(name: "linear.bias", shape: [head.labels.count], values: head.bias),
      ], metadata: ["format": "pt"])
    } else if let modules = fm.contents(atPath: (source as NSString).appendingPathComponent("modules.json")),
      let list = try? JSONSerialization.jsonObject(with: modules) as? [[String: Any]],
      var pooling = object("1_Pooling/config.json")
    {
      // The encoder's pipeline: Transformer, Pooling, Normalize; not a classifier head the source may carry
      // (a `kd-train teacher --pooling mean` folder's 2_Dense).
      let kept = list.filter { m in ["Transformer", "Pooling", "Normalize"].contains { SentenceTransformersFolder.isModule(m, $0) } }
      files["modules.json"] = kept.count == list.count
        ? modules
        : try JSONSerialization.data(withJSONObject: kept.enumerated().map { i, m -> [String: Any] in
          var m = m
          m["idx"] = i
          m["name"] = "\(i)"
          return m
        }, options: [.prettyPrinted, .sortedKeys])
      pooling["word_embedding_dimension"] = c.hiddenSize
      files["1_Pooling/config.json"] = try HuggingFaceExport.json(pooling)
      files["sentence_bert_config.json"] = try HuggingFaceExport.json(st)
      if let d = fm.contents(atPath: (source as NSString).appendingPathComponent("config_sentence_transformers.json")) {
        files["config_sentence_transformers.json"] = d
      }
    }
    let weights = bert.encoderParameters.map {
      SafetensorsWriter.Tensor(name: $0.name.hasPrefix("bert.") ? String($0.name.dropFirst(5)) : $0.name, shape: $0.shape, values: $0.value)
    }
    try OutputFolder.write(path: out, files: files, weights: weights)
    return (Array(files.keys) + ["model.safetensors"]).sorted()
  }
}
