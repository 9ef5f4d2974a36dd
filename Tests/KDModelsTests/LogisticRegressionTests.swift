import Foundation
import KDCore
import KDTensor
import Testing

@testable import KDModels

/// A seeded, replayable generator (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }
  /// Standard normal (Box–Muller).
  mutating func normal() -> Float {
    let u = Double.random(in: Double.ulpOfOne..<1, using: &self), v = Double.random(in: 0..<1, using: &self)
    return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
  }
}

/// Gaussian blobs: class c has mean `separation · e_c` (plus shared noise dimensions).
func blobs(n: Int, d: Int, classes: Int, separation: Float, seed: UInt64) -> ([Float], [Int32]) {
  var rng = SeededGenerator(seed: seed)
  var x = [Float](), y = [Int32]()
  for i in 0..<n {
    let c = i % classes
    for j in 0..<d { x.append(rng.normal() + (j == c ? separation : 0)) }
    y.append(Int32(c))
  }
  return (x, y)
}

@Suite struct LogisticRegressionTests {
  @Test func gradientMatchesFiniteDifferences() {
    let (x, y) = blobs(n: 40, d: 5, classes: 3, separation: 1, seed: 7)
    let p = LogisticRegression.Problem(x: x, y: y, n: 40, d: 5, classes: 3, weight: [Float](repeating: 1, count: 40))
    var rng = SeededGenerator(seed: 3)
    let params = (0..<18).map { _ in rng.normal() * 0.3 }
    var g = [Float](repeating: 0, count: 18), scratch = [Float](repeating: 0, count: 120)
    _ = LogisticRegression.lossAndGradient(p, lambda: 0.1, params: params, grad: &g, z: &scratch)
    for k in 0..<18 {
      var plus = params, minus = params
      plus[k] += 1e-2
      minus[k] -= 1e-2
      var dummy = g
      let fp = LogisticRegression.lossAndGradient(p, lambda: 0.1, params: plus, grad: &dummy, z: &scratch)
      let fm = LogisticRegression.lossAndGradient(p, lambda: 0.1, params: minus, grad: &dummy, z: &scratch)
      let numeric = (fp - fm) / 2e-2
      #expect(abs(numeric - Double(g[k])) < 2e-3, "parameter \(k): analytic \(g[k]) numeric \(numeric)")
    }
  }

  @Test func fitsSeparableClassesAndChoosesOnValidation() throws {
    let (x, y) = blobs(n: 600, d: 16, classes: 4, separation: 3, seed: 11)
    let (vx, vy) = blobs(n: 200, d: 16, classes: 4, separation: 3, seed: 12)
    let strengths: [Float] = [1e-4, 1e-2, 1, 30]
    let head = try LogisticRegression.fit(features: x, labels: y, classes: 4, validation: (vx, vy),
                                          strengths: strengths, labelNames: ["a", "b", "c", "d"])
    let summary = try #require(head.fitSummary)
    #expect(summary.candidates.count == 4)
    #expect(summary.candidates.allSatisfy { $0.converged })
    let bestLogLoss = summary.candidates.compactMap(\.validationLogLoss).min() ?? -1
    let chosen = try #require(summary.candidates.first { $0.strength == summary.strength })
    #expect(chosen.validationLogLoss == bestLogLoss)
    #expect(summary.strength != 30, "a very strong penalty must not win on separable data: \(summary.candidates)")
    let z = head.logits(vx, rows: vy.count)
    var pred = [Int32]()
    for i in 0..<vy.count {
      let row = z[(i * 4)..<(i * 4 + 4)]
      pred.append(Int32(row.firstIndex(of: row.max()!)! - i * 4))
    }
    let f1 = LogisticRegression.macroF1(predicted: pred, truth: vy, classes: 4)
    #expect(f1 > 0.9, "validation macro-F1 \(f1)")
    // Deterministic: the same inputs give bit-identical heads.
    let again = try LogisticRegression.fit(features: x, labels: y, classes: 4, validation: (vx, vy),
                                           strengths: strengths, labelNames: ["a", "b", "c", "d"])
    #expect(again == head)
  }

  @Test func strongerPenaltyShrinksWeights() throws {
    let (x, y) = blobs(n: 200, d: 6, classes: 2, separation: 2, seed: 5)
    let weak = try LogisticRegression.fit(features: x, labels: y, classes: 2, validation: nil, strengths: [1e-3])
    let strong = try LogisticRegression.fit(features: x, labels: y, classes: 2, validation: nil, strengths: [10])
    let norm = { (h: LinearHead) in h.weight.reduce(0) { $0 + $1 * $1 } }
    #expect(norm(strong) < norm(weak) / 10)
  }

  @Test func rejectsBadInput() {
    let (x, y) = blobs(n: 10, d: 3, classes: 2, separation: 1, seed: 1)
    #expect(throws: KDError.self) { _ = try LogisticRegression.fit(features: x, labels: y.map { $0 + 1 }, classes: 2, validation: nil, strengths: [1]) }
    #expect(throws: KDError.self) { _ = try LogisticRegression.fit(features: x, labels: y, classes: 2, validation: nil, strengths: [1, 2]) }
    #expect(throws: KDError.self) { _ = try LogisticRegression.fit(features: Array(x.dropLast()), labels: y, classes: 2, validation: nil, strengths: [1]) }
    var bad = x
    bad[4] = .nan
    #expect(throws: KDError.self) { _ = try LogisticRegression.fit(features: bad, labels: y, classes: 2, validation: nil, strengths: [1]) }
    #expect(throws: KDError.self) { _ = try LogisticRegression.fit(features: x, labels: y, classes: 2, validation: (x, Array(y.dropLast())), strengths: [1]) }
  }

  @Test func headSavesAndLoads() throws {
    let (x, y) = blobs(n: 60, d: 4, classes: 3, separation: 2, seed: 9)
    let head = try LogisticRegression.fit(features: x, labels: y, classes: 3, validation: (x, y), strengths: [0.01, 0.1],
                                          labelNames: ["x", "y", "z"])
    let dir = try Fixtures.tempDirectory() + "/head"
    try head.save(directory: dir)
    let back = try LinearHead.load(directory: dir)
    #expect(back == head)
    #expect(back.fitSummary?.candidates.count == 2)
    try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/head.json"))
    #expect(throws: KDError.self) { _ = try LinearHead.load(directory: dir) }
  }

  /// ~10k × 384 embeddings, 5 classes: the size the teacher-cache stage fits on.
  @Test(.enabled(if: ProcessInfo.processInfo.environment["KD_SLOW_TESTS"] == "1"))
  func convergesOnTenThousandBy384() throws {
    let (x, y) = blobs(n: 10_000, d: 384, classes: 5, separation: 0.5, seed: 21)
    let (vx, vy) = blobs(n: 2_000, d: 384, classes: 5, separation: 0.5, seed: 22)
    let head = try LogisticRegression.fit(features: x, labels: y, classes: 5, validation: (vx, vy), strengths: [1e-3, 1e-2, 1e-1])
    let s = try #require(head.fitSummary)
    print("10k×384 fit:", s.candidates.map { "λ=\($0.strength) it=\($0.iterations) conv=\($0.converged) f1=\($0.validationMacroF1 ?? 0)" })
    #expect(s.candidates.allSatisfy { $0.converged })
  }
}
