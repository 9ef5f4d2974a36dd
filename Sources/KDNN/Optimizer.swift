import CKernels
import Foundation
import KDCore

/// AdamW (Loshchilov & Hutter) with decoupled weight decay.
///
/// Dense parameters follow `torch.optim.AdamW`. Sparse parameters (embedding
/// tables) are updated lazily: only the rows with a gradient this step, with
/// the moments of the other rows left untouched, as `torch.optim.SparseAdam`;
/// weight decay, when a sparse parameter decays, applies to those rows only.
public final class AdamW {
  public var learningRate: Float
  public var beta1: Float = 0.9
  public var beta2: Float = 0.999
  public var epsilon: Float = 1e-8
  public var weightDecay: Float
  public private(set) var step = 0
  public let parameters: [Parameter]
  public internal(set) var m: [[Float]]
  public internal(set) var v: [[Float]]

  public init(parameters: [Parameter], learningRate: Float, weightDecay: Float = 0.01) {
    self.parameters = parameters
    self.learningRate = learningRate
    self.weightDecay = weightDecay
    m = parameters.map { [Float](repeating: 0, count: $0.count) }
    v = parameters.map { [Float](repeating: 0, count: $0.count) }
  }

  /// Applies one update from the current gradients.
  public func update() {
    step += 1
    let b1 = beta1, b2 = beta2, eps = epsilon, lr = learningRate
    let c1 = 1 - Float(Foundation.pow(Double(b1), Double(step)))
    let c2 = 1 - Float(Foundation.pow(Double(b2), Double(step)))
    let stepSize = lr / c1
    let c2Root = c2.squareRoot()
    for (pi, p) in parameters.enumerated() {
      let s = AdamStep(beta1: b1, beta2: b2, epsilon: eps, stepSize: stepSize, c2Root: c2Root,
                       decay: p.decays ? 1 - lr * weightDecay : 1)
      let d = p.rowSize
      if p.isSparse {
        let rows = p.touchedRows
        p.value.withUnsafeMutableBufferPointer { w in
          p.rowGrad.withUnsafeBufferPointer { g in
            m[pi].withUnsafeMutableBufferPointer { mp in
              v[pi].withUnsafeMutableBufferPointer { vp in
                // `touch` gives every touched row its gradient row: nothing to do only when none was touched.
                guard let w0 = w.baseAddress, let g0 = g.baseAddress, let m0 = mp.baseAddress, let v0 = vp.baseAddress
                else { return }
                adamRows(rows, w0, g0, m0, v0, d, s)
              }
            }
          }
        }
      } else {
        p.value.withUnsafeMutableBufferPointer { w in
          p.grad.withUnsafeBufferPointer { g in
            m[pi].withUnsafeMutableBufferPointer { mp in
              v[pi].withUnsafeMutableBufferPointer { vp in
                adamRow(w.baseAddress!, g.baseAddress!, mp.baseAddress!, vp.baseAddress!, w.count, s)
              }
            }
          }
        }
      }
    }
  }

  /// The optimizer state as named tensors (for resumable checkpoints).
  public func stateTensors() -> [(String, [Int], [Float])] {
    var out: [(String, [Int], [Float])] = []
    for (i, p) in parameters.enumerated() {
      out.append(("m." + p.name, p.shape, m[i]))
      out.append(("v." + p.name, p.shape, v[i]))
    }
    out.append(("step", [1], [Float(step)]))
    return out
  }

  /// Restores the state saved by `stateTensors`.
  public func restore(from tensors: [String: (shape: [Int], values: [Float])], file: String) throws {
    for (i, p) in parameters.enumerated() {
      guard let mt = tensors["m." + p.name], let vt = tensors["v." + p.name], mt.values.count == p.count,
        vt.values.count == p.count
      else { throw KDError(.input, "optimizer state for '\(p.name)' is missing or has the wrong size", file: file) }
      m[i] = mt.values
      v[i] = vt.values
    }
    guard let s = tensors["step"]?.values.first, s >= 0 else {
      throw KDError(.input, "optimizer state has no step", file: file)
    }
    step = Int(s)
  }
}

/// Lazy AdamW over the touched `rows` of a table: row `rows[i]` of `w`, `m`, `v` with the compact
/// gradient row `i` of `g`. The rows are scattered over tables far larger than the caches, so the
/// loop prefetches the rows a few iterations ahead (measured in BENCHMARKS.md, bow training).
@inline(__always)
func adamRows(
  _ rows: [Int32], _ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
  _ v: UnsafeMutablePointer<Float>, _ d: Int, _ s: AdamStep
) {
  let ahead = 12
  let bytes = d * MemoryLayout<Float>.stride
  // Rows are independent: split them over the workers (any split gives the same values).
  rows.withUnsafeBufferPointer { rp in
    nnParallelRows(rp.count, minRows: 256) { r0, r1 in
      for i in r0..<r1 {
        if i + ahead < r1 {
          let q = Int(rp[i + ahead]) * d
          kd_prefetch_rows(w + q, bytes)
          kd_prefetch_rows(m + q, bytes)
          kd_prefetch_rows(v + q, bytes)
        }
        let base = Int(rp[i]) * d
        adamRow(w + base, g + i * d, m + base, v + base, d, s)
      }
    }
  }
}

/// Learning-rate schedule: linear warmup, then linear or cosine decay to zero.
public struct LearningRateSchedule: Sendable, Codable, Equatable {
  public enum Decay: String, Sendable, Codable, CaseIterable { case linear, cosine, constant }
  public var peak: Float
  public var warmupSteps: Int
  public var totalSteps: Int
  public var decay: Decay

  public init(peak: Float, warmupSteps: Int, totalSteps: Int, decay: Decay) {
    self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps; self.decay = decay
  }

  /// The rate for 0-based `step`.
  public func rate(at step: Int) -> Float {
    if warmupSteps > 0 && step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
    let span = max(1, totalSteps - warmupSteps)
    let progress = min(1, Float(step - warmupSteps) / Float(span))
    switch decay {
    case .constant: return peak
    case .linear: return peak * (1 - progress)
    case .cosine: return peak * 0.5 * (1 + Float(Foundation.cos(Double.pi * Double(progress))))
    }
  }
}

/// Scales all gradients so that their global L2 norm is at most `maxNorm`; returns the norm before clipping.
@discardableResult
public func clipGradients(_ parameters: [Parameter], maxNorm: Float) -> Float {
  var sq: Double = 0
  for p in parameters { sq += p.gradSquaredNorm() }
  let norm = Float(sq.squareRoot())
  if maxNorm > 0 && norm > maxNorm && norm.isFinite {
    let f = maxNorm / (norm + 1e-6)
    for p in parameters { p.scaleGrad(f) }
  }
  return norm
}
