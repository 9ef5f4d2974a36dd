import Foundation

/// The `kd-train predict --json` line: one object per input line.
enum PredictionJSON {
  /// `{"text", "label", "probabilities": {label: p}, "model", "student", "top": [{"label", "probability"}]}`.
  static func object(text: String, probabilities p: [Float], labels: [String], order: [Int], top k: Int,
                     model: String, student: String) -> [String: Any] {
    var all: [String: Any] = [:]
    for (c, name) in labels.enumerated() { all[name] = Double(p[c]) }
    let topLabels = order.prefix(k).map { ["label": labels[$0], "probability": Double(p[$0])] as [String: Any] }
    return ["text": text, "label": labels[order[0]], "probabilities": all, "model": model, "student": student,
            "top": topLabels]
  }
}
