import Foundation
import KDCore
import KDTokenizers

/// Uses a trained student: tokenizes text with the checkpoint's tokenizer and returns class probabilities.
///
/// For example:
/// ```swift
/// let p = try Predictor(checkpoint: "kd-models/banking77/kd/best")
/// let probs = p.probabilities(for: ["I lost my card"])[0]
/// ```
public final class Predictor {
  public let checkpoint: StudentCheckpoint
  public let tokenizer: Tokenizer
  public var labels: [String] { checkpoint.labels }

  /// - Throws: `KDError` when the folder is not a student checkpoint or has no tokenizer.
  public init(checkpoint path: String, tokenizerPath: String? = nil) throws {
    checkpoint = try StudentCheckpoint.load(path: path)
    guard let tok = tokenizerPath ?? checkpoint.tokenizerPath else {
      throw KDError(.input, "the checkpoint has no tokenizer.json; pass --tokenizer", file: path)
    }
    tokenizer = try Tokenizer.load(path: tok)
  }

  /// Token ids as the pipeline stores them: special tokens, no truncation or padding, cut to the model's max tokens
  /// as the loader cuts them for this student (`TokenCut`).
  public func tokenize(_ text: String) -> [Int32] {
    var ids = tokenizer.encode(text, addSpecialTokens: true, truncation: nil, padding: nil).ids
    TokenCut.cut(&ids, to: checkpoint.config.maxTokens, keepingLast: checkpoint.config.kind == "transformer")
    let v = Int32(checkpoint.config.vocabSize)
    return ids.filter { $0 >= 0 && $0 < v }
  }

  /// Class probabilities for each text.
  public func probabilities(for texts: [String]) -> [[Float]] {
    let batch = Batch.of(tokens: texts.map(tokenize), numClasses: checkpoint.config.numClasses)
    let logits = checkpoint.model.forward(batch, training: false)
    let p = softmaxRows(logits, classes: checkpoint.config.numClasses)
    let c = checkpoint.config.numClasses
    return (0..<texts.count).map { Array(p[($0 * c)..<(($0 + 1) * c)]) }
  }
}
