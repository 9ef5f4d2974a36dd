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
