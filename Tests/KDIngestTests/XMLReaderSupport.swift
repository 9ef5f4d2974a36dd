import Foundation
import KDCore
import Testing

@testable import KDIngest

/// Shared helpers for the structured-reader tests.
enum ReaderFixtures {
  /// The repository root (three levels above this file).
  static let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  /// `../shared/corpora`, when present.
  static let corpora = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/corpora")
  static let corporaPresent = FileManager.default.fileExists(atPath: corpora.path)

  /// A file in the shared corpora.
  static func corpus(_ relative: String) -> String { corpora.appendingPathComponent(relative).path }

  /// A committed fixture under Tests/KDIngestTests/Resources/xml.
  static func fixture(_ name: String) -> String {
    repositoryRoot.appendingPathComponent("Tests/KDIngestTests/Resources/xml/\(name)").path
  }

  /// A fresh temporary directory for generated inputs.
  static func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("kd-xml-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// Writes bytes to `name` in `directory` and returns the path.
  @discardableResult
  static func write(_ bytes: [UInt8], _ name: String, in directory: URL) throws -> String {
    let url = directory.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
  }

  @discardableResult
  static func write(_ text: String, _ name: String, in directory: URL) throws -> String {
    try write(Array(text.utf8), name, in: directory)
  }
}

/// What a reader produced for one file.
struct ReadResult {
  var documents: [ReaderDocument] = []
  var deletes: [String] = []
  /// Event kinds in order: "d" for a document, "x" for a delete.
  var order: [Character] = []

  var allText: String {
    documents.flatMap { [$0.title ?? ""] + $0.sections.flatMap { [$0.heading ?? "", $0.text] } }.joined(separator: "\n")
  }
}

/// Runs `reader` over `path` and collects its events.
func readAll(_ reader: StructuredReader, _ path: String) throws -> ReadResult {
  var result = ReadResult()
  try reader.read(path: path) { event in
    switch event {
    case .document(let document):
      result.documents.append(document)
      result.order.append("d")
    case .delete(let id):
      result.deletes.append(id)
      result.order.append("x")
    }
  }
  return result
}

/// The `KDError` a read throws, or nil (recording an issue) when it does not throw one.
func readError(_ reader: StructuredReader, _ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> KDError? {
  do {
    _ = try readAll(reader, path)
    Issue.record("expected an error reading \(path)", sourceLocation: sourceLocation)
    return nil
  } catch let error as KDError {
    return error
  } catch {
    Issue.record("expected a KDError, got \(error)", sourceLocation: sourceLocation)
    return nil
  }
}
