import Foundation
import KDCore
import KDTensor

/// Multinomial (softmax) logistic regression with L2 regularisation, fitted
/// deterministically with L-BFGS; the strength is chosen on a validation set.
///
/// Objective for weights W [classes × d] and bias b:
/// `mean_i −log softmax(W·x_i + b)[y_i] + λ/2 · ‖W‖²` (the bias is not penalised).
/// The same inputs always give the same head (no randomness; OpenBLAS sgemm
/// with a fixed thread count is deterministic).
public enum LogisticRegression {
  /// L2 strengths tried when none are given (kd-teacher-cache `--fit-head`, `kd-train teacher --head-init fit`).
  public static let defaultStrengths: [Float] = [1e-4, 1e-3, 1e-2, 1e-1, 1]
  /// Fits one head per strength and keeps the best on validation.
  ///
  /// - Parameters:
  ///   - features: row-major [n × d] training features (e.g. pooled embeddings).
  ///   - labels: n class indices in `0..<classes`.
  ///   - classes: number of classes (≥ 2).
  ///   - validation: held-out features/labels; required when more than one strength is given.
  ///   - strengths: candidate λ values, e.g. `[1e-4, 1e-3, 1e-2, 1e-1]`.
  ///   - labelNames: class names for the head (default `"0"`, `"1"`, …).
  ///   - maxIterations: L-BFGS iteration cap per strength.
  ///   - tolerance: stop when the largest gradient component falls below it.
  /// - Returns: the head with the lowest validation log-loss (ties: the larger
  ///   strength), its `fitSummary` recording every candidate's log-loss and macro-F1.
  ///   Log-loss rather than macro-F1 decides because a teacher's *probabilities*
  ///   are what distillation learns from: a strong penalty can keep the argmax
  ///   (and so F1) while flattening every distribution towards uniform.
  /// - Throws: `KDError(.usage)` for inconsistent sizes, out-of-range labels,
  ///   non-finite features, or several strengths without validation data.
  public static func fit(
    features: [Float], labels: [Int32], classes: Int,
    validation: (features: [Float], labels: [Int32])?,
    strengths: [Float], labelNames: [String]? = nil,
    maxIterations: Int = 500, tolerance: Float = 1e-5, balanced: Bool = false
  ) throws -> LinearHead {
    let n = labels.count
    guard n > 0 else { throw KDError(.usage, "no training examples to fit a head on") }
    guard classes >= 2 else { throw KDError(.usage, "need at least 2 classes, got \(classes)") }
    guard features.count % n == 0, features.count > 0 else {
      throw KDError(.usage, "\(features.count) feature values are not a multiple of \(n) examples")
    }
    let d = features.count / n
    try check(labels: labels, classes: classes, what: "training")
    guard isFinite(features) else { throw KDError(.numeric, "training features contain NaN or infinite values") }
    guard !strengths.isEmpty, strengths.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
      throw KDError(.usage, "strengths must be a non-empty list of finite values ≥ 0, got \(strengths)")
    }
    if let v = validation {
      guard !v.labels.isEmpty, v.features.count == v.labels.count * d else {
        throw KDError(.usage, "validation has \(v.features.count) feature values for \(v.labels.count) examples of dimension \(d)")
      }
      try check(labels: v.labels, classes: classes, what: "validation")
      guard isFinite(v.features) else { throw KDError(.numeric, "validation features contain NaN or infinite values") }
    } else if strengths.count > 1 {
      throw KDError(.usage, "choosing among \(strengths.count) strengths needs validation examples")
    }
    let names = labelNames ?? (0..<classes).map(String.init)
    guard names.count == classes else {
      throw KDError(.usage, "\(names.count) label names for \(classes) classes")
    }

