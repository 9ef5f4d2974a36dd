import Foundation
import KDTensor

/// The layout of a batch of sequences: packed, without padding.
///
/// Token rows of sequence `i` are `offsets[i] ..< offsets[i + 1]` of every
/// `[tokens × width]` activation. Dense layers run on all real tokens at once;
/// attention runs per sequence over its own tokens. That is exactly what a
/// right-padded batch with an attention (padding) mask computes for the real
/// tokens — the padded positions simply do not exist — so it matches Hugging
/// Face's `attention_mask` semantics while spending nothing on padding.
public struct SequenceLayout: Sendable, Equatable {
  public let offsets: [Int]
  public init(offsets: [Int]) {
    precondition(offsets.first == 0, "SequenceLayout: offsets start at 0")
    self.offsets = offsets
  }
  /// From sequence lengths.
  public init(lengths: [Int]) {
    var o = [0]
    o.reserveCapacity(lengths.count + 1)
    for l in lengths { o.append(o[o.count - 1] + l) }
    offsets = o
  }
  public var count: Int { offsets.count - 1 }
  public var tokens: Int { offsets[offsets.count - 1] }
  @inlinable public func length(_ i: Int) -> Int { offsets[i + 1] - offsets[i] }
  public var maxLength: Int { (0..<count).map(length).max() ?? 0 }

  /// Each sequence's first row of a `[tokens × width]` activation: `[count × width]`.
  public func firstRows(of x: [Float], width: Int) -> [Float] {
    var r = uninitializedFloats(count * width)  // every row is copied below
    for s in 0..<count {
      let o = offsets[s] * width
      for j in 0..<width { r[s * width + j] = x[o + j] }
    }
    return r
  }

  /// Adds `rows` `[count × width]` to each sequence's first row of `x` `[tokens × width]`.
  public func addFirstRows(_ rows: [Float], into x: inout [Float], width: Int) {
    for s in 0..<count {
      let o = offsets[s] * width
      for j in 0..<width { x[o + j] += rows[s * width + j] }
    }
  }
}

/// The one thread policy of the network layer: `threads` workers, OpenBLAS on one thread.
/// Dense products split their output rows over the workers (`nnSgemm`); per-(sequence, head)
/// attention products and element-wise passes split their items. OpenBLAS's own threads would
/// spin (`sched_yield`) between calls and compete with kd's workers on a 2-core machine: with
/// them, a transformer student's step was 1.04–1.16× slower (BENCHMARKS.md, issue 13), and many
/// small products run slower with threaded BLAS (../shared/PLATFORM.md).
public enum NNThreads {
  nonisolated(unsafe) public static var threads = 1

  /// Sets the worker count for training and inference (OpenBLAS stays on one thread).
  public static func set(_ n: Int) {
    threads = max(1, n)
    BLAS.setThreads(1)
  }
}

/// `C = α·op(A)·op(B) + β·C` (row-major, `op` a transpose when asked) with C's rows split over
/// `NNThreads.threads` workers, each an OpenBLAS call on one thread; serial below `minRows` rows
/// per worker.
public func nnSgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                    c: UnsafeMutablePointer<Float>, ldc: Int, minRows: Int = 32) {
  let w = max(1, min(NNThreads.threads, m / max(1, minRows)))
  guard w > 1 else {
    BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    return
  }
  let C = UnsafeSendablePointer(c)
  nnParallel(w) { t in
    let m0 = m * t / w, m1 = m * (t + 1) / w
    guard m1 > m0 else { return }
    // Row m0 of op(A): row m0 of A, or column m0 of the stored Aᵀ.
    BLAS.sgemm(transA: transA, transB: transB, m: m1 - m0, n: n, k: k, alpha: alpha, a: transA ? a + m0 : a + m0 * lda, lda: lda,
               b: b, ldb: ldb, beta: beta, c: C.p + m0 * ldc, ldc: ldc)
  }
}

/// An array of `count` floats whose contents are undefined: for outputs that the caller writes in
/// full (an sgemm with β = 0, a copy), where a zero fill would be a wasted pass over memory.
@inlinable
public func uninitializedFloats(_ count: Int) -> [Float] {
  [Float](unsafeUninitializedCapacity: count) { _, n in n = count }
}

/// Runs `body(worker)` on `count` workers and waits for all of them.
@inlinable
public func nnParallel(_ count: Int, _ body: (Int) -> Void) {
  if count <= 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: count, execute: body) }
}

/// Splits `rows` rows over the thread policy's workers: `body(r0, r1)` per worker (serial below `minRows` rows per worker).
@inlinable
public func nnParallelRows(_ rows: Int, minRows: Int = 64, _ body: (Int, Int) -> Void) {
  let w = max(1, min(NNThreads.threads, rows / max(1, minRows)))
  nnParallel(w) { k in
    let r0 = rows * k / w, r1 = rows * (k + 1) / w
    if r1 > r0 { body(r0, r1) }
  }
}

/// A raw pointer that may cross into worker closures (each worker writes disjoint rows).
public struct UnsafeSendablePointer: @unchecked Sendable {
  public let p: UnsafeMutablePointer<Float>
  public init(_ p: UnsafeMutablePointer<Float>) { self.p = p }
}

/// Deterministic random numbers for initialisation and dropout (SplitMix64).
public struct NNRandom: RandomNumberGenerator, Sendable {
  public var state: UInt64
  public init(seed: UInt64) { state = seed }
  public mutating func next() -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }
  /// Uniform in [0, 1).
  public mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }
  /// Normal with standard deviation `std` (Box-Muller).
  public mutating func normal(std: Float) -> Float {
    let u1 = max(Double(next() >> 11) / Double(1 << 53), 1e-300)
    let u2 = Double(next() >> 11) / Double(1 << 53)
    return std * Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
  }
}

/// The one softmax: rows of `[rows × cols]` in place (max-subtracted, KDTensor's vector kernel).
public func softmaxInPlace(_ x: inout [Float], rows: Int, cols: Int) {
  guard rows > 0, cols > 0 else { return }
  x.withUnsafeMutableBufferPointer { Kernels.softmaxRowsInPlace($0.baseAddress!, rows: rows, cols: cols, stride: cols) }
}

/// Log-sum-exp of `scale · x[0..<n]` (numerically safe).
@inlinable
public func logSumExp(_ x: UnsafePointer<Float>, _ n: Int, scale: Float = 1) -> Float {
  var m = -Float.infinity
  for j in 0..<n { m = max(m, x[j] * scale) }
  guard m.isFinite else { return m }
  var s: Float = 0
  for j in 0..<n { s += Foundation.exp(x[j] * scale - m) }
  return m + Foundation.log(s)
}
