import ArgumentParser
import Foundation
import KDCore
import KDTrain

/// Flags of the transformer student (`--student transformer`), shared by `train` and `bench`.
struct TransformerFlags: ParsableArguments {
  @Option(help: "Transformer student: encoder layers.")
  var layers = 3
  @Option(name: .customLong("hidden-size"), help: "Transformer student: hidden size (default: the teacher's with --init teacher, else 256).")
  var hiddenSize: Int?
  @Option(help: "Transformer student: attention heads (default: the teacher's with --init teacher, else 4).")
  var heads: Int?
  @Option(name: .customLong("intermediate-size"), help: "Transformer student: feed-forward size (default: the teacher's, else 4 × hidden).")
  var intermediateSize: Int?
  @Option(help: "Transformer student: dropout of hidden states.")
  var dropout: Float = 0.1
  @Option(name: .customLong("init"), help: "Transformer student: teacher (copy embeddings and mapped teacher layers, DistilBERT-style) or random (seeded).")
  var initialization = "teacher"
  @Option(name: .customLong("init-from"), help: "Transformer student: Hugging Face BERT folder for --init teacher (default models/all-MiniLM-L6-v2).")
  var initFrom: String?
  @Option(name: .customLong("layer-map"), help: "Transformer student: teacher layer per student layer, 0-based, comma-separated (default evenly spread, e.g. 1,3,5 of 6).")
  var layerMap: String?
  @Option(name: .customLong("hidden-loss"), help: "Transformer student: weight of the hidden-state MSE against the teacher, online (TinyBERT; 0: off).")
  var hiddenLoss: Float = 0
  @Option(name: .customLong("attention-loss"), help: "Transformer student: weight of the last-layer attention KL against the teacher, online (MiniLM; 0: off).")
  var attentionLoss: Float = 0

  func options() throws -> TransformerOptions {
    var t = TransformerOptions()
    t.layers = layers
    t.hiddenSize = hiddenSize
    t.heads = heads
    t.intermediateSize = intermediateSize
    t.dropout = dropout
    t.initialization = initialization
    t.teacherDirectory = initFrom
    if let m = layerMap { t.layerMap = try parseLayerMap(m) }
    t.hiddenLoss = hiddenLoss
    t.attentionLoss = attentionLoss
    try t.validate()
    return t
  }
}

/// `--layer-map 1,3,5`: 0-based teacher layers, one per student layer (kd-train --student
/// transformer and kd-train encoder).
/// - Throws: `KDError(.usage)` naming `--layer-map` when an entry is not a non-negative integer.
func parseLayerMap(_ m: String) throws -> [Int] {
  let parts = m.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
  guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? -1) >= 0 }) else {
    throw KDError(.usage, "0-based teacher layers expected, e.g. 1,3,5 (got '\(m)')", field: "--layer-map")
  }
  return parts.compactMap { $0 }
}
