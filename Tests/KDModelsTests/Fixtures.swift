import Foundation
import KDCore
@testable import KDModels
import KDTensor

/// Paths and helpers shared by the KDModels tests.
enum Fixtures {
  /// `Tests/KDModelsTests/Resources` inside the test bundle.
  static var resources: String {
    let candidates = [Bundle.module.bundlePath + "/Resources", (Bundle.module.resourcePath ?? ".") + "/Resources",
                      Bundle.module.resourcePath ?? "."]
    return candidates.first { FileManager.default.fileExists(atPath: $0 + "/tiny-bert/config.json") } ?? candidates[0]
  }

  /// The package root (for `models/`).
  static var packageRoot: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path
  }

  struct Golden: Decodable {
    var sequences: [[Int32]]
    var cls: [[Float]]
    var mean: [[Float]]
    var logits: [[Float]]?
    var labels: [String]?
  }

  static func golden(_ path: String) throws -> Golden {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw KDError(.io, "missing golden file", file: path)
    }
    return try JSONDecoder().decode(Golden.self, from: data)
  }

  /// Largest |a − b| over two equally long sequences.
  static func maxAbsDiff<A: Collection, B: Collection>(_ a: A, _ b: B) -> Float
  where A.Element == Float, B.Element == Float {
    precondition(a.count == b.count, "lengths \(a.count) vs \(b.count)")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
  }

  /// `models/all-MiniLM-L6-v2`, or nil after printing why `what` is skipped.
  static func miniLM(skipping what: String) -> String? {
    let dir = packageRoot + "/models/all-MiniLM-L6-v2"
    guard FileManager.default.fileExists(atPath: dir + "/model.safetensors") else {
      print("note: skipping \(what): \(dir) is absent (make teacher)")
      return nil
    }
    return dir
  }

  /// Largest |Δ| of `encoder`'s unnormalised mean and CLS embeddings against the
  /// PyTorch outputs in `minilm_parity.json`, and how many sequences it covers.
  /// Leaves the encoder unnormalised with CLS pooling.
  static func miniLMParity(_ encoder: BertEncoder) throws -> (worst: Float, sequences: Int) {
    let golden = try golden(resources + "/minilm_parity.json")
    encoder.normalizeEmbeddings = false
    encoder.pooling = .mean
    let mean = try encoder.forward(golden.sequences)
    encoder.pooling = .cls
    let cls = try encoder.forward(golden.sequences)
    var worst: Float = 0
    for i in 0..<golden.sequences.count {
      worst = max(worst, maxAbsDiff(mean.embedding(i), golden.mean[i]))
      worst = max(worst, maxAbsDiff(cls.embedding(i), golden.cls[i]))
    }
    return (worst, golden.sequences.count)
  }

  /// A fresh temporary directory.
  static func tempDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "kdmodels-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }

  /// Copies a fixture model directory into a temp directory (to corrupt it).
  static func copyFixture(_ name: String) throws -> String {
    let dst = try tempDirectory() + "/" + name
    try FileManager.default.copyItem(atPath: resources + "/" + name, toPath: dst)
    return dst
  }
}
