import CKernels
import Foundation
import KDTensor

// Layers over `[rows × width]` row-major activations (rows = the packed tokens of a
// `SequenceLayout`, or examples). Each layer keeps what its backward pass needs from
// the last `forward(training: true)`; `backward` accumulates parameter gradients and
// returns the gradient of its input.

/// `y = x · Wᵀ + b` with `W` stored `[out × in]` as PyTorch's `nn.Linear`.
public final class Dense {
  public let weight: Parameter
  public let bias: Parameter?
  public let inputSize: Int
  public let outputSize: Int
  var input: [Float] = []
  var rows = 0

  /// BERT initialisation: weights ~ N(0, std), bias 0. Parameter names `name.weight`, `name.bias`.
  public init(name: String, inputSize: Int, outputSize: Int, bias: Bool = true, std: Float = 0.02, rng: inout NNRandom) {
    self.inputSize = inputSize
    self.outputSize = outputSize
    let w = std == 0 ? [Float](repeating: 0, count: inputSize * outputSize) : (0..<(inputSize * outputSize)).map { _ in rng.normal(std: std) }
    weight = Parameter(name: name + ".weight", shape: [outputSize, inputSize], value: w)
    self.bias = bias ? Parameter(name: name + ".bias", shape: [outputSize], value: [Float](repeating: 0, count: outputSize), decays: false) : nil
  }

  /// Kaiming-uniform weights as `torch.nn.Linear` (U(−1/√in, 1/√in)), zero bias: the bag students'
  /// layers. (A distinct label, so that BERT's `init(name:inputSize:outputSize:rng:)` calls keep N(0, std).)
  public init(name: String, inputSize: Int, outputSize: Int, linearInit rng: inout NNRandom) {
    self.inputSize = inputSize
    self.outputSize = outputSize
    let bound = 1 / Float(inputSize).squareRoot()
    var w = [Float](repeating: 0, count: inputSize * outputSize)
    for i in w.indices { w[i] = (rng.unit() * 2 - 1) * bound }
    weight = Parameter(name: name + ".weight", shape: [outputSize, inputSize], value: w)
    bias = Parameter(name: name + ".bias", shape: [outputSize], value: [Float](repeating: 0, count: outputSize), decays: false)
  }

  public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

  public func forward(_ x: [Float], rows: Int, training: Bool) -> [Float] {
    precondition(x.count == rows * inputSize, "Dense \(weight.name): \(x.count) inputs for \(rows)×\(inputSize)")
    guard rows > 0 else { return [] }
    // Every element is written below (the bias rows, or sgemm with β = 0): no zero fill.
    var y = uninitializedFloats(rows * outputSize)
    let o = outputSize, i = inputSize
    y.withUnsafeMutableBufferPointer { yp in
      let yb = yp.baseAddress!
      if let b = bias {
        b.value.withUnsafeBufferPointer { bp in for r in 0..<rows { (yb + r * o).update(from: bp.baseAddress!, count: o) } }
      }
      x.withUnsafeBufferPointer { xp in
        weight.value.withUnsafeBufferPointer { wp in
          nnSgemm(transB: true, m: rows, n: o, k: i, a: xp.baseAddress!, lda: i, b: wp.baseAddress!, ldb: i,
                  beta: bias == nil ? 0 : 1, c: yb, ldc: o)
        }
      }
    }
    if training {
      input = x
      self.rows = rows
    }
    return y
  }

  public func backward(_ dy: [Float]) -> [Float] {
    let o = outputSize, i = inputSize, n = rows
    precondition(dy.count == n * o, "Dense \(weight.name): gradient size")
    guard n > 0 else { return [] }
    var dx = uninitializedFloats(n * i)  // sgemm with β = 0 writes every element
    dy.withUnsafeBufferPointer { dp in
      let d = dp.baseAddress!
      input.withUnsafeBufferPointer { xp in
        weight.grad.withUnsafeMutableBufferPointer { gp in
          // dW[o×i] += dyᵀ · x
          nnSgemm(transA: true, m: o, n: i, k: n, a: d, lda: o, b: xp.baseAddress!, ldb: i, beta: 1, c: gp.baseAddress!, ldc: i)
        }
      }
      if let b = bias {
        b.grad.withUnsafeMutableBufferPointer { gp in
          for r in 0..<n { addRow(gp.baseAddress!, d + r * o, o) }
        }
      }
      weight.value.withUnsafeBufferPointer { wp in
        dx.withUnsafeMutableBufferPointer { xp in
          nnSgemm(m: n, n: i, k: o, a: d, lda: o, b: wp.baseAddress!, ldb: i, c: xp.baseAddress!, ldc: i)
        }
      }
    }
    input = []  // each forward cache is used by one backward: freeing it keeps it out of evaluation's peak
    return dx
  }
}

