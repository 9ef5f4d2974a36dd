import Foundation
import KDCore
import KDStore

/// Connects a tokenizer to an ingest run (placeholder until KDTokenizers lands).
public enum TokenizerSetup {
  public static func configure(_ ingestor: Ingestor, path: String?, log: (String) -> Void) throws {
    guard let path, path != "none" else { return }
    throw KDError(.unsupported, "tokenizers are not available in this build yet", file: path)
  }
}
