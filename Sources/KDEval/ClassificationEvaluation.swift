import Foundation

/// One confidence bin of a reliability diagram.
public struct CalibrationBin: Equatable, Sendable {
  public var lower: Double
  public var upper: Double
  public var count = 0
  public var confidenceSum = 0.0
  public var correct = 0

  public init(lower: Double, upper: Double) {
    self.lower = lower
    self.upper = upper
  }

  public var accuracy: Double { count > 0 ? Double(correct) / Double(count) : 0 }
  public var meanConfidence: Double { count > 0 ? confidenceSum / Double(count) : 0 }
}

/// Confusion matrix, per-class F1 and calibration of single-label predictions:
/// the one place where kd computes accuracy, macro-F1 and ECE. kd-train
/// (`MetricsAccumulator`), its `--compare` teacher row and kd-report all use it.
///
/// - macro-F1 averages the classes that occur in the gold labels or the predictions;
/// - ECE uses 15 equal-width bins of the top-class probability, weighted by examples.
public struct ClassificationEvaluation: Equatable, Sendable {
  public static let calibrationBins = 15
  public let classes: Int
  /// `confusion[gold][predicted]`.
  public private(set) var confusion: [[Int]]
  public private(set) var bins: [CalibrationBin]

  public init(classes: Int) {
    self.classes = classes
    confusion = Array(repeating: Array(repeating: 0, count: classes), count: classes)
    let b = Self.calibrationBins
    bins = (0..<b).map { CalibrationBin(lower: Double($0) / Double(b), upper: Double($0 + 1) / Double(b)) }
  }

  /// Builds an evaluation from a finished confusion matrix (no calibration data).
  public init(confusion: [[Int]]) {
    self.init(classes: confusion.count)
    for (g, row) in confusion.enumerated() {
      for (p, c) in row.enumerated() where p < classes { self.confusion[g][p] = c }
    }
  }

  /// Adds one prediction; out-of-range classes are ignored.
  public mutating func add(gold: Int, predicted: Int, confidence: Double) {
    guard gold >= 0, gold < classes, predicted >= 0, predicted < classes else { return }
    confusion[gold][predicted] += 1
    let c = confidence.isFinite ? max(0, min(1, confidence)) : 0
    let b = min(Self.calibrationBins - 1, Int(c * Double(Self.calibrationBins)))
    bins[b].count += 1
    bins[b].confidenceSum += c
    if gold == predicted { bins[b].correct += 1 }
  }

  /// Adds one example from its class probabilities (argmax, top probability); returns the predicted class.
  @discardableResult
  public mutating func add<C: Collection>(gold: Int, probabilities p: C) -> Int where C.Element == Float {
    var best = 0
    var bestP = -Float.infinity
    for (j, x) in p.enumerated() where x > bestP {
      best = j
      bestP = x
    }
    add(gold: gold, predicted: best, confidence: Double(bestP))
    return best
  }

  public var examples: Int { confusion.reduce(0) { $0 + $1.reduce(0, +) } }
  public var correct: Int { (0..<classes).reduce(0) { $0 + confusion[$1][$1] } }
  public var accuracy: Double { examples > 0 ? Double(correct) / Double(examples) : 0 }

  /// Gold examples of each class.
  public var support: [Int] { confusion.map { $0.reduce(0, +) } }

  /// Predictions of each class.
  public var predicted: [Int] { (0..<classes).map { k in confusion.reduce(0) { $0 + $1[k] } } }

  /// F1 of each class; nil for a class that is neither in the gold labels nor predicted.
  public var perClassF1: [Double?] {
    let pred = predicted
    return (0..<classes).map { k in
      let gold = confusion[k].reduce(0, +)
      return gold + pred[k] > 0 ? 2 * Double(confusion[k][k]) / Double(gold + pred[k]) : nil
    }
  }

  public var macroF1: Double {
    let f = perClassF1.compactMap { $0 }
    return f.isEmpty ? 0 : f.reduce(0, +) / Double(f.count)
  }

  /// Expected calibration error; nil without calibration data.
  public var ece: Double? {
    let total = bins.reduce(0) { $0 + $1.count }
    guard total > 0 else { return nil }
    return bins.reduce(0.0) { $0 + Double($1.count) / Double(total) * abs($1.accuracy - $1.meanConfidence) }
  }

  /// Mean top-class probability; nil without calibration data.
  public var meanConfidence: Double? {
    let total = bins.reduce(0) { $0 + $1.count }
    guard total > 0 else { return nil }
    return bins.reduce(0.0) { $0 + $1.confidenceSum } / Double(total)
  }

  /// The share of rows predicted as the most predicted class (1 = a single class for every row).
  public var dominantPredictionShare: Double {
    let n = examples
    return n > 0 ? Double(predicted.max() ?? 0) / Double(n) : 0
  }

  /// A collapsed model: one class on more than `collapseShare` of the rows (with at least 2 classes
  /// in the gold labels), and on far more rows than that class has in the gold labels: more than
  /// its gold share plus half of the rest. A task whose majority class is itself above 90% (unfair
  /// clauses are ~9% of claudette's sentences) is not a collapse when the model predicts the
  /// majority about as often as it occurs; it is when the model swallows most of the other classes.
  public var isCollapsed: Bool {
    guard support.filter({ $0 > 0 }).count >= 2, dominantPredictionShare > Self.collapseShare,
      let top = predicted.indices.max(by: { predicted[$0] < predicted[$1] }) else { return false }
    let goldTotal = support.reduce(0, +)
    let goldShare = goldTotal > 0 ? Double(support[top]) / Double(goldTotal) : 0
    return dominantPredictionShare > goldShare + (1 - goldShare) / 2
  }

  /// Above this share of rows on one predicted class a model counts as collapsed.
  public static let collapseShare = 0.9
}
