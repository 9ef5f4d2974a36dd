/// Vectorised fp32 kernels for transformer inference: exp, erf, exact GELU,
/// LayerNorm, softmax. All work in place on contiguous rows and use 8-wide
/// SIMD (AVX2 with `-target-cpu haswell`).
public enum Kernels {
  public typealias V = SIMD8<Float>

  /// e^x, Cephes `expf` (relative error ≈ 2e-7); 0 below −87.3, clamped above 88.7.
  @inlinable @inline(__always)
  public static func exp(_ x0: V) -> V {
    let underflow = x0 .< V(repeating: -87.3)
    var x = clamp(x0, -87.3, 88.7)
    // Round x·log2(e) to the nearest integer by adding 1.5·2^23: the integer then
    // sits in the low mantissa bits (avoids the generic, slow SIMD rounding and
    // Float→Int32 conversions).
    let t = x * 1.44269504088896341 + 12_582_912
    let n = t - 12_582_912
    x = x - n * 0.693359375 - n * -2.12194440e-4
    var p = V(repeating: 1.9875691500e-4)
    p = p * x + 1.3981999507e-3
    p = p * x + 8.3334519073e-3
    p = p * x + 4.1665795894e-2
    p = p * x + 1.6666665459e-1
    p = p * x + 5.0000001201e-1
    let y = p * x * x + x + 1
    let shifted = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((shifted &+ 127) &<< 23, to: V.self)
    var r = y * scale
    r.replace(with: 0, where: underflow)
    return r
  }

  /// Clamps each lane to [lo, hi] (NaN stays NaN).
  @inlinable @inline(__always)
  public static func clamp(_ v: V, _ lo: Float, _ hi: Float) -> V {
    var r = v
    r.replace(with: V(repeating: lo), where: r .< V(repeating: lo))
    r.replace(with: V(repeating: hi), where: r .> V(repeating: hi))
    return r
  }

  /// Scalar form of `exp(_:)`, identical results.
  @inlinable @inline(__always)
  public static func exp(_ x: Float) -> Float { exp(V(repeating: x))[0] }

  /// erf(x): Eigen's rational approximation on [−4, 4] (absolute error < 2e-7).
  @inlinable @inline(__always)
  public static func erf(_ a: V) -> V {
    let x = clamp(a, -4, 4)
    let x2 = x * x
    var p = x2 * -2.72614225801306e-10 + 2.77068142495902e-08
    p = x2 * p + -2.10102402082508e-06
    p = x2 * p + -5.69250639462346e-05
    p = x2 * p + -7.34990630326855e-04
    p = x2 * p + -2.95459980854025e-03
    p = x2 * p + -1.60960333262415e-02
    var q = x2 * -1.45660718464996e-05 + -2.13374055278905e-04
    q = x2 * q + -1.68282697438203e-03
    q = x2 * q + -7.37332916720468e-03
    q = x2 * q + -1.42647390514189e-02
    return x * p / q
  }

  /// Scalar form of `erf(_:)`.
  @inlinable @inline(__always)
  public static func erf(_ x: Float) -> Float { erf(V(repeating: x))[0] }

  /// Exact (erf-based) GELU, `0.5·x·(1 + erf(x/√2))`, as in PyTorch's default `gelu`.
  @inlinable @inline(__always)
  public static func gelu(_ x: V) -> V {
    0.5 * x * (1 + erf(x * 0.70710678118654752440))
  }

