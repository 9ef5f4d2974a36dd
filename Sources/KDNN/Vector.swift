import CKernels

/// SIMD row kernels for the students' hot loops (embedding rows, lazy Adam).
///
/// Rows are short (the embedding width); each kernel works 8 floats at a time
/// and finishes the tail one by one. Pointers never escape.
public typealias F8 = SIMD8<Float>

@inlinable @inline(__always) public func load8(_ p: UnsafePointer<Float>) -> F8 {
  UnsafeRawPointer(p).loadUnaligned(as: F8.self)
}

@inlinable @inline(__always) public func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self)
}

/// `dst[0..<n] += src[0..<n]`
@inlinable @inline(__always) public func addRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
  var j = 0
  while j + 8 <= n {
    store8(load8(dst + j) + load8(src + j), dst + j)
    j += 8
  }
  while j < n {
    dst[j] += src[j]
    j += 1
  }
}

/// `dst[0..<n] += s · src[0..<n]`
@inlinable @inline(__always) public func addScaledRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ s: Float, _ n: Int) {
  var j = 0
  let sv = F8(repeating: s)
  while j + 8 <= n {
    store8(load8(dst + j) + sv * load8(src + j), dst + j)
    j += 8
  }
  while j < n {
    dst[j] += s * src[j]
    j += 1
  }
}

/// `dst[0..<n] *= s`
@inlinable @inline(__always) public func scaleRow(_ dst: UnsafeMutablePointer<Float>, _ s: Float, _ n: Int) {
  var j = 0
  let sv = F8(repeating: s)
  while j + 8 <= n {
    store8(load8(dst + j) * sv, dst + j)
    j += 8
  }
  while j < n {
    dst[j] *= s
    j += 1
  }
}

/// `Σ x[j]²`
@inlinable @inline(__always) public func squaredNorm(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
  var acc = F8(repeating: 0)
  var j = 0
  while j + 8 <= n {
    let v = load8(x + j)
    acc += v * v
    j += 8
  }
  var s = acc.sum()
  while j < n {
    s += x[j] * x[j]
    j += 1
  }
  return s
}

/// Constants of one AdamW step.
public struct AdamStep {
  @inlinable public init(beta1: Float, beta2: Float, epsilon: Float, stepSize: Float, c2Root: Float, decay: Float) {
    self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.stepSize = stepSize; self.c2Root = c2Root; self.decay = decay
  }
  public var beta1: Float
  public var beta2: Float
  public var epsilon: Float
  /// lr / (1 − β1^t)
  public var stepSize: Float
  /// sqrt(1 − β2^t)
  public var c2Root: Float
  /// 1 − lr·λ (1 when the parameter does not decay)
  public var decay: Float
}

/// One AdamW update of `n` consecutive values (in C: Swift's `SIMD8.squareRoot()` is not
/// vectorised; BENCHMARKS.md, bow training).
@inline(__always) public func adamRow(
  _ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
  _ v: UnsafeMutablePointer<Float>, _ n: Int, _ s: AdamStep
) {
  kd_adam_row(w, g, m, v, n, s.beta1, s.beta2, s.epsilon, s.stepSize, s.c2Root, s.decay)
}