/// LayerNorm over the last dimension (biased variance, as PyTorch), with learned `weight` (γ) and `bias` (β).
public final class LayerNorm {
  public let gamma: Parameter
  public let beta: Parameter
  public let size: Int
  public let eps: Float
  var xhat: [Float] = []
  var rstd: [Float] = []

  /// Parameter names `name.weight`, `name.bias` (neither decays).
  public init(name: String, size: Int, eps: Float) {
    self.size = size
    self.eps = eps
    gamma = Parameter(name: name + ".weight", shape: [size], value: [Float](repeating: 1, count: size), decays: false)
    beta = Parameter(name: name + ".bias", shape: [size], value: [Float](repeating: 0, count: size), decays: false)
  }

  public var parameters: [Parameter] { [gamma, beta] }

  public func forward(_ x: [Float], rows: Int, training: Bool) -> [Float] {
    var y = x
    let d = size
    let eps = self.eps
    if !training {
      // Inference: KDTensor's kernel, as the teacher's encoder.
      y.withUnsafeMutableBufferPointer { yp in
        gamma.value.withUnsafeBufferPointer { g in
          beta.value.withUnsafeBufferPointer { b in
            Kernels.layerNormInPlace(yp.baseAddress!, rows: rows, cols: d, gamma: g.baseAddress!, beta: b.baseAddress!, eps: eps)
          }
        }
      }
      return y
    }
    xhat = [Float](repeating: 0, count: rows * d)
    rstd = [Float](repeating: 0, count: rows)
    y.withUnsafeMutableBufferPointer { yp in
      xhat.withUnsafeMutableBufferPointer { hp in
        rstd.withUnsafeMutableBufferPointer { sp in
          gamma.value.withUnsafeBufferPointer { g in
            beta.value.withUnsafeBufferPointer { b in
              let Y = UnsafeSendablePointer(yp.baseAddress!), Hh = UnsafeSendablePointer(hp.baseAddress!)
              let S = UnsafeSendablePointer(sp.baseAddress!)
              let gp = g.baseAddress!, bp = b.baseAddress!
              nnParallelRows(rows) { r0, r1 in
                for r in r0..<r1 {
                  let row = Y.p + r * d, h = Hh.p + r * d
                  var mean: Float = 0
                  for j in 0..<d { mean += row[j] }
                  mean /= Float(d)
                  var v: Float = 0
                  for j in 0..<d { let t = row[j] - mean; v += t * t }
                  let inv = 1 / (v / Float(d) + eps).squareRoot()
                  S.p[r] = inv
                  for j in 0..<d {
                    let xh = (row[j] - mean) * inv
                    h[j] = xh
                    row[j] = xh * gp[j] + bp[j]
                  }
                }
              }
            }
          }
        }
      }
    }
    return y
  }

  public func backward(_ dy: [Float]) -> [Float] {
    let d = size, rows = rstd.count
    var dx = [Float](repeating: 0, count: rows * d)
    var dg = [Float](repeating: 0, count: d), db = [Float](repeating: 0, count: d)
    dy.withUnsafeBufferPointer { dyp in
      xhat.withUnsafeBufferPointer { hp in
        gamma.value.withUnsafeBufferPointer { g in
          dx.withUnsafeMutableBufferPointer { dxp in
            let D = UnsafeSendablePointer(dxp.baseAddress!)
            let dyb = dyp.baseAddress!, hb = hp.baseAddress!, gb = g.baseAddress!
            let rs = rstd
            nnParallelRows(rows) { r0, r1 in
              for r in r0..<r1 {
                let dyr = dyb + r * d, h = hb + r * d, out = D.p + r * d
                var s1: Float = 0, s2: Float = 0
                for j in 0..<d {
                  let t = dyr[j] * gb[j]
                  s1 += t
                  s2 += t * h[j]
                }
                s1 /= Float(d); s2 /= Float(d)
                let inv = rs[r]
                for j in 0..<d { out[j] = inv * (dyr[j] * gb[j] - s1 - h[j] * s2) }
              }
            }
            for r in 0..<rows {
              let dyr = dyb + r * d, h = hb + r * d
              for j in 0..<d {
                dg[j] += dyr[j] * h[j]
                db[j] += dyr[j]
              }
            }
          }
        }
      }
    }
    for j in 0..<d {
      gamma.grad[j] += dg[j]
      beta.grad[j] += db[j]
    }
    xhat = []
    rstd = []
    return dx
  }
}