  /// Applies exact GELU in place to `count` values.
  @inlinable
  public static func geluInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    let raw = UnsafeMutableRawPointer(p)
    while i + 8 <= count {
      let v = raw.loadUnaligned(fromByteOffset: i * 4, as: V.self)
      raw.storeBytes(of: gelu(v), toByteOffset: i * 4, as: V.self)
      i += 8
    }
    while i < count {
      p[i] = gelu(V(repeating: p[i]))[0]
      i += 1
    }
  }

  /// Adds `bias` (length `cols`) to each of `rows` rows and applies GELU, in place.
  @inlinable
  public static func biasGeluInPlace(_ p: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
    let braw = UnsafeRawPointer(bias)
    for r in 0..<rows {
      let row = p + r * cols
      let raw = UnsafeMutableRawPointer(row)
      var i = 0
      while i + 8 <= cols {
        let v = raw.loadUnaligned(fromByteOffset: i * 4, as: V.self) + braw.loadUnaligned(fromByteOffset: i * 4, as: V.self)
        raw.storeBytes(of: gelu(v), toByteOffset: i * 4, as: V.self)
        i += 8
      }
      while i < cols {
        row[i] = gelu(V(repeating: row[i] + bias[i]))[0]
        i += 1
      }
    }
  }

  /// LayerNorm over each row of `rows × cols`, in place: `(x − mean)/√(var + eps)·γ + β`
  /// (biased variance, as PyTorch).
  @inlinable
  public static func layerNormInPlace(
    _ p: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
    gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float
  ) {
    let graw = UnsafeRawPointer(gamma), braw = UnsafeRawPointer(beta)
    for r in 0..<rows {
      let row = p + r * cols
      let raw = UnsafeMutableRawPointer(row)
      var acc = V.zero
      var i = 0
      while i + 8 <= cols {
        acc += raw.loadUnaligned(fromByteOffset: i * 4, as: V.self)
        i += 8
      }
      var sum = acc.sum()
      while i < cols { sum += row[i]; i += 1 }
      let mean = sum / Float(cols)
      var vacc = V.zero
      let vm = V(repeating: mean)
      i = 0
      while i + 8 <= cols {
        let d = raw.loadUnaligned(fromByteOffset: i * 4, as: V.self) - vm
        vacc = vacc.addingProduct(d, d)
        i += 8
      }
      var vs = vacc.sum()
      while i < cols { let d = row[i] - mean; vs += d * d; i += 1 }
      let inv = 1 / (vs / Float(cols) + eps).squareRoot()
      let vinv = V(repeating: inv)
      i = 0
      while i + 8 <= cols {
        let x = (raw.loadUnaligned(fromByteOffset: i * 4, as: V.self) - vm) * vinv
        let y = x * graw.loadUnaligned(fromByteOffset: i * 4, as: V.self) + braw.loadUnaligned(fromByteOffset: i * 4, as: V.self)
        raw.storeBytes(of: y, toByteOffset: i * 4, as: V.self)
        i += 8
      }
      while i < cols { row[i] = (row[i] - mean) * inv * gamma[i] + beta[i]; i += 1 }
    }
  }

  /// Softmax over each row of `rows × cols` (row stride `stride`), in place, max-subtracted.
  @inlinable
  public static func softmaxRowsInPlace(_ p: UnsafeMutablePointer<Float>, rows: Int, cols: Int, stride: Int) {
    for r in 0..<rows {
      let row = p + r * stride
      let raw = UnsafeMutableRawPointer(row)
      var mv = V(repeating: -.infinity)
      var i = 0
      while i + 8 <= cols {
        let v = raw.loadUnaligned(fromByteOffset: i * 4, as: V.self)
        mv.replace(with: v, where: v .> mv)
        i += 8
      }
      var m = mv.max()
      while i < cols { m = Swift.max(m, row[i]); i += 1 }
      let vm = V(repeating: m)
      var sacc = V.zero
      i = 0
      while i + 8 <= cols {
        let e = exp(raw.loadUnaligned(fromByteOffset: i * 4, as: V.self) - vm)
        raw.storeBytes(of: e, toByteOffset: i * 4, as: V.self)
        sacc += e
        i += 8
      }
      var s = sacc.sum()
      while i < cols { let e = exp(row[i] - m); row[i] = e; s += e; i += 1 }
      let inv = V(repeating: 1 / s)
      i = 0
      while i + 8 <= cols {
        raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: i * 4, as: V.self) * inv, toByteOffset: i * 4, as: V.self)
        i += 8
      }
      while i < cols { row[i] *= inv[0]; i += 1 }
    }
  }

  /// Whether all `count` values are finite (no NaN, no ±Inf).
  @inlinable
  public static func allFinite(_ p: UnsafePointer<Float>, count: Int) -> Bool {
    var i = 0
    let raw = UnsafeRawPointer(p)
    // x - x is 0 for finite x and NaN for NaN/Inf; NaN propagates through the sum.
    var acc = V.zero
    while i + 8 <= count {
      let v = raw.loadUnaligned(fromByteOffset: i * 4, as: V.self)
      acc += v - v
      i += 8
    }
    var s = acc.sum()
    while i < count { s += p[i] - p[i]; i += 1 }
    return s == 0
  }
}
