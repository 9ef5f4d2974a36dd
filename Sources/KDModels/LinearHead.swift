import Foundation
import KDCore
import KDTensor

/// How a fitted head was chosen: the strength picked on validation and every candidate's scores.
public struct FitSummary: Codable, Sendable, Equatable {
  /// One strength tried during the fit.
  public struct Candidate: Codable, Sendable, Equatable {
    public var strength: Float
    public var validationMacroF1: Double?
    public var validationLogLoss: Double?
    public var trainLoss: Double
    public var iterations: Int
    public var converged: Bool
  }
  /// The chosen L2 strength λ (objective: mean cross-entropy + λ/2·‖W‖²).
  public var strength: Float
  public var trainExamples: Int
  public var validationExamples: Int
  public var candidates: [Candidate]
  /// How the strength was chosen, e.g. `"validation macro-F1, ties by log-loss"`.
  public var criterion: String
}

/// A linear classifier `logits = x · Wᵀ + b` over `labels.count` classes.
///
/// Either a checkpoint's own classification layer or one fitted with
/// `LogisticRegression.fit`. Saved as `head.safetensors` (`weight`
/// [classes × inputSize], `bias` [classes]) plus `head.json` (labels, sizes, fit summary).
public struct LinearHead: Sendable, Equatable {
  /// Row-major [classes × inputSize].
  public var weight: [Float]
  /// [classes].
  public var bias: [Float]
  /// Class names, index = logit position.
  public var labels: [String]
  public var inputSize: Int
  /// Present for heads fitted by `LogisticRegression`.
  public var fitSummary: FitSummary?

  public var classes: Int { labels.count }

  /// Creates a head, checking that the shapes agree.
  /// - Throws: `KDError(.model)` when `weight`/`bias` sizes contradict `labels` and `inputSize`.
  public init(weight: [Float], bias: [Float], labels: [String], inputSize: Int, fitSummary: FitSummary? = nil) throws {
    guard !labels.isEmpty, inputSize > 0, weight.count == labels.count * inputSize, bias.count == labels.count else {
      throw KDError(.model, "linear head shapes disagree: weight \(weight.count) values, bias \(bias.count), \(labels.count) labels × input \(inputSize)")
    }
    self.weight = weight
    self.bias = bias
    self.labels = labels
    self.inputSize = inputSize
    self.fitSummary = fitSummary
  }

  /// Logits for `rows` inputs stored row-major in `features` ([rows × inputSize]).
  /// - Returns: [rows × classes], row-major.
  public func logits(_ features: [Float], rows: Int) -> [Float] {
    precondition(features.count == rows * inputSize, "LinearHead.logits: \(features.count) values for \(rows)×\(inputSize)")
    var out = [Float](repeating: 0, count: rows * classes)
    features.withUnsafeBufferPointer { x in
      out.withUnsafeMutableBufferPointer { o in
        logits(x.baseAddress!, rows: rows, into: o.baseAddress!)
      }
    }
    return out
  }

  /// Pointer form of `logits(_:rows:)`: writes [rows × classes] into `out`.
  public func logits(_ features: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
    guard rows > 0 else { return }
    let c = classes
    for r in 0..<rows {
      for j in 0..<c { out[r * c + j] = bias[j] }
    }
    weight.withUnsafeBufferPointer { w in
      BLAS.sgemm(transB: true, m: rows, n: c, k: inputSize, a: features, lda: inputSize,
                 b: w.baseAddress!, ldb: inputSize, beta: 1, c: out, ldc: c)
    }
  }

  /// Class probabilities (softmax of the logits), [rows × classes].
  public func probabilities(_ features: [Float], rows: Int) -> [Float] {
    var z = logits(features, rows: rows)
    z.withUnsafeMutableBufferPointer { Kernels.softmaxRowsInPlace($0.baseAddress!, rows: rows, cols: classes, stride: classes) }
    return z
  }

  struct Manifest: Codable {
    var format: String
    var labels: [String]
    var inputSize: Int
    var classes: Int
    var fit: FitSummary?
  }

  /// Saves `head.safetensors` and `head.json` into `directory` (created if needed), atomically each.
  public func save(directory: String) throws {
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw KDError(.io, "cannot create directory: \(error.localizedDescription)", file: directory)
    }
    try SafetensorsWriter.write(
      [.init(name: "weight", shape: [classes, inputSize], values: weight),
       .init(name: "bias", shape: [classes], values: bias)],
      metadata: ["format": "kd-linear-head-v1"],
      to: directory + "/head.safetensors")
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try enc.encode(Manifest(format: "kd-linear-head-v1", labels: labels, inputSize: inputSize, classes: classes, fit: fitSummary))
    try AtomicFile.write(data, to: directory + "/head.json")
  }

  /// Loads a head saved by `save(directory:)`.
  /// - Throws: `KDError` naming the file when either file is missing, corrupt or inconsistent.
  public static func load(directory: String) throws -> LinearHead {
    let jsonPath = directory + "/head.json"
    guard let data = FileManager.default.contents(atPath: jsonPath) else {
      throw KDError(.io, "cannot read head manifest", file: jsonPath)
    }
    let m: Manifest
    do { m = try JSONDecoder().decode(Manifest.self, from: data) } catch {
      throw KDError(.model, "invalid head manifest: \(error)", file: jsonPath)
    }
    guard m.labels.count == m.classes else {
      throw KDError(.model, "\(m.labels.count) labels but classes = \(m.classes)", file: jsonPath, field: "labels")
    }
    let st = try SafetensorsFile(path: directory + "/head.safetensors")
    let w = try st.floats("weight", shape: [m.classes, m.inputSize])
    let b = try st.floats("bias", shape: [m.classes])
    return try LinearHead(weight: w, bias: b, labels: m.labels, inputSize: m.inputSize, fitSummary: m.fit)
  }

  /// Reorders the head's outputs onto `vocabulary` (e.g. the DB's label set).
  ///
  /// - Returns: a head whose logit `i` is for `vocabulary[i]`.
  /// - Throws: `KDError(.model)` listing the labels that do not match, when
  ///   the head's labels and the vocabulary are not the same set.
  public func mapped(onto vocabulary: [String]) throws -> LinearHead {
    let mine = Set(labels), theirs = Set(vocabulary)
    guard mine == theirs, vocabulary.count == labels.count else {
      let missing = theirs.subtracting(mine).sorted(), extra = mine.subtracting(theirs).sorted()
      throw KDError(.model, "classifier labels do not match the label vocabulary: head lacks \(missing), vocabulary lacks \(extra)", field: "id2label")
    }
    var index: [String: Int] = [:]
    for (i, l) in labels.enumerated() { index[l] = i }
    var w = [Float](), b = [Float]()
    for l in vocabulary {
      guard let i = index[l] else { continue }
      w += weight[i * inputSize..<(i + 1) * inputSize]
      b.append(bias[i])
    }
    return try LinearHead(weight: w, bias: b, labels: vocabulary, inputSize: inputSize, fitSummary: fitSummary)
  }
}