/// Exact (erf) GELU, PyTorch's default `gelu` and BERT's `hidden_act: "gelu"`, with KDTensor's kernel.
public final class GELU {
  var input: [Float] = []
  public init() {}

  public func forward(_ x: [Float], training: Bool) -> [Float] {
    if training { input = x }
    var y = x
    let n = y.count
    y.withUnsafeMutableBufferPointer { yp in
      let Y = UnsafeSendablePointer(yp.baseAddress!)
      nnParallelRows(n, minRows: 16384) { a, b in Kernels.geluInPlace(Y.p + a, count: b - a) }
    }
    return y
  }

  /// dGELU/dx = Φ(x) + x·φ(x).
  public func backward(_ dy: [Float]) -> [Float] {
    var dx = dy
    let n = dx.count
    dx.withUnsafeMutableBufferPointer { dp in
      input.withUnsafeBufferPointer { xp in
        let D = UnsafeSendablePointer(dp.baseAddress!)
        let X = xp.baseAddress!
        nnParallelRows(n, minRows: 16384) { a, b in
          typealias V = Kernels.V
          var i = a
          let raw = UnsafeMutableRawPointer(D.p), xr = UnsafeRawPointer(X)
          while i + 8 <= b {
            let x = xr.loadUnaligned(fromByteOffset: i * 4, as: V.self)
            let g = raw.loadUnaligned(fromByteOffset: i * 4, as: V.self)
            raw.storeBytes(of: g * geluDerivative(x), toByteOffset: i * 4, as: V.self)
            i += 8
          }
          while i < b {
            D.p[i] *= geluDerivative(V(repeating: X[i]))[0]
            i += 1
          }
        }
      }
    }
    input = []
    return dx
  }

  @inline(__always)
  func geluDerivative(_ x: Kernels.V) -> Kernels.V {
    let cdf = 0.5 * (1 + Kernels.erf(x * 0.70710678118654752440))
    let pdf = Kernels.exp(-0.5 * x * x) * 0.39894228040143267794
    return cdf + x * pdf
  }
}

/// `max(0, x)`.
public final class ReLUActivation {
  var mask: [Bool] = []
  public init() {}
  public func forward(_ x: [Float], training: Bool) -> [Float] {
    if training { mask = x.map { $0 > 0 } }
    return x.map { max(0, $0) }
  }
  public func backward(_ dy: [Float]) -> [Float] {
    var dx = dy
    for i in dx.indices where !mask[i] { dx[i] = 0 }
    mask = []
    return dx
  }
}

/// `tanh(x)` (BERT's pooler).
public final class Tanh {
  var output: [Float] = []
  public init() {}
  public func forward(_ x: [Float], training: Bool) -> [Float] {
    let y = x.map { Foundation.tanh($0) }
    if training { output = y }
    return y
  }
  public func backward(_ dy: [Float]) -> [Float] {
    var dx = dy
    for i in dx.indices { dx[i] *= 1 - output[i] * output[i] }
    output = []
    return dx
  }
}

/// Inverted dropout: at training, zeroes each value with probability `p` and scales the rest by 1/(1−p);
/// identity at inference. Its random stream is seeded, so runs repeat exactly.
public final class Dropout {
  public var p: Float
  var rng: NNRandom
  var keep: [Float] = []
  public init(p: Float, seed: UInt64) {
    self.p = p
    rng = NNRandom(seed: seed)
  }
  public func forward(_ x: [Float], training: Bool) -> [Float] {
    guard training && p > 0 else { keep = []; return x }
    let scale = 1 / (1 - p), p = self.p, n = x.count
    // The same draws in the same order as a `map`, without its per-element closure and checks.
    keep = [Float](unsafeUninitializedCapacity: n) { k, count in
      for i in 0..<n { k[i] = rng.unit() < p ? 0 : scale }
      count = n
    }
    return Dropout.scaled(x, by: keep)
  }
  public func backward(_ dy: [Float]) -> [Float] {
    guard !keep.isEmpty else { return dy }
    let dx = Dropout.scaled(dy, by: keep)
    keep = []
    return dx
  }
  static func scaled(_ x: [Float], by keep: [Float]) -> [Float] {
    precondition(x.count == keep.count, "Dropout: \(x.count) values for a mask of \(keep.count)")
    return [Float](unsafeUninitializedCapacity: x.count) { y, count in
      x.withUnsafeBufferPointer { xp in
        keep.withUnsafeBufferPointer { kp in
          for i in 0..<xp.count { y[i] = xp[i] * kp[i] }
        }
      }
      count = x.count
    }
  }
}

