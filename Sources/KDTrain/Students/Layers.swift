import Foundation

/// A layer over row-major `[rows × inputSize]` activations with a hand-written backward pass.
///
/// `forward` keeps what `backward` needs; `backward` takes the gradient of the
/// output, accumulates the parameters' gradients and returns the input's
/// gradient. A transformer student adds layers of this shape (attention,
/// LayerNorm, GELU) over `[tokens × width]` rows without touching the trainer.
public protocol Layer: AnyObject {
  var inputSize: Int { get }
  var outputSize: Int { get }
  var parameters: [Parameter] { get }
  func forward(_ x: [Float], rows: Int, training: Bool) -> [Float]
  func backward(_ dy: [Float], rows: Int) -> [Float]
}

/// `y = x·Wᵀ + b`, with `W` of shape `[out × in]` (PyTorch's layout).
public final class Linear: Layer {
  public let inputSize: Int
  public let outputSize: Int
  public let weight: Parameter
  public let bias: Parameter
  private var input: [Float] = []

  /// Kaiming-uniform weights like `torch.nn.Linear` (bound 1/sqrt(in)), zero bias.
  public init(name: String, inputSize: Int, outputSize: Int, rng: inout SplitMix64) {
    self.inputSize = inputSize
    self.outputSize = outputSize
    let bound = 1 / Float(inputSize).squareRoot()
    var w = [Float](repeating: 0, count: inputSize * outputSize)
    for i in w.indices { w[i] = (rng.nextUnit() * 2 - 1) * bound }
    weight = Parameter(name: name + ".weight", shape: [outputSize, inputSize], value: w)
    bias = Parameter(name: name + ".bias", shape: [outputSize], value: [Float](repeating: 0, count: outputSize),
                     decays: false)
  }

  public var parameters: [Parameter] { [weight, bias] }

  public func forward(_ x: [Float], rows: Int, training: Bool) -> [Float] {
    if training { input = x }
    var y = [Float](repeating: 0, count: rows * outputSize)
    y.withUnsafeMutableBufferPointer { yp in
      for r in 0..<rows {
        for o in 0..<outputSize { yp[r * outputSize + o] = bias.value[o] }
      }
      x.withUnsafeBufferPointer { xp in
        weight.value.withUnsafeBufferPointer { wp in
          gemm(false, true, m: rows, n: outputSize, k: inputSize, xp.baseAddress!, wp.baseAddress!, yp.baseAddress!,
               accumulate: true)
        }
      }
    }
    return y
  }

  public func backward(_ dy: [Float], rows: Int) -> [Float] {
    let n = outputSize
    dy.withUnsafeBufferPointer { dp in
      // dW += dyᵀ·x ; db += Σ_rows dy
      input.withUnsafeBufferPointer { xp in
        weight.grad.withUnsafeMutableBufferPointer { gp in
          gemm(true, false, m: n, n: inputSize, k: rows, dp.baseAddress!, xp.baseAddress!, gp.baseAddress!,
               accumulate: true)
        }
      }
      bias.grad.withUnsafeMutableBufferPointer { bp in
        for r in 0..<rows {
          for o in 0..<n { bp[o] += dp[r * n + o] }
        }
      }
    }
    // dx = dy·W
    var dx = [Float](repeating: 0, count: rows * inputSize)
    dx.withUnsafeMutableBufferPointer { xp in
      dy.withUnsafeBufferPointer { dp in
        weight.value.withUnsafeBufferPointer { wp in
          gemm(false, false, m: rows, n: inputSize, k: n, dp.baseAddress!, wp.baseAddress!, xp.baseAddress!,
               accumulate: false)
        }
      }
    }
    return dx
  }
}

/// `y = max(0, x)`.
public final class ReLU: Layer {
  public let inputSize: Int
  public var outputSize: Int { inputSize }
  private var mask: [Bool] = []
  public init(size: Int) { inputSize = size }
  public var parameters: [Parameter] { [] }

  public func forward(_ x: [Float], rows: Int, training: Bool) -> [Float] {
    var y = x
    if training { mask = x.map { $0 > 0 } }
    for i in y.indices where y[i] < 0 { y[i] = 0 }
    return y
  }

  public func backward(_ dy: [Float], rows: Int) -> [Float] {
    var dx = dy
    for i in dx.indices where !mask[i] { dx[i] = 0 }
    return dx
  }
}