    // Strongest regularisation first; each fit warm-starts the next.
    let order = strengths.enumerated().sorted { $0.element > $1.element || ($0.element == $1.element && $0.offset < $1.offset) }
    var params = [Float](repeating: 0, count: classes * (d + 1))
    var best: (params: [Float], f1: Double, ll: Double, strength: Float)?
    var candidates: [FitSummary.Candidate] = []
    // Balanced class weights (n / (C·n_c), as scikit-learn's "balanced"):
    // each class contributes equally to the loss, so a rare class is not
    // drowned by a frequent one. Weights are normalised to sum to n.
    var sampleWeight = [Float](repeating: 1, count: n)
    if balanced {
      var counts = [Int](repeating: 0, count: classes)
      for y in labels { counts[Int(y)] += 1 }
      let present = counts.filter { $0 > 0 }.count
      for i in 0..<n { sampleWeight[i] = Float(n) / Float(present * counts[Int(labels[i])]) }
    }
    let problem = Problem(x: features, y: labels, n: n, d: d, classes: classes, weight: sampleWeight)
    for (_, lambda) in order {
      let r = lbfgs(problem, lambda: lambda, start: params, maxIterations: maxIterations, tolerance: tolerance)
      params = r.params
      var f1: Double?, ll: Double?
      if let v = validation {
        let (m, l) = evaluate(params: params, features: v.features, labels: v.labels, d: d, classes: classes)
        f1 = m
        ll = l
      }
      candidates.append(.init(strength: lambda, validationMacroF1: f1, validationLogLoss: ll,
                              trainLoss: r.loss, iterations: r.iterations, converged: r.converged))
      let score = (f1 ?? 0, ll ?? 0)
      // Strict improvement only: on ties the larger (earlier) strength stays.
      // Balanced fits are chosen on validation macro-F1 (ties: log-loss), the
      // metric they optimise for; plain fits on log-loss (calibration).
      let better: Bool
      if let b = best {
        better = balanced ? (score.0 > b.f1 + 1e-12 || (abs(score.0 - b.f1) <= 1e-12 && score.1 < b.ll - 1e-12))
          : score.1 < b.ll - 1e-12
      } else {
        better = true
      }
      if better {
        best = (params, score.0, score.1, lambda)
      }
    }
    guard let chosen = best else { throw KDError(.internalError, "no strength was fitted") }
    let w = Array(chosen.params[0..<(classes * d)])
    let b = Array(chosen.params[(classes * d)...])
    let summary = FitSummary(
      strength: chosen.strength, trainExamples: n, validationExamples: validation?.labels.count ?? 0,
      candidates: candidates,
      criterion: validation == nil ? "single strength, no validation"
        : balanced ? "balanced class weights; highest validation macro-F1" : "lowest validation log-loss")
    return try LinearHead(weight: w, bias: b, labels: names, inputSize: d, fitSummary: summary)
  }

  /// Macro-F1 over `classes` classes (classes absent from both truth and prediction are skipped).
  public static func macroF1(predicted: [Int32], truth: [Int32], classes: Int) -> Double {
    var tp = [Int](repeating: 0, count: classes), fp = tp, fn = tp
    for (p, t) in zip(predicted, truth) {
      if p == t { tp[Int(p)] += 1 } else { fp[Int(p)] += 1; fn[Int(t)] += 1 }
    }
    var sum = 0.0, count = 0
    for c in 0..<classes where tp[c] + fp[c] + fn[c] > 0 {
      sum += 2 * Double(tp[c]) / Double(2 * tp[c] + fp[c] + fn[c])
      count += 1
    }
    return count == 0 ? 0 : sum / Double(count)
  }

  static func check(labels: [Int32], classes: Int, what: String) throws {
    for (i, y) in labels.enumerated() where y < 0 || Int(y) >= classes {
      throw KDError(.usage, "\(what) label \(y) at row \(i) is outside 0..<\(classes)")
    }
  }

  struct Problem {
    let x: [Float]
    let y: [Int32]
    let n: Int, d: Int, classes: Int
    /// Per-example loss weights, summing to n (all 1 when unweighted).
    var weight: [Float]
  }

  /// Loss and gradient at `params` (W row-major then b).
  static func lossAndGradient(_ p: Problem, lambda: Float, params: [Float], grad: inout [Float], z: inout [Float]) -> Double {
    let n = p.n, d = p.d, C = p.classes
    params.withUnsafeBufferPointer { w in
      p.x.withUnsafeBufferPointer { x in
        z.withUnsafeMutableBufferPointer { zp in
          let zb = zp.baseAddress!
          for i in 0..<n { for c in 0..<C { zb[i * C + c] = w[C * d + c] } }
          BLAS.sgemm(transB: true, m: n, n: C, k: d, a: x.baseAddress!, lda: d, b: w.baseAddress!, ldb: d, beta: 1, c: zb, ldc: C)
        }
      }
    }
    // z ← softmax(z) − onehot(y), scaled by 1/n; accumulate the loss in Double.
    var loss = 0.0
    let invN = 1 / Float(n)
    for i in 0..<n {
      var m = -Float.infinity
      for c in 0..<C { m = max(m, z[i * C + c]) }
      var s: Double = 0
      for c in 0..<C { s += Foundation.exp(Double(z[i * C + c] - m)) }
      let yi = Int(p.y[i])
      let wi = p.weight[i]
      loss += Double(wi) * (log(s) - Double(z[i * C + yi] - m))
      for c in 0..<C {
        let prob = Float(Foundation.exp(Double(z[i * C + c] - m)) / s)
        z[i * C + c] = (prob - (c == yi ? 1 : 0)) * invN * wi
      }
    }
    loss /= Double(n)
    var reg = 0.0
    for k in 0..<(C * d) { reg += Double(params[k]) * Double(params[k]) }
    loss += 0.5 * Double(lambda) * reg
    // grad W = Gᵀ·X + λW; grad b = column sums of G.
    grad.withUnsafeMutableBufferPointer { g in
      let gb = g.baseAddress!
      params.withUnsafeBufferPointer { w in
        for k in 0..<(C * d) { gb[k] = lambda * w[k] }
      }
      z.withUnsafeBufferPointer { zp in
        p.x.withUnsafeBufferPointer { x in
          BLAS.sgemm(transA: true, m: C, n: d, k: n, a: zp.baseAddress!, lda: C, b: x.baseAddress!, ldb: d, beta: 1, c: gb, ldc: d)
        }
        for c in 0..<C {
          var s: Float = 0
          for i in 0..<n { s += zp[i * C + c] }
          gb[C * d + c] = s
        }
      }
    }
    return loss
  }

  struct Result { var params: [Float]; var loss: Double; var iterations: Int; var converged: Bool }

  /// L-BFGS (memory 10) with a backtracking Armijo line search.
  static func lbfgs(_ p: Problem, lambda: Float, start: [Float], maxIterations: Int, tolerance: Float) -> Result {
    let m = 10
    let dim = start.count
    var x = start
    var g = [Float](repeating: 0, count: dim)
    var z = [Float](repeating: 0, count: p.n * p.classes)
    var f = lossAndGradient(p, lambda: lambda, params: x, grad: &g, z: &z)
    var sList: [[Float]] = [], yList: [[Float]] = [], rhoList: [Double] = []
    var gNew = g
    var iterations = 0
    func dot(_ a: [Float], _ b: [Float]) -> Double {
      var s = 0.0
      for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
      return s
    }
    func maxAbs(_ a: [Float]) -> Float { a.reduce(0) { max($0, abs($1)) } }
    while iterations < maxIterations {
      if maxAbs(g) < tolerance { return Result(params: x, loss: f, iterations: iterations, converged: true) }
      // Two-loop recursion: direction = −H·g.
      var q = g.map(Double.init)
      var alphas = [Double](repeating: 0, count: sList.count)
      for i in stride(from: sList.count - 1, through: 0, by: -1) {
        var a = 0.0
        for k in 0..<dim { a += Double(sList[i][k]) * q[k] }
        a *= rhoList[i]
        alphas[i] = a
        for k in 0..<dim { q[k] -= a * Double(yList[i][k]) }
      }
      if let sl = sList.last, let yl = yList.last {
        let gamma = dot(sl, yl) / dot(yl, yl)
        for k in 0..<dim { q[k] *= gamma }
      } else {
        let gn = dot(g, g).squareRoot()
        for k in 0..<dim { q[k] /= max(gn, 1) }
      }
      for i in 0..<sList.count {
        var b = 0.0
        for k in 0..<dim { b += Double(yList[i][k]) * q[k] }
        b *= rhoList[i]
        for k in 0..<dim { q[k] += Double(sList[i][k]) * (alphas[i] - b) }
      }
      var dir = q.map { Float(-$0) }
      var slope = dot(g, dir)
      if slope >= 0 {
        // Not a descent direction: reset memory and use steepest descent.
        sList.removeAll(); yList.removeAll(); rhoList.removeAll()
        let gn = max(dot(g, g).squareRoot(), 1)
        dir = g.map { -$0 / Float(gn) }
        slope = dot(g, dir)
      }
      var step: Float = 1
      var xNew = x
      var fNew = f
      var accepted = false
      for _ in 0..<40 {
        for k in 0..<dim { xNew[k] = x[k] + step * dir[k] }
        fNew = lossAndGradient(p, lambda: lambda, params: xNew, grad: &gNew, z: &z)
        if fNew <= f + 1e-4 * Double(step) * slope { accepted = true; break }
        step *= 0.5
      }
      iterations += 1
      if !accepted { return Result(params: x, loss: f, iterations: iterations, converged: false) }
      var s = [Float](repeating: 0, count: dim), yv = s
      for k in 0..<dim { s[k] = xNew[k] - x[k]; yv[k] = gNew[k] - g[k] }
      let sy = dot(s, yv)
      if sy > 1e-10 {
        if sList.count == m { sList.removeFirst(); yList.removeFirst(); rhoList.removeFirst() }
        sList.append(s); yList.append(yv); rhoList.append(1 / sy)
      }
      let decrease = f - fNew
      x = xNew
      g = gNew
      f = fNew
      if decrease >= 0, decrease < 1e-12 * max(1, abs(f)) {
        return Result(params: x, loss: f, iterations: iterations, converged: true)
      }
    }
    return Result(params: x, loss: f, iterations: iterations, converged: maxAbs(g) < tolerance)
  }

  /// Validation macro-F1 and mean log-loss of `params`.
  static func evaluate(params: [Float], features: [Float], labels: [Int32], d: Int, classes C: Int) -> (Double, Double) {
    let n = labels.count
    guard let head = try? LinearHead(weight: Array(params[0..<(C * d)]), bias: Array(params[(C * d)...]),
                                     labels: (0..<C).map(String.init), inputSize: d) else { return (0, .infinity) }
    let z = head.logits(features, rows: n)
    var pred = [Int32](repeating: 0, count: n)
    var ll = 0.0
    for i in 0..<n {
      var m = -Float.infinity, arg = 0
      for c in 0..<C where z[i * C + c] > m { m = z[i * C + c]; arg = c }
      pred[i] = Int32(arg)
      var s = 0.0
      for c in 0..<C { s += Foundation.exp(Double(z[i * C + c] - m)) }
      ll += log(s) - Double(z[i * C + Int(labels[i])] - m)
    }
    return (macroF1(predicted: pred, truth: labels, classes: C), ll / Double(n))
  }
}
