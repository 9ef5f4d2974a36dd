import Foundation
import KDCore
import KDStore
import KDTokenizers

/// Connects a tokenizer to an ingest run: window segmentation and the
/// tokenization pass that fills `tokenizations` for every example lacking
/// ids from this tokenizer (idempotent and resumable: chunks commit one by one).
public enum TokenizerSetup {
  /// The tokenizer used when `--tokenizer` is not given: the default teacher's.
  public static let defaultPath = "models/all-MiniLM-L6-v2/tokenizer.json"

  /// Loads the tokenizer (nil / default path when present / "none") and wires it into the ingestor.
  public static func configure(_ ingestor: Ingestor, path: String?, log: @escaping (String) -> Void) throws {
    var chosen = path
    if chosen == nil {
      if FileManager.default.fileExists(atPath: defaultPath) {
        chosen = defaultPath
      } else {
        log("note: no --tokenizer and no \(defaultPath): examples are stored without token ids (kd-teacher-cache can tokenize later)")
        return
      }
    }
    guard let path = chosen, path != "none" else { return }
    let tokenizer = try Tokenizer.load(path: path)
    let name = PathText.name(PathText.parent(path)).isEmpty ? PathText.name(path) : PathText.name(PathText.parent(path)) + "/" + PathText.name(path)
    let threads = ingestor.options.threads
    // While the file pass runs, tokenization gets the other core(s).
    ingestor.tokenizerThreads = max(1, threads - 1)
    ingestor.tokenizerHash = tokenizer.contentHash
    ingestor.windowRanges = { text in
      let windows = tokenizer.encodeWindows(text, maxLength: ingestor.options.maxTokens, stride: ingestor.options.stride)
      return windows.compactMap { w in
        let real = zip(w.offsets, w.specialTokensMask).filter { $0.1 == 0 }.map(\.0)
        guard let first = real.first, let last = real.last else { return nil }
        return first.start..<last.end
      }
    }
    ingestor.tokenizePass = { store, summary, moreMayArrive in
      let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
      let tokID = try store.db.transaction {
        try store.tokenizerID(name: name, contentHash: tokenizer.contentHash, vocabSize: tokenizer.vocabularySize, json: bytes)
      }
      summary.tokenizer = name
      let maxLen = tokenizer.maxLength
      let select = try store.db.prepare("""
        SELECT e.id, e.text FROM examples e
        WHERE e.id > ? AND NOT EXISTS (SELECT 1 FROM tokenizations t WHERE t.example_id = e.id AND t.tokenizer_id = ?)
        ORDER BY e.id LIMIT 4096
        """)
      var after: Int64 = 0
      var finalSweep = false
      while true {
        // Read whether more may come *before* looking: rows committed before
        // the file pass ended are then seen by this or the next query.
        let more = moreMayArrive()
        try select.bind([.int(after), .int(tokID)])
        var ids: [Int64] = []
        var texts: [String] = []
        while try select.step() {
          ids.append(select.int64(0))
          texts.append(select.text(1))
        }
        select.reset()
        if ids.isEmpty {
          if more {
            usleep(20_000)
            continue
          }
          // A replaced file may reuse ids below the cursor: sweep once from the start.
          if finalSweep || after == 0 { break }
          finalSweep = true
          after = 0
          continue
        }
        after = ids.last ?? after
        let encodings = tokenizer.encodeBatch(texts, addSpecialTokens: true, threads: more ? ingestor.tokenizerThreads : threads)
        try store.db.transaction {
          for (id, enc) in zip(ids, encodings) {
            try store.insertTokenization(example: id, tokenizer: tokID, ids: enc.ids, vocabSize: tokenizer.vocabularySize)
            if let maxLen, enc.ids.count > maxLen { summary.examplesOverMaxLength += 1 }
          }
        }
        summary.examplesTokenized += ids.count
        if ingestor.options.shouldStop() { summary.interrupted = true; break }
      }
    }
  }
}
