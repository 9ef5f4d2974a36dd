import Foundation
import KDTensor

/// Self-attention relation distillation (MiniLMv2, Wang et al. 2021): for vectors `X` of one
/// sequence split into `R` relation heads of `d = width / R` columns, the relation of head `r` is
/// `softmax(X_r · X_rᵀ / √d)`, an `n×n` row-stochastic matrix. Student and teacher may have
/// different widths and head counts: both are split into the same `R` relation heads.
///
/// The loss is `weight · KL(teacher ‖ student)` averaged over the `tokens × R` relation rows;
/// with `G = weight / rows · (P_s − P_t)` the gradient on the student's vectors is
/// `(G + Gᵀ) · X_r / √d`.
///
/// For example (MiniLMv2's value relation of the last layer):
/// ```swift
/// let (loss, dV) = RelationDistillation.kl(student: sLast.values, studentWidth: 384, teacher: tLast.values,
///                                           teacherWidth: 384, layout: layout, heads: 12, weight: 1)
/// sLast.extraValueGradient = dV
/// ```
public enum RelationDistillation {
  /// The weighted mean KL and its gradient on `student` (`[tokens × studentWidth]`, the layout's packed rows).
  public static func kl(student: [Float], studentWidth sw: Int, teacher: [Float], teacherWidth tw: Int, layout: SequenceLayout,
                        heads R: Int, weight: Float) -> (loss: Double, gradient: [Float]) {
    precondition(R > 0 && sw % R == 0 && tw % R == 0, "RelationDistillation: widths \(sw), \(tw) not divisible by \(R) heads")
    precondition(student.count == layout.tokens * sw && teacher.count == layout.tokens * tw, "RelationDistillation: shapes")
    let ds = sw / R, dt = tw / R
    let rows = layout.tokens * R
    var grad = [Float](repeating: 0, count: student.count)
    guard rows > 0 else { return (0, grad) }
    let w = weight / Float(rows)
    let items = layout.count * R
    let workers = max(1, min(NNThreads.threads, items))
    let maxN = layout.maxLength
    var scratch = [Float](repeating: 0, count: workers * 3 * maxN * maxN)
    var partial = [Double](repeating: 0, count: workers)
    let ss = 1 / Float(ds).squareRoot(), st = 1 / Float(dt).squareRoot()
    student.withUnsafeBufferPointer { sp in
      teacher.withUnsafeBufferPointer { tp in
        grad.withUnsafeMutableBufferPointer { gp in
          scratch.withUnsafeMutableBufferPointer { bp in
            partial.withUnsafeMutableBufferPointer { lp in
              let G = UnsafeSendablePointer(gp.baseAddress!), B = UnsafeSendablePointer(bp.baseAddress!)
              let L = UnsafeSendableDoublePointer(lp.baseAddress!)
              let S = sp.baseAddress!, T = tp.baseAddress!
              nnParallel(workers) { wk in
                let ps = B.p + wk * 3 * maxN * maxN, pt = ps + maxN * maxN, g = pt + maxN * maxN
                var sum = 0.0
                var item = wk
                while item < items {
                  let s = item / R, r = item % R
                  let o = layout.offsets[s], n = layout.length(s)
                  let xs = S + o * sw + r * ds, xt = T + o * tw + r * dt
                  BLAS.sgemm(transB: true, m: n, n: n, k: ds, alpha: ss, a: xs, lda: sw, b: xs, ldb: sw, c: ps, ldc: n)
                  Kernels.softmaxRowsInPlace(ps, rows: n, cols: n, stride: n)
                  BLAS.sgemm(transB: true, m: n, n: n, k: dt, alpha: st, a: xt, lda: tw, b: xt, ldb: tw, c: pt, ldc: n)
                  Kernels.softmaxRowsInPlace(pt, rows: n, cols: n, stride: n)
                  for i in 0..<(n * n) {
                    let a = pt[i], b = ps[i]
                    if a > 0 { sum += Double(a) * (Foundation.log(Double(a)) - Foundation.log(max(Double(b), 1e-30))) }
                    g[i] = w * (b - a)
                  }
                  // G + Gᵀ, in place (upper triangle first, then mirrored).
                  for i in 0..<n {
                    g[i * n + i] *= 2
                    for j in (i + 1)..<max(i + 1, n) {
                      let v = g[i * n + j] + g[j * n + i]
                      g[i * n + j] = v
                      g[j * n + i] = v
                    }
                  }
                  BLAS.sgemm(m: n, n: ds, k: n, alpha: ss, a: g, lda: n, b: xs, ldb: sw, c: G.p + o * sw + r * ds, ldc: sw)
                  item += workers
                }
                L.p[wk] = sum
              }
            }
          }
        }
      }
    }
    return (Double(w) * partial.reduce(0, +), grad)
  }
}

/// A `Double` buffer shared by `nnParallel` workers that write disjoint elements.
struct UnsafeSendableDoublePointer: @unchecked Sendable {
  let p: UnsafeMutablePointer<Double>
  init(_ p: UnsafeMutablePointer<Double>) { self.p = p }
}
