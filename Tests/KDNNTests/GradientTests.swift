import Foundation
import KDModels
import KDNN
import KDTensor
import XCTest

/// Finite-difference gradient checks of every KDNN layer and of a whole 2-layer BERT on a
/// batch of unequal lengths with trailing padding. Layers compute in fp32; the probe loss
/// `Σ r·y` is accumulated in Double and central differences use h = 1e-2 (fp32 forward noise
/// ~1e-7 relative stays well below the tolerance).
final class GradientTests: XCTestCase {
  override func setUp() { NNThreads.set(1) }

  /// Random probe weights.
  func probe(_ n: Int, seed: UInt64) -> [Float] {
    var r = NNRandom(seed: seed)
    return (0..<n).map { _ in r.normal(std: 1) }
  }

  func dot(_ a: [Float], _ b: [Float]) -> Double {
    var s: Double = 0
    for i in a.indices { s += Double(a[i]) * Double(b[i]) }
    return s
  }

  /// Compares analytic and central-difference derivatives of `loss` for `count` entries of `p`.
  func check(_ p: Parameter, entries: [Int], h: Float = 1e-2, tol: Double = 2e-2, loss: () -> Double,
             file: StaticString = #filePath, line: UInt = #line) {
    let gradient = p.fullGradient()
    for i in entries {
      let analytic = Double(gradient[i])
      let v = p.value[i]
      p.value[i] = v + h
      let up = loss()
      p.value[i] = v - h
      let down = loss()
      p.value[i] = v
      let numeric = (up - down) / Double(2 * h)
      let err = abs(numeric - analytic) / max(1e-2, abs(numeric) + abs(analytic))
      XCTAssertLessThan(err, tol, "\(p.name)[\(i)]: numeric \(numeric) vs analytic \(analytic)", file: file, line: line)
    }
  }

  func checkInput(_ x: inout [Float], _ dx: [Float], entries: [Int], h: Float = 1e-2, tol: Double = 2e-2,
                  loss: ([Float]) -> Double, file: StaticString = #filePath, line: UInt = #line) {
    for i in entries {
      let v = x[i]
      x[i] = v + h
      let up = loss(x)
      x[i] = v - h
      let down = loss(x)
      x[i] = v
      let numeric = (up - down) / Double(2 * h)
      let err = abs(numeric - Double(dx[i])) / max(1e-2, abs(numeric) + abs(Double(dx[i])))
      XCTAssertLessThan(err, tol, "input[\(i)]: numeric \(numeric) vs analytic \(dx[i])", file: file, line: line)
    }
  }

  func testDenseGradients() {
    var rng = NNRandom(seed: 1)
    let d = Dense(name: "d", inputSize: 7, outputSize: 5, std: 0.5, rng: &rng)
    var x = probe(3 * 7, seed: 2)
    let r = probe(3 * 5, seed: 3)
    let y = d.forward(x, rows: 3, training: true)
    XCTAssertEqual(y.count, 15)
    let dx = d.backward(r)
    let f = { (x: [Float]) in self.dot(d.forward(x, rows: 3, training: true), r) }
    check(d.weight, entries: Array(0..<35)) { f(x) }
    check(d.bias!, entries: Array(0..<5)) { f(x) }
    checkInput(&x, dx, entries: Array(0..<21), loss: f)
  }

