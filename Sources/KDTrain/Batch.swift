/// One example as the trainer sees it: token ids, a class label and the
/// combined teacher distribution.
public struct TrainingExample: Sendable {
  public var id: Int64
  /// Which of the loader's databases the example came from.
  public var source: Int32
  /// Class index, or -1 when the example has no (kept) label.
  public var label: Int32
  public var tokens: [Int32]
  /// The teachers' combined soft targets at the loader's temperature (one
  /// value per class, summing to 1), or empty when no teacher output exists.
  public var teacher: [Float]
}

/// A mini-batch in ragged layout: the tokens of example `i` are
/// `tokens[offsets[i] ..< offsets[i + 1]]`.
///
/// Ragged storage suits bag-of-words students (no padding at all); a sequence
/// student pads to `maxLength`, which length bucketing keeps close to the
/// typical length in the batch.
public struct Batch: Sendable {
  public var exampleIDs: [Int64] = []
  public var sources: [Int32] = []
  public var labels: [Int32] = []
  public var tokens: [Int32] = []
  public var offsets: [Int] = [0]
  /// Row-major `count × numClasses` teacher targets; rows of examples without
  /// a teacher output are zero and `hasTeacher[i]` is false.
  public var teacher: [Float] = []
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
    if e.teacher.count == numClasses {
      teacher.append(contentsOf: e.teacher)
      hasTeacher.append(true)
    } else {
      teacher.append(contentsOf: repeatElement(0, count: numClasses))
      hasTeacher.append(false)
    }
  }

  /// Builds a batch from token lists (prediction, tests).
  public static func of(tokens: [[Int32]], labels: [Int32]? = nil, numClasses: Int) -> Batch {
    var b = Batch(numClasses: numClasses)
    for (i, t) in tokens.enumerated() {
      b.append(TrainingExample(id: Int64(i), source: 0, label: labels?[i] ?? -1, tokens: t, teacher: []))
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


import Foundation
