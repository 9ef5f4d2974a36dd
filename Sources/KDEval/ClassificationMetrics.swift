import Foundation

/// Classification metrics over a split (kd-train's per-epoch and test summary).
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
  /// Mean top-class probability.
  public var meanConfidence: Double?
  /// Share of rows on the most predicted class; above 0.9 the model is flagged as collapsed.
  public var dominantPredictionShare: Double?
  /// One class predicted on more than 90% of the rows (`ClassificationEvaluation.isCollapsed`).
  public var collapsed: Bool?

  public init(examples: Int, accuracy: Double, macroF1: Double, perClassF1: [Double], teacherAgreement: Double?,
              ece: Double, loss: Double?, confusion: [[Int]]?, meanConfidence: Double? = nil,
              dominantPredictionShare: Double? = nil, collapsed: Bool? = nil) {
    self.examples = examples
    self.accuracy = accuracy
    self.macroF1 = macroF1
    self.perClassF1 = perClassF1
    self.teacherAgreement = teacherAgreement
    self.ece = ece
    self.loss = loss
    self.confusion = confusion
    self.meanConfidence = meanConfidence
    self.dominantPredictionShare = dominantPredictionShare
    self.collapsed = collapsed
  }

  /// Metrics of a finished evaluation.
  public init(_ e: ClassificationEvaluation, teacherAgreement: Double? = nil, loss: Double? = nil) {
    self.init(examples: e.examples, accuracy: e.accuracy, macroF1: e.macroF1, perClassF1: e.perClassF1.map { $0 ?? 0 },
              teacherAgreement: teacherAgreement, ece: e.ece ?? 0, loss: loss, confusion: e.confusion,
              meanConfidence: e.meanConfidence, dominantPredictionShare: e.dominantPredictionShare,
              collapsed: e.isCollapsed)
  }

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

/// Accumulates predictions and computes `ClassificationMetrics` (through `ClassificationEvaluation`).
public struct MetricsAccumulator {
  public let numClasses: Int
  public private(set) var evaluation: ClassificationEvaluation
  var agreeing = 0
  var withTeacher = 0
  var lossSum: Double = 0
  var lossCount = 0

  public init(numClasses: Int) {
    self.numClasses = numClasses
    evaluation = ClassificationEvaluation(classes: numClasses)
  }

  /// Adds one example: the student's probabilities (length numClasses), its gold label, and the teacher's argmax if any.
  public mutating func add(probabilities p: ArraySlice<Float>, label: Int, teacherClass: Int?) {
    let best = evaluation.add(gold: label, probabilities: p)
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
    ClassificationMetrics(evaluation, teacherAgreement: withTeacher > 0 ? Double(agreeing) / Double(withTeacher) : nil,
                          loss: lossCount > 0 ? lossSum / Double(lossCount) : nil)
  }
}
