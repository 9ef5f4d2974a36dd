import Foundation
import KDCore
import KDModels
import KDTensor

/// Writes a fine-tuned teacher (`kd-train teacher`) as a Hugging Face
/// `BertForSequenceClassification` folder with the same writer as student exports:
/// config.json (with `id2label`), model.safetensors, the source teacher's tokenizer files.
/// kd-teacher-cache then uses the folder's own head (`pooler` → `classifier`).
/// A model fine-tuned with mean pooling is written as a sentence-transformers folder instead
/// (`BertModel` + mean `1_Pooling` + `2_Normalize` when the teacher normalises + a Dense classifier,
/// `id2label` in config.json), which
/// kd-teacher-cache reads as a head on the pooled embedding.
public enum FineTunedTeacherExport {
  /// Writes `bert` to `out` atomically (a temporary sibling folder, then a rename); returns the file names.
  /// The max positions of the folder are the trained `maxTokens` (the position table is cut there).
  /// - Throws: `KDError(.io)` naming the source when it has no tokenizer, `KDError(.usage)` when `out`
  ///   is the source folder or inside it.
  @discardableResult
  public static func write(bert: TrainableBert, source: String, labels: [String], out: String) throws -> [String] {
    let src = URL(fileURLWithPath: source).standardizedFileURL.resolvingSymlinksInPath().path
    let dst = URL(fileURLWithPath: out).standardizedFileURL.resolvingSymlinksInPath().path
    if dst == src || dst.hasPrefix(src + "/") {
      throw KDError(.usage, "the output must not be the teacher folder or inside it (fine-tuning never changes its source)",
                    file: out, field: "--out")
    }
    if bert.classifierPooling == .mean {
      // No Hugging Face task class reads a mean-pooled embedding: a sentence-transformers folder with a Dense head.
      return try EncoderExport.write(
        bert: bert, source: source, out: out, provenance: ["kd_finetuned_from": (source as NSString).lastPathComponent],
        head: (labels, bert.classifier.weight.value, bert.classifier.bias?.value ?? [Float](repeating: 0, count: labels.count)))
    }
    let srcConfig = try BertConfig.load(path: (source as NSString).appendingPathComponent("config.json"))
    let c = bert.config
    let shape = TransformerShape(
      layers: c.layers, hiddenSize: c.hiddenSize, heads: c.heads, intermediateSize: c.intermediateSize, maxPositions: c.maxTokens,
      vocabSize: c.vocabSize, typeVocabSize: c.typeVocabSize, layerNormEps: Double(c.layerNormEps), hiddenAct: srcConfig.hiddenAct,
      padTokenId: c.padTokenId, numClasses: c.numClasses)
    var files: [String: Data] = [:]
    var config = HuggingFaceExport.config(shape, labels: labels)
    config["finetuned_from"] = (source as NSString).lastPathComponent
    files["config.json"] = try HuggingFaceExport.json(config)
    var tok: String?
    for name in ["tokenizer.json", "vocab.txt"] {
      let p = (source as NSString).appendingPathComponent(name)
      if FileManager.default.fileExists(atPath: p) { tok = p; break }
    }
    guard let tok, let tokData = FileManager.default.contents(atPath: tok) else {
      throw KDError(.io, "the teacher folder has no tokenizer.json or vocab.txt", file: source, field: "tokenizer.json")
    }
    let info = try TokenizerInfo(path: tok, data: tokData)
    files[(tok as NSString).lastPathComponent] = tokData
    if let vocab = info.vocabTxt { files["vocab.txt"] = vocab }
    files["tokenizer_config.json"] = try HuggingFaceExport.json(info.tokenizerConfig(maxLength: c.maxTokens))
    files["special_tokens_map.json"] = try HuggingFaceExport.json(info.specialTokens)
    let weights = bert.parameters.map { SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, values: $0.value) }
    try OutputFolder.write(path: out, files: files, weights: weights)
    return (Array(files.keys) + ["model.safetensors"]).sorted()
  }
}
