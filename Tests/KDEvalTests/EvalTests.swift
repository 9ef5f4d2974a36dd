import Foundation
import KDEval
import Testing

@Suite struct EvalTests {
  /// Underconfident logits (a many-class head fitted with strong L2): the fitted temperature
  /// recovers the scale and brings ECE down; predictions do not change.
  @Test func temperatureScalingFixesAnUnderconfidentModel() throws {
    var state: UInt64 = 42
    func unit() -> Double {
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Double(state >> 11) / Double(1 << 53)
    }
    let classes = 30
    var logits: [[Float]] = []
    var labels: [Int] = []
    for _ in 0..<1500 {
      // A well-calibrated model's logits (sampled labels) scaled down by 4: underconfident.
      let z = (0..<classes).map { _ in Float(unit() * 6 - 3) } .enumerated().map { $0.offset == 0 ? $0.element + 4 : $0.element }
      let p = TemperatureScaling.probabilities(z)
      var u = Float(unit())
      var y = classes - 1
      for (j, q) in p.enumerated() {
        u -= q
        if u <= 0 { y = j; break }
      }
      logits.append(z.map { $0 / 4 })
      labels.append(y)
    }
    let before = TemperatureScaling.evaluation(logits: logits, labels: labels, temperature: 1, classes: classes)
    let t = try #require(TemperatureScaling.fit(logits: logits, labels: labels))
    #expect(abs(t - 0.25) < 0.03, "fitted T \(t)")
    let after = TemperatureScaling.evaluation(logits: logits, labels: labels, temperature: t, classes: classes)
    #expect(try #require(before.ece) > 0.3)
    #expect(try #require(after.ece) < 0.05)
    #expect(after.confusion == before.confusion)
    #expect(TemperatureScaling.negativeLogLikelihood(logits: logits, labels: labels, temperature: t)
            < TemperatureScaling.negativeLogLikelihood(logits: logits, labels: labels, temperature: 1))
    // Too few rows: no fit.
    #expect(TemperatureScaling.fit(logits: Array(logits.prefix(5)), labels: Array(labels.prefix(5))) == nil)
  }

  @Test func metricsHaveOneDefinition() {
    var e = ClassificationEvaluation(classes: 3)
    e.add(gold: 0, predicted: 0, confidence: 0.9)
    e.add(gold: 1, predicted: 0, confidence: 0.6)
    e.add(gold: 2, predicted: 2, confidence: 0.95)
    e.add(gold: 5, predicted: 0, confidence: 0.5)  // out of range: ignored
    #expect(e.examples == 3)
    #expect(abs(e.accuracy - 2.0 / 3) < 1e-12)
    // F1: class 0: 2·1/(1+2) = 2/3; class 1: 0; class 2: 1 → mean 5/9.
    #expect(abs(e.macroF1 - 5.0 / 9) < 1e-12)
    // ECE: bins (0.9 → 13: conf .9 acc 1), (0.6 → 9: .6 acc 0), (0.95 → 14: .95 acc 1).
    #expect(abs((e.ece ?? 0) - (0.1 + 0.6 + 0.05) / 3) < 1e-12)
    var acc = MetricsAccumulator(numClasses: 3)
    acc.add(probabilities: [0.9, 0.05, 0.05], label: 0, teacherClass: 0)
    acc.add(probabilities: [0.6, 0.3, 0.1], label: 1, teacherClass: 1)
    acc.add(probabilities: [0.025, 0.025, 0.95], label: 2, teacherClass: 2)
    let m = acc.result()
    #expect(abs(m.macroF1 - e.macroF1) < 1e-12 && abs(m.ece - (e.ece ?? 0)) < 1e-6 && m.accuracy == e.accuracy)
    #expect(abs((m.teacherAgreement ?? 0) - 2.0 / 3) < 1e-12)
  }
}