/// A lookup table `[rows × width]`: `forward(ids)` returns one row per id.
/// The gradient is sparse (only looked-up rows; AdamW updates those rows lazily) when `sparse`.
public final class Embedding {
  public let table: Parameter
  public let width: Int
  var ids: [Int32] = []

  public init(name: String, rows: Int, width: Int, std: Float = 0.02, sparse: Bool = false, rng: inout NNRandom) {
    self.width = width
    let v = std == 0 ? [Float](repeating: 0, count: rows * width) : (0..<(rows * width)).map { _ in rng.normal(std: std) }
    table = Parameter(name: name, shape: [rows, width], value: v,
                      sparse: sparse, decays: true)
  }

  public var rows: Int { table.shape[0] }

  /// Rows for `ids` (each in `0..<rows`; callers check input).
  public func forward(_ ids: [Int32], training: Bool) -> [Float] {
    let d = width
    var y = [Float](repeating: 0, count: ids.count * d)
    y.withUnsafeMutableBufferPointer { yp in
      table.value.withUnsafeBufferPointer { tp in
        for (t, id) in ids.enumerated() { (yp.baseAddress! + t * d).update(from: tp.baseAddress! + Int(id) * d, count: d) }
      }
    }
    if training { self.ids = ids }
    return y
  }

  /// Adds row gradients into the table's gradient (embeddings are inputs: no input gradient).
  public func backward(_ dy: [Float]) {
    let d = width
    dy.withUnsafeBufferPointer { dp in
      guard let d0 = dp.baseAddress else { return }
      if table.isSparse {
        let slots = table.touch(ids)
        table.rowGrad.withUnsafeMutableBufferPointer { gp in
          for (t, slot) in slots.enumerated() { addRow(gp.baseAddress! + Int(slot) * d, d0 + t * d, d) }
        }
      } else {
        table.grad.withUnsafeMutableBufferPointer { gp in
          for (t, id) in ids.enumerated() { addRow(gp.baseAddress! + Int(id) * d, d0 + t * d, d) }
        }
      }
    }
  }
}

/// fastText-style bag of features: each token id, and each adjacent pair of ids hashed into
/// `buckets` extra rows, looked up in one table and averaged (the `bow` and `mlp` students).
///
/// Rows `0 ..< vocabSize` are tokens, rows `vocabSize ..< vocabSize + buckets` are bigram buckets
/// (`Self.bigramBucket`). The table is a sparse parameter: AdamW updates only the rows a step touched.
public final class EmbeddingBag {
  public let vocabSize: Int
  public let buckets: Int
  public let dimension: Int
  public let table: Parameter
  var features: [Int32] = []
  var featureOffsets: [Int] = [0]

  /// Uniform(−1/d, 1/d) initialisation, as fastText's input vectors.
  public init(name: String, vocabSize: Int, buckets: Int, dimension: Int, rng: inout NNRandom) {
    self.vocabSize = vocabSize
    self.buckets = buckets
    self.dimension = dimension
    let rows = vocabSize + buckets
    var w = [Float](repeating: 0, count: rows * dimension)
    let bound = 1 / Float(dimension)
    for i in w.indices { w[i] = (rng.unit() * 2 - 1) * bound }
    table = Parameter(name: name, shape: [rows, dimension], value: w, sparse: true, decays: false)
  }

  /// The bucket of the bigram (a, b): a fixed 64-bit mix, reproduced by tools/train/*.py and the ONNX export.
  @inline(__always)
  public static func bigramBucket(_ a: Int32, _ b: Int32, buckets: Int) -> Int {
    var h = UInt64(UInt32(bitPattern: a)) &* 0x9e37_79b9_7f4a_7c15 ^ UInt64(UInt32(bitPattern: b))
    h = (h ^ (h >> 29)) &* 0xbf58_476d_1ce4_e5b9
    h ^= h >> 32
    return Int(h % UInt64(buckets))
  }

