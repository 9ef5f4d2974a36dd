import Foundation

/// Classification metrics over a split.
public struct ClassificationMetrics: Sendable, Codable, Equatable {
  public var examples: Int
  public var accuracy: Double
  /// Mean F1 over the classes that occur in the gold labels or the predictions.
  public var macroF1: Double
  /// F1 per class index (NaN-free: 0 when a class never occurs nor is predicted).
  public var perClassF1: [Double]
  /// Share of examples (with a teacher output) where the student's argmax equals the teacher's; nil without teacher.
  public var teacherAgreement: Double?
  /// Expected calibration error, 15 equal-width confidence bins.
  public var ece: Double
  /// Mean loss, when the caller computed one.
  public var loss: Double?
  /// Counts by gold (row) and predicted (column) class, for reports.
  public var confusion: [[Int]]?

  /// The value of a metric by name (`accuracy`, `macro_f1`, `ece`, `agreement`, `loss`).
  public func value(named name: String) -> Double? {
    switch name {
    case "accuracy": return accuracy
    case "macro_f1": return macroF1
    case "ece": return ece
    case "agreement": return teacherAgreement
    case "loss": return loss
    default: return nil
    }
  }

  /// Whether a larger value of the metric is better.
  public static func higherIsBetter(_ name: String) -> Bool { !(name == "ece" || name == "loss") }
  public static let selectable = ["macro_f1", "accuracy", "agreement", "ece", "loss"]
}

/// Accumulates predictions and computes `ClassificationMetrics`.
public struct MetricsAccumulator {
  public let numClasses: Int
  var confusion: [Int]  // gold × predicted
  var agreeing = 0
  var withTeacher = 0
  var binCount = [Int](repeating: 0, count: 15)
  var binConfidence = [Double](repeating: 0, count: 15)
  var binCorrect = [Int](repeating: 0, count: 15)
  var lossSum: Double = 0
  var lossCount = 0

  public init(numClasses: Int) {
    self.numClasses = numClasses
    confusion = [Int](repeating: 0, count: numClasses * numClasses)
  }

  /// Adds one example: the student's probabilities (length numClasses), its gold label, and the teacher's argmax if any.
  public mutating func add(probabilities p: ArraySlice<Float>, label: Int, teacherClass: Int?) {
    var best = 0
    var bestP = -Float.infinity
    for (j, x) in p.enumerated() where x > bestP {
      best = j
      bestP = x
    }
    if label >= 0 && label < numClasses {
      confusion[label * numClasses + best] += 1
      let bin = min(14, Int(Double(bestP) * 15))
      binCount[bin] += 1
      binConfidence[bin] += Double(bestP)
      if best == label { binCorrect[bin] += 1 }
    }
    if let t = teacherClass {
      withTeacher += 1
      if t == best { agreeing += 1 }
    }
  }

  public mutating func addLoss(_ loss: Float, count: Int) {
    lossSum += Double(loss) * Double(count)
    lossCount += count
  }

  public func result() -> ClassificationMetrics {
    let c = numClasses
    var total = 0
    var correct = 0
    var f1s: [Double] = []
    var per = [Double](repeating: 0, count: c)
    for k in 0..<c {
      var tp = 0, gold = 0, pred = 0
      for j in 0..<c {
        gold += confusion[k * c + j]
        pred += confusion[j * c + k]
      }
      tp = confusion[k * c + k]
      total += gold
      correct += tp
      if gold + pred > 0 {
        let f1 = 2 * Double(tp) / Double(gold + pred)
        per[k] = f1
        f1s.append(f1)
      }
    }
    var ece: Double = 0
    if total > 0 {
      for b in 0..<15 where binCount[b] > 0 {
        let acc = Double(binCorrect[b]) / Double(binCount[b])
        let conf = binConfidence[b] / Double(binCount[b])
        ece += Double(binCount[b]) / Double(total) * abs(acc - conf)
      }
    }
    return ClassificationMetrics(
      examples: total, accuracy: total > 0 ? Double(correct) / Double(total) : 0,
      macroF1: f1s.isEmpty ? 0 : f1s.reduce(0, +) / Double(f1s.count), perClassF1: per,
      teacherAgreement: withTeacher > 0 ? Double(agreeing) / Double(withTeacher) : nil, ece: ece,
      loss: lossCount > 0 ? lossSum / Double(lossCount) : nil,
      confusion: (0..<c).map { g in Array(confusion[(g * c)..<((g + 1) * c)]) })
  }
}
