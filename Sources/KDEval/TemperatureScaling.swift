import Foundation

/// Temperature scaling (Guo et al. 2017): one scalar T > 0 that divides a
/// model's logits, chosen to minimise the negative log-likelihood of held-out
/// labels. It changes confidences, never the predicted class.
public enum TemperatureScaling {
  /// The range searched (log-uniform).
  public static let range: ClosedRange<Double> = 0.05...20

  /// Fewest labelled rows a temperature is fitted on; below it the logits are left as they are (T = 1).
  public static let minimumExamples = 20

  /// Mean NLL of `labels` under softmax(logits / T). Rows: `logits[i]` over the classes; a label outside them is skipped.
  public static func negativeLogLikelihood(logits: [[Float]], labels: [Int], temperature t: Double) -> Double {
    var sum = 0.0
    var n = 0
    for (row, y) in zip(logits, labels) where y >= 0 && y < row.count && row[y].isFinite {
      var m = -Double.infinity
      for z in row { m = max(m, Double(z) / t) }
      var s = 0.0
      for z in row { s += exp(Double(z) / t - m) }
      sum += -(Double(row[y]) / t - m - log(s))
      n += 1
    }
    return n > 0 ? sum / Double(n) : .nan
  }

  /// The NLL-minimising temperature: golden-section search on log T over `range`
  /// (the NLL is convex in 1/T, so unimodal in log T), to a relative precision of about 1e-4.
  /// - Returns: nil with fewer than `minimumExamples` usable rows or non-finite logits.
  public static func fit(logits: [[Float]], labels: [Int]) -> Double? {
    // Rows whose gold class has a finite logit (top-k outputs store -inf for the classes left out).
    let usable = zip(logits, labels).filter { $0.1 >= 0 && $0.1 < $0.0.count && $0.0[$0.1].isFinite }
    guard usable.count >= minimumExamples,
      usable.allSatisfy({ !$0.0.contains(where: \.isNaN) && !$0.0.contains(.infinity) })
    else { return nil }
    let x = usable.map(\.0)
    let y = usable.map(\.1)
    func f(_ logT: Double) -> Double { negativeLogLikelihood(logits: x, labels: y, temperature: exp(logT)) }
    var a = log(range.lowerBound)
    var b = log(range.upperBound)
    let g = (sqrt(5.0) - 1) / 2
    var c = b - g * (b - a)
    var d = a + g * (b - a)
    var fc = f(c)
    var fd = f(d)
    while b - a > 1e-4 {
      if fc < fd {
        b = d
        d = c
        fd = fc
        c = b - g * (b - a)
        fc = f(c)
      } else {
        a = c
        c = d
        fc = fd
        d = a + g * (b - a)
        fd = f(d)
      }
    }
    return exp((a + b) / 2)
  }

  /// Softmax of one row of logits divided by `temperature`.
  public static func probabilities(_ logits: [Float], temperature: Double = 1) -> [Float] {
    var m = -Float.infinity
    let inv = Float(1 / temperature)
    for z in logits { m = max(m, z * inv) }
    var out = logits.map { Foundation.exp($0 * inv - m) }
    let s = out.reduce(0, +)
    for i in out.indices { out[i] /= s }
    return out
  }

  /// ECE of rows of logits divided by `temperature` against their labels (15 bins, `ClassificationEvaluation`).
  public static func evaluation(logits: [[Float]], labels: [Int], temperature: Double = 1, classes: Int)
    -> ClassificationEvaluation
  {
    var e = ClassificationEvaluation(classes: classes)
    for (row, y) in zip(logits, labels) where row.count == classes { e.add(gold: y, probabilities: probabilities(row, temperature: temperature)) }
    return e
  }
}