  /// Feature rows of a sequence of `length` tokens: the tokens, then their adjacent pairs.
  @inline(__always)
  func featureCount(_ length: Int) -> Int { length + (buckets > 0 && length > 1 ? length - 1 : 0) }

  /// Writes the feature rows of one token sequence to `out` (`featureCount(tokens.count)` ids).
  @inline(__always)
  func writeFeatures(_ tokens: UnsafeBufferPointer<Int32>, to out: UnsafeMutablePointer<Int32>) {
    for (i, t) in tokens.enumerated() { out[i] = t }
    if buckets > 0 && tokens.count > 1 {
      let v = Int32(vocabSize), c = tokens.count
      for i in 1..<c { out[c + i - 1] = v + Int32(Self.bigramBucket(tokens[i - 1], tokens[i], buckets: buckets)) }
    }
  }

  /// Mean of the feature rows of each sequence, `[count × dimension]`; sequence `i` is
  /// `tokens[offsets[i] ..< offsets[i + 1]]` (ids below `vocabSize`; callers check input).
  ///
  /// Sequences are split over `NNThreads.threads` workers; each sums its own rows in the same
  /// order as one worker would, so the result does not depend on the worker count.
  public func forward(tokens: [Int32], offsets: [Int], training: Bool) -> [Float] {
    let d = dimension
    let n = offsets.count - 1
    featureOffsets = [Int](repeating: 0, count: n + 1)
    for i in 0..<n { featureOffsets[i + 1] = featureOffsets[i] + featureCount(offsets[i + 1] - offsets[i]) }
    features = [Int32](repeating: 0, count: featureOffsets[n])
    var out = [Float](repeating: 0, count: n * d)
    let fo = featureOffsets
    tokens.withUnsafeBufferPointer { tp in
      features.withUnsafeMutableBufferPointer { fp in
        out.withUnsafeMutableBufferPointer { op in
          table.value.withUnsafeBufferPointer { wp in
            guard let o0 = op.baseAddress, let w0 = wp.baseAddress, let f0 = fp.baseAddress else { return }
            nnParallelRows(n, minRows: 4) { r0, r1 in
              for i in r0..<r1 {
                writeFeatures(UnsafeBufferPointer(rebasing: tp[offsets[i]..<offsets[i + 1]]), to: f0 + fo[i])
              }
              // The rows are scattered over a table larger than the caches: fetch a few features ahead.
              let ahead = 8, bytes = d * MemoryLayout<Float>.stride, end = fo[r1]
              for i in r0..<r1 {
                let lo = fo[i], hi = fo[i + 1]
                guard hi > lo else { continue }
                let o = o0 + i * d
                for f in lo..<hi {
                  if f + ahead < end { kd_prefetch_rows(w0 + Int(f0[f + ahead]) * d, bytes) }
                  addRow(o, w0 + Int(f0[f]) * d, d)
                }
                scaleRow(o, 1 / Float(hi - lo), d)
              }
            }
          }
        }
      }
    }
    return out
  }

  /// Scatters `dPooled / count` into the rows each sequence of the last forward pass used
  /// (the table's compact row gradients: the rows stay in cache however large the table).
  ///
  /// Rows are assigned in first-use order on one thread; then each worker adds the features of its
  /// own share of the rows, in feature order, so every row's sum is the same for any worker count.
  public func backward(_ dPooled: [Float]) {
    let d = dimension
    let n = featureOffsets.count - 1
    // Each feature's row of the table's compact gradient.
    let featureSlots = table.touch(features)
    let rows = table.touchedRows.count
    let fo = featureOffsets
    table.rowGrad.withUnsafeMutableBufferPointer { gp in
      dPooled.withUnsafeBufferPointer { dp in
        featureSlots.withUnsafeBufferPointer { sp in
          guard let g0 = gp.baseAddress, let d0 = dp.baseAddress else { return }
          nnParallelRows(rows, minRows: 256) { s0, s1 in
            let lo32 = Int32(s0), hi32 = Int32(s1)
            let all = s0 == 0 && s1 == rows
            for i in 0..<n {
              let lo = fo[i], hi = fo[i + 1]
              guard hi > lo else { continue }
              let inv = 1 / Float(hi - lo)
              let src = d0 + i * d
              for f in lo..<hi {
                let slot = sp[f]
                if all || (slot >= lo32 && slot < hi32) { addScaledRow(g0 + Int(slot) * d, src, inv, d) }
              }
            }
          }
        }
      }
    }
  }
}
