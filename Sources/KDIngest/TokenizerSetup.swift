import Foundation
import KDCore
import KDStore
import KDTokenizers

/// Connects a tokenizer to an ingest run: window segmentation, and the
/// tokenizer whose ids `TokenizerWorker` stores for every example.
public enum TokenizerSetup {
  /// The tokenizer used when `--tokenizer` is not given: the default teacher's,
  /// found by `ModelPaths` ($KD_TEACHER, $KD_MODELS, ./models, the install's share folder).
  public static var defaultPath: String? { ModelPaths.defaultTokenizer() }

  /// Loads the tokenizer (nil / default path when present / "none") and wires it into the ingestor.
  public static func configure(_ ingestor: Ingestor, path: String?, log: @escaping (String) -> Void) throws {
    var chosen = path
    if chosen == nil {
      if let found = defaultPath {
        chosen = found
      } else {
        let tried = ModelPaths.describe(ModelPaths.candidates())
        log("note: no --tokenizer and no default tokenizer (tried \(tried)): examples are stored without token ids (kd-teacher-cache can tokenize later)")
        return
      }
    }
    guard let path = chosen, path != "none" else { return }
    let name = PathText.name(PathText.parent(path)).isEmpty ? PathText.name(path) : PathText.name(PathText.parent(path)) + "/" + PathText.name(path)
    let setup = try IngestTokenization(loading: path, name: name)
    ingestor.tokenizerHash = setup.contentHash
    ingestor.windowRanges = { text in
      let tokenizer: Tokenizer
      do { tokenizer = try setup.tokenizer() } catch { throw TokenizerUnavailable(error: error) }
      let windows = tokenizer.encodeWindows(text, maxLength: ingestor.options.maxTokens, stride: ingestor.options.stride)
      return windows.compactMap { w in
        let real = zip(w.offsets, w.specialTokensMask).filter { $0.1 == 0 }.map(\.0)
        guard let first = real.first, let last = real.last else { return nil }
        return first.start..<last.end
      }
    }
    ingestor.tokenization = setup
  }
}