/// fastText-style bag of features: each token id, and each adjacent pair of
/// ids hashed into `buckets` extra rows, looked up in one table and averaged.
///
/// Rows `0 ..< vocabSize` are tokens, rows `vocabSize ..< vocabSize + buckets`
/// are bigram buckets (`Self.bigramBucket`). The table is a sparse parameter.
public final class EmbeddingBag {
  public let vocabSize: Int
  public let buckets: Int
  public let dimension: Int
  public let table: Parameter
  private var features: [Int32] = []
  private var featureOffsets: [Int] = [0]

  /// Uniform(-1/d, 1/d) initialisation, as fastText's input vectors.
  public init(name: String, vocabSize: Int, buckets: Int, dimension: Int, rng: inout SplitMix64) {
    self.vocabSize = vocabSize
    self.buckets = buckets
    self.dimension = dimension
    let rows = vocabSize + buckets
    var w = [Float](repeating: 0, count: rows * dimension)
    let bound = 1 / Float(dimension)
    for i in w.indices { w[i] = (rng.nextUnit() * 2 - 1) * bound }
    table = Parameter(name: name, shape: [rows, dimension], value: w, sparse: true, decays: false)
  }

  /// The bucket of the bigram (a, b): a fixed 64-bit mix, reproduced by tools/train/*.py.
  @inline(__always)
  public static func bigramBucket(_ a: Int32, _ b: Int32, buckets: Int) -> Int {
    var h = UInt64(UInt32(bitPattern: a)) &* 0x9e37_79b9_7f4a_7c15 ^ UInt64(UInt32(bitPattern: b))
    h = (h ^ (h >> 29)) &* 0xbf58_476d_1ce4_e5b9
    h ^= h >> 32
    return Int(h % UInt64(buckets))
  }

  /// Appends the feature rows of one token sequence.
  @inline(__always)
  func appendFeatures(_ tokens: UnsafeBufferPointer<Int32>, into out: inout [Int32]) {
    for t in tokens { out.append(t) }
    if buckets > 0 && tokens.count > 1 {
      let v = Int32(vocabSize)
      for i in 1..<tokens.count { out.append(v + Int32(Self.bigramBucket(tokens[i - 1], tokens[i], buckets: buckets))) }
    }
  }

  /// Mean of the feature rows of each example: `[count × dimension]`.
  public func forward(_ batch: Batch, training: Bool) -> [Float] {
    let d = dimension
    let n = batch.count
    features.removeAll(keepingCapacity: true)
    featureOffsets.removeAll(keepingCapacity: true)
    featureOffsets.append(0)
    batch.tokens.withUnsafeBufferPointer { tp in
      for i in 0..<n {
        let slice = UnsafeBufferPointer(rebasing: tp[batch.offsets[i]..<batch.offsets[i + 1]])
        appendFeatures(slice, into: &features)
        featureOffsets.append(features.count)
      }
    }
    var out = [Float](repeating: 0, count: n * d)
    out.withUnsafeMutableBufferPointer { op in
      table.value.withUnsafeBufferPointer { wp in
        features.withUnsafeBufferPointer { fp in
          for i in 0..<n {
            let lo = featureOffsets[i], hi = featureOffsets[i + 1]
            guard hi > lo else { continue }
            let o = op.baseAddress! + i * d
            for f in lo..<hi { addRow(o, wp.baseAddress! + Int(fp[f]) * d, d) }
            scaleRow(o, 1 / Float(hi - lo), d)
          }
        }
      }
    }
    return out
  }

  /// Scatters `dPooled / count` into the rows each example used.
  public func backward(_ dPooled: [Float]) {
    let d = dimension
    let n = featureOffsets.count - 1
    for f in features { table.touch(f) }
    table.grad.withUnsafeMutableBufferPointer { gp in
      dPooled.withUnsafeBufferPointer { dp in
        features.withUnsafeBufferPointer { fp in
          for i in 0..<n {
            let lo = featureOffsets[i], hi = featureOffsets[i + 1]
            guard hi > lo else { continue }
            let inv = 1 / Float(hi - lo)
            let src = dp.baseAddress! + i * d
            for f in lo..<hi { addScaledRow(gp.baseAddress! + Int(fp[f]) * d, src, inv, d) }
          }
        }
      }
    }
  }
}
