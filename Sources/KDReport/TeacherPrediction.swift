import Foundation
import KDEval
import KDStore

extension ClassificationEvaluation {
  /// The predicted class and its softmax probability of cached teacher logits divided by the
  /// teacher's calibration `temperature` (over the kept classes for top-k storage);
  /// nil when a logit is NaN or none is finite.
  public static func prediction(_ logits: TeacherLogits, temperature: Double = 1) -> (predicted: Int, confidence: Double)? {
    guard !logits.values.isEmpty, logits.values.count == logits.indices.count,
      !logits.values.contains(where: \.isNaN), temperature > 0, temperature.isFinite
    else { return nil }
    var best = 0
    for j in 1..<logits.values.count where logits.values[j] > logits.values[best] { best = j }
    let top = Double(logits.values[best]) / temperature
    guard top.isFinite else { return nil }
    var sum = 0.0
    for v in logits.values { sum += exp(Double(v) / temperature - top) }
    guard sum.isFinite, sum > 0 else { return nil }
    return (Int(logits.indices[best]), 1 / sum)
  }
}
