import Foundation

/// One example as the trainer sees it: token ids, a class label and its teachers' logits.
public struct TrainingExample: Sendable {
  public var id: Int64
  /// Which of the loader's databases the example came from.
  public var source: Int32
  /// Class index, or -1 when the example has no (kept) label.
  public var label: Int32
  public var tokens: [Int32]
  /// The logits of each teacher with an output for this example, `numClasses` per teacher, one
  /// teacher after the other: raw cached logits divided by the teacher's calibration temperature;
  /// a top-k output has −∞ for the classes it did not keep. Empty when no teacher has an output.
  /// They become probabilities only in `Batch.teacherTarget`, at the temperature the caller (the
  /// loss) chooses.
  public var teacherLogits: [Float]
  /// The weight of each of those teachers (`--teacher-weight`); empty: 1 each.
  public var teacherWeights: [Float]

  public init(id: Int64, source: Int32, label: Int32, tokens: [Int32], teacherLogits: [Float] = [], teacherWeights: [Float] = []) {
    self.id = id; self.source = source; self.label = label; self.tokens = tokens
    self.teacherLogits = teacherLogits; self.teacherWeights = teacherWeights
  }
}

/// A mini-batch in ragged layout: the tokens of example `i` are
/// `tokens[offsets[i] ..< offsets[i + 1]]`.
///
/// Ragged storage suits bag-of-words students (no padding at all); a sequence
/// student pads to `maxLength`, which length bucketing keeps close to the
/// typical length in the batch.
///
/// Teacher outputs travel as logits (`teacherLogits`, one row of `numClasses` per teacher and
/// example); the loss turns them into targets at its own temperature (`teacherTarget`).
public struct Batch: Sendable {
  public var exampleIDs: [Int64] = []
  public var sources: [Int32] = []
  public var labels: [Int32] = []
  public var tokens: [Int32] = []
  public var offsets: [Int] = [0]
  /// Rows of `numClasses` teacher logits; example `i` owns rows `teacherRows[i] ..< teacherRows[i + 1]`.
  public var teacherLogits: [Float] = []
  /// The weight of each row's teacher.
  public var teacherWeights: [Float] = []
  public var teacherRows: [Int] = [0]
  /// Whether example `i` has at least one teacher output.
  public var hasTeacher: [Bool] = []
  public let numClasses: Int

  public init(numClasses: Int) { self.numClasses = numClasses }

  public var count: Int { labels.count }
  public var maxLength: Int {
    var m = 0
    for i in 0..<count { m = max(m, offsets[i + 1] - offsets[i]) }
    return m
  }

  public mutating func append(_ e: TrainingExample) {
    exampleIDs.append(e.id)
    sources.append(e.source)
    labels.append(e.label)
    tokens.append(contentsOf: e.tokens)
    offsets.append(tokens.count)
    let rows = numClasses > 0 ? e.teacherLogits.count / numClasses : 0
    if rows > 0 && rows * numClasses == e.teacherLogits.count {
      teacherLogits.append(contentsOf: e.teacherLogits)
      if e.teacherWeights.count == rows {
        teacherWeights.append(contentsOf: e.teacherWeights)
      } else {
        teacherWeights.append(contentsOf: repeatElement(1, count: rows))
      }
      hasTeacher.append(true)
    } else {
      hasTeacher.append(false)
    }
    teacherRows.append(teacherWeights.count)
  }

  /// The distillation target of example `i` at temperature `t`, into `q` (`numClasses` values):
  /// `Σ_k w_k · softmax(z_k / t) / Σ_k w_k` over its teachers `k` (a top-k teacher's softmax runs over
  /// the classes it kept). The one place where teacher logits become probabilities. Returns false
  /// (and zeroes `q`) when the example has no teacher output.
  @discardableResult
  public func teacherTarget(_ i: Int, temperature t: Float, into q: inout [Float]) -> Bool {
    let c = numClasses
    if q.count != c { q = [Float](repeating: 0, count: c) }
    for j in 0..<c { q[j] = 0 }
    let lo = teacherRows[i], hi = teacherRows[i + 1]
    guard hi > lo else { return false }
    var weightSum: Float = 0
    let inv = 1 / t
    teacherLogits.withUnsafeBufferPointer { z in
      q.withUnsafeMutableBufferPointer { out in
        for r in lo..<hi {
          let w = teacherWeights[r], base = r * c
          var m = -Float.infinity
          for j in 0..<c { m = max(m, z[base + j]) }
          guard m.isFinite else { continue }
          var sum: Float = 0
          for j in 0..<c { sum += Foundation.exp((z[base + j] - m) * inv) }
          let scale = w / sum
          for j in 0..<c { out[j] += Foundation.exp((z[base + j] - m) * inv) * scale }
          weightSum += w
        }
      }
    }
    guard weightSum > 0 else { return false }
    let invW = 1 / weightSum
    for j in 0..<c { q[j] *= invW }
    return true
  }

  /// Every example's target at temperature `t`, row-major `count × numClasses` (zero rows where
  /// `hasTeacher[i]` is false): evaluation (t = 1) and `kd-train dump-loader`.
  public func teacherTargets(temperature t: Float) -> [Float] {
    let c = numClasses
    var out = [Float](repeating: 0, count: count * c)
    var q = [Float](repeating: 0, count: c)
    for i in 0..<count where teacherTarget(i, temperature: t, into: &q) {
      for j in 0..<c { out[i * c + j] = q[j] }
    }
    return out
  }

  /// Builds a batch from token lists (prediction, tests).
  public static func of(tokens: [[Int32]], labels: [Int32]? = nil, numClasses: Int) -> Batch {
    var b = Batch(numClasses: numClasses)
    for (i, t) in tokens.enumerated() {
      b.append(TrainingExample(id: Int64(i), source: 0, label: labels?[i] ?? -1, tokens: t))
    }
    return b
  }
}

/// The seedable generator (SplitMix64) for deterministic shuffles and initialisation:
/// KDNN's `NNRandom`, under the name the loader and the bag students have always used.
public typealias SplitMix64 = NNRandom

extension NNRandom {
  /// Uniform in [0, 1).
  @inlinable public mutating func nextUnit() -> Float { unit() }
  /// Standard normal (Box-Muller).
  @inlinable public mutating func nextNormal() -> Float { normal(std: 1) }
}
