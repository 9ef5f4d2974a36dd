import Foundation
import KDTokenizers

/// Locations of test inputs: committed resources, the git-ignored models/ folder, and ../shared/corpora.
enum Fixtures {
  static let packageRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  static var corporaRoot: URL {
    if let env = ProcessInfo.processInfo.environment["KD_CORPORA"] { return URL(fileURLWithPath: env) }
    return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpora")
  }

  static var minilmPath: String {
    packageRoot.appendingPathComponent("models/all-MiniLM-L6-v2/tokenizer.json").path
  }

  static var hasMiniLM: Bool { FileManager.default.fileExists(atPath: minilmPath) }
  static var hasCorpora: Bool { FileManager.default.fileExists(atPath: corporaRoot.path) }

  static func resource(_ name: String) -> String {
    if let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Resources") { return url.path }
    return packageRoot.appendingPathComponent("Tests/KDTokenizersTests/Resources/\(name)").path
  }

  /// The tokenizer file for a golden name; nil when it is not available here.
  static func tokenizerPath(_ name: String) -> String? {
    if name == "minilm" { return hasMiniLM ? minilmPath : nil }
    return resource("\(name).json")
  }

  static func json(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
  }

  static let goldenNames = ["minilm", "wordpiece-cased", "bpe-bytelevel", "unigram-metaspace"]

  nonisolated(unsafe) private static var cache: [String: Tokenizer] = [:]
  private static let lock = NSLock()

  static func tokenizer(_ name: String) throws -> Tokenizer? {
    lock.lock()
    defer { lock.unlock() }
    if let t = cache[name] { return t }
    guard let path = tokenizerPath(name) else { return nil }
    let t = try Tokenizer.load(path: path)
    cache[name] = t
    return t
  }
}

func ints(_ any: Any?) -> [Int] { (any as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue } ?? [] }
func offsetPairs(_ any: Any?) -> [TokenOffsets] {
  (any as? [[Any]])?.map { TokenOffsets(start: ($0[0] as? NSNumber)?.intValue ?? -1, end: ($0[1] as? NSNumber)?.intValue ?? -1) } ?? []
}
