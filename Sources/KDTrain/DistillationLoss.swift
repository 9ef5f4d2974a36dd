import Foundation

/// The distillation loss and its gradient with respect to the student's logits.
///
/// Per example, with student logits `z_S`, label `y` and the teachers' target
/// distribution `q = softmax(z_T / T)`, which the loss computes from the batch's teacher logits at
/// its own temperature (`Batch.teacherTarget`; several teachers: their weighted mean):
///
/// - label and teacher: `α·CE(z_S, y) + (1−α)·T²·KL(q ‖ softmax(z_S / T))`
/// - teacher only (unlabeled text): `T²·KL(q ‖ softmax(z_S / T))` (the KD term alone, weight 1)
/// - label only (no teacher output): `CE(z_S, y)` (weight 1)
///
/// The loss is the mean over the examples that have a term (so unlabeled and
/// labeled rows weigh the same). The `T²` factor keeps the KD gradient's scale
/// independent of T (Hinton et al. 2015): `∂/∂z_S [T²·KL] = T·(softmax(z_S/T) − q)`.
/// With `α = 1` the teacher is ignored: the no-KD baseline.
public struct DistillationLoss: Sendable {
  public var alpha: Float
  public var temperature: Float

  public init(alpha: Float, temperature: Float) {
    self.alpha = alpha
    self.temperature = temperature
  }

  /// The batch loss and `∂loss/∂logits`; `count` is the number of examples that contributed.
  public func evaluate(logits: [Float], batch: Batch) -> (loss: Float, gradient: [Float], count: Int) {
    let c = batch.numClasses
    let n = batch.count
    var grad = [Float](repeating: 0, count: n * c)
    var total: Double = 0
    var used = 0
    let t = temperature
    var p = [Float](repeating: 0, count: c)
    var pt = [Float](repeating: 0, count: c)
    var q = [Float](repeating: 0, count: c)
    for i in 0..<n {
      let base = i * c
      let label = Int(batch.labels[i])
      let useCE = label >= 0 && alpha > 0
      let useKD = batch.hasTeacher[i] && alpha < 1
      guard useCE || useKD else { continue }
      used += 1
      let (ceWeight, kdWeight): (Float, Float) =
        useCE && useKD ? (alpha, 1 - alpha) : (useCE ? (1, 0) : (0, 1))
      if useCE {
        let lse = Self.logSoftmax(logits, base, c, scale: 1, into: &p)
        total += Double(ceWeight * (lse - logits[base + label]))
        for j in 0..<c { grad[base + j] += ceWeight * p[j] }
        grad[base + label] -= ceWeight
      }
      if useKD {
        batch.teacherTarget(i, temperature: t, into: &q)
        let lse = Self.logSoftmax(logits, base, c, scale: 1 / t, into: &pt)
        var kl: Float = 0
        for j in 0..<c {
          let qj = q[j]
          if qj > 0 { kl += qj * (Foundation.log(qj) - (logits[base + j] / t - lse)) }
          grad[base + j] += kdWeight * t * (pt[j] - qj)
        }
        total += Double(kdWeight * t * t * kl)
      }
    }
    if used > 0 {
      let inv = 1 / Float(used)
      for j in grad.indices { grad[j] *= inv }
      return (Float(total / Double(used)), grad, used)
    }
    return (0, grad, 0)
  }

  /// Softmax of `scale·logits[base ..< base+c]` into `p`; returns log-sum-exp of the scaled logits.
  @inline(__always)
  static func logSoftmax(_ logits: [Float], _ base: Int, _ c: Int, scale: Float, into p: inout [Float]) -> Float {
    var m = -Float.infinity
    for j in 0..<c { m = max(m, logits[base + j] * scale) }
    var s: Float = 0
    for j in 0..<c {
      p[j] = Foundation.exp(logits[base + j] * scale - m)
      s += p[j]
    }
    let inv = 1 / s
    for j in 0..<c { p[j] *= inv }
    return m + Foundation.log(s)
  }
}

/// Softmax over each row of `[rows × c]` logits.
public func softmaxRows(_ logits: [Float], classes c: Int) -> [Float] {
  var out = logits
  let rows = c > 0 ? logits.count / c : 0
  for r in 0..<rows {
    var m = -Float.infinity
    for j in 0..<c { m = max(m, logits[r * c + j]) }
    var s: Float = 0
    for j in 0..<c {
      let e = Foundation.exp(logits[r * c + j] - m)
      out[r * c + j] = e
      s += e
    }
    for j in 0..<c { out[r * c + j] /= s }
  }
  return out
}