  func testLayerNormGradients() {
    let ln = LayerNorm(name: "ln", size: 9, eps: 1e-12)
    var g = NNRandom(seed: 4)
    for i in 0..<9 { ln.gamma.value[i] = 1 + g.normal(std: 0.3); ln.beta.value[i] = g.normal(std: 0.3) }
    var x = probe(4 * 9, seed: 5)
    let r = probe(4 * 9, seed: 6)
    _ = ln.forward(x, rows: 4, training: true)
    let dx = ln.backward(r)
    let f = { (x: [Float]) in self.dot(ln.forward(x, rows: 4, training: true), r) }
    check(ln.gamma, entries: Array(0..<9)) { f(x) }
    check(ln.beta, entries: Array(0..<9)) { f(x) }
    checkInput(&x, dx, entries: Array(0..<36), h: 3e-3, loss: f)
    // Inference uses KDTensor's kernel: same values.
    let a = ln.forward(x, rows: 4, training: true), b = ln.forward(x, rows: 4, training: false)
    for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 1e-5) }
  }

  func testActivationGradients() {
    var x = probe(37, seed: 7).map { $0 * 2 }
    let r = probe(37, seed: 8)
    let gelu = GELU()
    _ = gelu.forward(x, training: true)
    checkInput(&x, gelu.backward(r), entries: Array(0..<37), h: 1e-3, loss: { self.dot(gelu.forward($0, training: true), r) })
    let tanh = Tanh()
    _ = tanh.forward(x, training: true)
    checkInput(&x, tanh.backward(r), entries: Array(0..<37), h: 1e-3, loss: { self.dot(tanh.forward($0, training: true), r) })
    let relu = ReLUActivation()
    _ = relu.forward(x, training: true)
    let dx = relu.backward(r)
    for i in x.indices { XCTAssertEqual(dx[i], x[i] > 0 ? r[i] : 0) }
    // GELU matches the exact erf formula.
    let y = gelu.forward(x, training: false)
    for i in x.indices {
      let e = 0.5 * Double(x[i]) * (1 + erf(Double(x[i]) / 2.0.squareRoot()))
      XCTAssertEqual(Double(y[i]), e, accuracy: 1e-5)
    }
  }

  func testDropoutIsInvertedAndSeeded() {
    let a = Dropout(p: 0.25, seed: 9), b = Dropout(p: 0.25, seed: 9)
    let x = [Float](repeating: 1, count: 4000)
    let ya = a.forward(x, training: true), yb = b.forward(x, training: true)
    XCTAssertEqual(ya, yb)
    let kept = ya.filter { $0 != 0 }
    XCTAssertEqual(Double(kept.count) / 4000, 0.75, accuracy: 0.03)
    XCTAssertEqual(kept.first ?? 0, 1 / 0.75, accuracy: 1e-6)
    XCTAssertEqual(a.backward(x), ya)
    XCTAssertEqual(a.forward(x, training: false), x)
  }

  func testEmbeddingGradientIsSparse() {
    var rng = NNRandom(seed: 10)
    let e = Embedding(name: "e", rows: 50, width: 4, sparse: true, rng: &rng)
    let ids: [Int32] = [3, 7, 3]
    _ = e.forward(ids, training: true)
    e.backward([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3])
    XCTAssertEqual(Set(e.table.touchedRows), [3, 7])
    XCTAssertEqual(Array(e.table.fullGradient()[12..<16]), [4, 4, 4, 4])
    XCTAssertEqual(Array(e.table.fullGradient()[28..<32]), [2, 2, 2, 2])
  }

  func testSelfAttentionGradientsWithUnequalLengths() {
    var rng = NNRandom(seed: 11)
    let att = SelfAttention(prefix: "a", hidden: 8, heads: 2, rng: &rng)
    for p in att.parameters { for i in p.value.indices { p.value[i] *= 10 } }  // sharper attention
    let layout = SequenceLayout(lengths: [3, 5, 1])
    var x = probe(9 * 8, seed: 12)
    let r = probe(9 * 8, seed: 13)
    _ = att.forward(x, layout: layout, training: true)
    // Each row of every attention distribution sums to 1 over its own sequence.
    for s in 0..<3 {
      let n = layout.length(s)
      let p = Array(att.probabilities(sequence: s, head: 1))
      for i in 0..<n { XCTAssertEqual(p[(i * n)..<((i + 1) * n)].reduce(0, +), 1, accuracy: 1e-5) }
    }
    let dx = att.backward(r)
    let f = { (x: [Float]) in self.dot(att.forward(x, layout: layout, training: true), r) }
    for p in att.parameters { check(p, entries: Array(stride(from: 0, to: p.count, by: 3))) { f(x) } }
    checkInput(&x, dx, entries: Array(0..<72), loss: f)
  }

  /// Only the first row of each sequence queries (`firstRowOnly`): those rows equal the full pass's,
  /// and the gradient of every input row and parameter passes the finite-difference check.
  func testSelfAttentionFirstRowOnly() {
    var rng = NNRandom(seed: 17)
    let att = SelfAttention(prefix: "a", hidden: 8, heads: 2, rng: &rng)
    for p in att.parameters { for i in p.value.indices { p.value[i] *= 10 } }
    let layout = SequenceLayout(lengths: [3, 5, 1])
    var x = probe(9 * 8, seed: 18)
    let full = att.forward(x, layout: layout, training: true)
    let first = att.forward(x, layout: layout, training: true, firstRowOnly: true)
    XCTAssertEqual(first.count, 3 * 8)
    for (a, b) in zip(first, layout.firstRows(of: full, width: 8)) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    XCTAssertEqual(att.probabilities(sequence: 1, head: 1).count, 5)
    let r = probe(3 * 8, seed: 19)
    let dx = att.backward(r)
    XCTAssertEqual(dx.count, 9 * 8)
    let f = { (x: [Float]) in self.dot(att.forward(x, layout: layout, training: true, firstRowOnly: true), r) }
    for p in att.parameters { check(p, entries: Array(stride(from: 0, to: p.count, by: 3))) { f(x) } }
    checkInput(&x, dx, entries: Array(0..<72), loss: f)
  }

  /// The last layer on `[CLS]` rows only (the default with `[CLS]` pooling) gives the full pass's
  /// logits and every parameter's gradient.
  func testLastLayerOnCLSRowsMatchesTheFullPass() throws {
    func run(clsOnly: Bool) throws -> (logits: [Float], grads: [[Float]]) {
      let bert = try TrainableBert(config: tinyConfig(), seed: 5)
      bert.lastLayerCLSOnly = clsOnly
      for p in bert.parameters where !p.name.contains("LayerNorm") { for i in p.value.indices { p.value[i] *= 10 } }
      let batch: [[Int32]] = [[1, 5, 9, 4, 2, 0, 0], [1, 7, 2, 0, 0, 0, 0], [1, 3, 3, 8, 6, 11, 2]]
      for p in bert.parameters { p.zeroGrad() }
      let z = bert.forward(batch, training: true)
      bert.backward(probe(9, seed: 14))
      return (z, bert.parameters.map { $0.fullGradient() })
    }
    let full = try run(clsOnly: false), cls = try run(clsOnly: true)
    XCTAssertEqual(full.logits.count, cls.logits.count)
    for (a, b) in zip(full.logits, cls.logits) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    for (g, h) in zip(full.grads, cls.grads) {
      let scale = max(1, g.map(abs).max() ?? 0)
      for (a, b) in zip(g, h) { XCTAssertEqual(a, b, accuracy: 1e-4 * scale) }
    }
    XCTAssertGreaterThan(full.grads.joined().map(abs).max() ?? 0, 0)
  }

  /// The score gradient hook (attention-distribution distillation): KL(t ‖ p) against fixed targets.
  func testAttentionDistributionLossGradient() {
    var rng = NNRandom(seed: 15)
    let att = SelfAttention(prefix: "a", hidden: 8, heads: 2, rng: &rng)
    for p in att.parameters { for i in p.value.indices { p.value[i] *= 10 } }
    let layout = SequenceLayout(lengths: [4, 2])
    var x = probe(6 * 8, seed: 16)
    _ = att.forward(x, layout: layout, training: true)
    // Fixed target distributions per row.
    var target = att.probs.map { _ in Float(rng.unit() + 0.05) }
    var o = 0
    for s in 0..<layout.count {
      let n = layout.length(s)
      for _ in 0..<(2 * n) {
        let sum = target[o..<(o + n)].reduce(0, +)
        for j in o..<(o + n) { target[j] /= sum }
        o += n
      }
    }
    func kl(_ x: [Float]) -> Double {
      _ = att.forward(x, layout: layout, training: true)
      var l: Double = 0
      for i in target.indices { l += Double(target[i]) * (log(Double(target[i])) - log(Double(att.probs[i]))) }
      return l
    }
    _ = att.forward(x, layout: layout, training: true)
    att.extraScoreGradient = zip(att.probs, target).map { $0 - $1 }
    let dx = att.backward([Float](repeating: 0, count: 6 * 8))
    XCTAssertNil(att.extraScoreGradient)
    checkInput(&x, dx, entries: Array(0..<48), h: 3e-3, loss: kl)
  }

  func tinyConfig(dropout: Float = 0) -> TrainableBertConfig {
    TrainableBertConfig(layers: 2, hiddenSize: 8, heads: 2, intermediateSize: 12, maxTokens: 16, vocabSize: 30,
                        numClasses: 3, dropout: dropout)
  }

  /// A whole 2-layer model on a padded batch: every parameter tensor, sampled entries.
  func testWholeModelGradientsOnPaddedBatch() throws {
    try checkWholeModel(pooling: .cls)
  }

  /// The same with the classifier on the mean-pooled final hidden states (`kd-train teacher --pooling mean`).
  func testWholeModelGradientsWithMeanPooling() throws {
    try checkWholeModel(pooling: .mean)
  }

  /// …and with the mean-pooled embedding L2-normalised (a sentence-transformers teacher with `Normalize`).
  func testWholeModelGradientsWithNormalisedMeanPooling() throws {
    try checkWholeModel(pooling: .mean, normalize: true)
  }

  func checkWholeModel(pooling: Pooling, normalize: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
    let bert = try TrainableBert(config: tinyConfig(), seed: 5)
    bert.classifierPooling = pooling
    bert.normalizePooled = normalize
    // Larger weights than BERT's 0.02 so that every path carries a visible gradient.
    for p in bert.parameters where !p.name.contains("LayerNorm") { for i in p.value.indices { p.value[i] *= 10 } }
    // Trailing 0s are padding (pad id 0); lengths 5, 3, 7.
    let batch: [[Int32]] = [[1, 5, 9, 4, 2, 0, 0], [1, 7, 2, 0, 0, 0, 0], [1, 3, 3, 8, 6, 11, 2]]
    let r = probe(9, seed: 14)
    for p in bert.parameters { p.zeroGrad() }
    _ = bert.forward(batch, training: true)
    bert.backward(r)
    let f = { self.dot(bert.forward(batch, training: true), r) }
    var checked = 0
    for p in bert.parameters {
      let entries: [Int]
      if p.isSparse {
        entries = p.touchedRows.prefix(4).flatMap { row in (0..<p.rowSize).map { Int(row) * p.rowSize + $0 } }
      } else {
        entries = Array(stride(from: 0, to: p.count, by: max(1, p.count / 6)))
      }
      check(p, entries: entries, h: 2e-3, tol: 3e-2, loss: f, file: file, line: line)
      checked += entries.count
      if pooling == .mean && p.name.hasPrefix("bert.pooler") { XCTAssertEqual(p.fullGradient().map(abs).max(), 0, "unused pooler", file: file, line: line) }
    }
    XCTAssertGreaterThan(checked, 200, file: file, line: line)
    // Padding changes nothing.
    let unpadded = bert.forward(batch.map { Array($0.prefix { $0 != 0 }) }, training: false)
    let padded = bert.forward(batch, training: false)
    XCTAssertEqual(unpadded, padded, file: file, line: line)
  }

  func testTrainingIsDeterministicForASeed() throws {
    func run() throws -> [Float] {
      let bert = try TrainableBert(config: tinyConfig(dropout: 0.1), seed: 21)
      let opt = AdamW(parameters: bert.parameters, learningRate: 1e-2, weightDecay: 0.01)
      let batch: [[Int32]] = [[1, 5, 9, 2], [1, 7, 2], [1, 3, 4, 8, 2]]
      for _ in 0..<5 {
        for p in bert.parameters { p.zeroGrad() }
        let z = bert.forward(batch, training: true)
        bert.backward(z.map { $0 * 0.1 })
        clipGradients(bert.parameters, maxNorm: 1)
        opt.update()
      }
      return bert.forward(batch, training: false)
    }
    let a = try run(), b = try run()
    XCTAssertEqual(a, b)
  }

  func testNoWeightDecayOnBiasesAndLayerNorms() throws {
    let bert = try TrainableBert(config: tinyConfig(), seed: 3)
    for p in bert.parameters {
      let shouldDecay = !(p.name.hasSuffix(".bias") || p.name.contains("LayerNorm"))
      XCTAssertEqual(p.decays, shouldDecay, p.name)
    }
  }
}
