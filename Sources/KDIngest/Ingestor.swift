import Foundation
import KDCore
import KDStore
import KDTokenizers

/// The ingest stage: walks a corpus folder and brings the store in line with
/// it, one file per transaction.
///
/// - Unchanged files (same content hash and the same manifest entry) are skipped.
/// - A changed file's rows are replaced atomically: delete + insert in one transaction.
/// - A file that fails keeps whatever was stored for it before; the error is
///   recorded on its `sources` row and the other files go on.
/// - A run killed at any moment leaves the last committed file; the next run
///   redoes the rest. Duplicate detection and tokenization are idempotent passes.
public final class Ingestor {
  public var options: IngestOptions
  /// Splits a text into token windows (scalar offset ranges); set when a tokenizer is loaded.
  public var windowRanges: ((String) throws -> [Range<Int>])?
  /// The tokenizer whose ids every stored example gets; set when a tokenizer is loaded.
  public var tokenization: IngestTokenization?
  /// Identifies the tokenizer in the config hash when windows depend on it.
  public var tokenizerHash: String?
  /// The running tokenizer worker and the number of the file being ingested.
  private var tokenizer: TokenizerWorker?
  private var fileNumber = 0
  /// This run's duplicate finder, and whether it deleted examples (then every duplicate is recomputed).
  private var duplicates: DuplicateIndex?
  private var deletedExamples = false
  /// The tokenizer's row in `tokenizers`, once registered (by the first write of ids).
  private var registeredTokenizer: Int64?
  /// Whether a file of this run deleted documents of other files (PubMed `DeleteCitation`).
  private var examplesOfThisRunDeleted = false

  public init(options: IngestOptions) {
    self.options = options
  }

  /// Runs the stage.
  /// - Returns: the summary; `filesFailed > 0` or `rowErrors > 0` means a partial run.
  /// - Throws: `KDError` for fatal problems (no corpus folder, lock timeout, newer schema).
  public func run() throws -> IngestSummary {
    let started = Date()
    let root = URL(fileURLWithPath: options.corpus).standardizedFileURL.resolvingSymlinksInPath().path
    var summary = IngestSummary()
    summary.database = options.database
    summary.corpus = root
    summary.dryRun = options.dryRun

    var planner = try CorpusPlanner(root: root, manifestPath: options.manifest)
    var skipped: [String] = []
    var manifestErrors: [IngestSummary.FileError] = []
    let files = try planner.plan(skipped: &skipped, errors: &manifestErrors)
    summary.skipped = skipped
    summary.errors = manifestErrors
    summary.filesSkipped = skipped.count
    summary.filesSeen = files.count

    if options.dryRun {
      return try dryRun(files: files, root: root, summary: summary, started: started)
    }

    let stage = try StageRun.begin(stage: "ingest", database: options.database, commandLine: options.commandLine,
                                   lockTimeout: options.lockTimeout, onWait: options.log)
    let store = stage.store
    let runID = stage.runID
    summary.runID = runID
    do {
      let totalBytes = files.reduce(Int64(0)) { $0 + $1.size }
      var done: Int64 = 0
      let previousMaxID = try store.maxExampleID()
      duplicates = DuplicateIndex(store: store, previousMaxID: previousMaxID)
      // Every duplicate is recomputed when this run deletes examples, and when the
      // previous ingest run did not finish: it may have deleted some and died
      // before its own recomputation.
      let previousStatus = try store.previousRunStatus(stage: "ingest", before: runID)
      deletedExamples = previousStatus.map { $0 != .ok && $0 != .partial } ?? false
      defer { duplicates = nil }
      // Tokenization overlaps the file pass: a worker thread encodes each
      // example as soon as it is inserted; this connection writes the ids
      // once the example's file has committed. The worker also runs the WAL
      // checkpoints, so this connection's commits skip them.
      var tokenizer: TokenizerWorker?
      registeredTokenizer = nil
      examplesOfThisRunDeleted = false
      if let setup = tokenization {
        tokenizer = TokenizerWorker(
          setup: setup, databasePath: options.database, threads: options.threads, shouldStop: options.shouldStop)
        try store.setWALAutoCheckpoint(pages: 0)
        tokenizer?.start()
        summary.tokenizer = setup.name
      }
      self.tokenizer = tokenizer
      defer { self.tokenizer = nil }
      do {
        // Largest files first: their examples reach the tokenizer thread early
        // instead of leaving it a long tail after the file pass (ties keep path order).
        let order = files.enumerated().sorted { a, b in
          a.element.size != b.element.size ? a.element.size > b.element.size : a.offset < b.offset
        }.map(\.element)
        for file in order {
          if options.shouldStop() {
            summary.interrupted = true
            break
          }
          try ingest(file, root: root, store: store, runID: runID, summary: &summary)
          try writeTokenizations(tokenizer, store: store, summary: &summary)
          done += file.size
          options.progress(done, totalBytes, file.relativePath)
        }
        if options.prune && !summary.interrupted {
          let seen = Set(files.map(\.relativePath))
          for s in try store.sources(root: root) where !seen.contains(s.path) {
            try store.transaction { try store.deleteSource(s.id) }
            deletedExamples = true
            summary.filesPruned += 1
            options.log("pruned \(s.path) (\(s.documents) documents)")
          }
        }
      } catch {
        tokenizer?.cancel()
        throw error
      }
      // Duplicates need only the examples: find them while the worker encodes the rest.
      summary.phaseSeconds["file_pass"] = Date().timeIntervalSince(started)
      tokenizer?.endOfInput()
      let d: (duplicates: Int, crossSplit: Int)
      do {
        // The worker checkpoints no more: this connection's commits do again.
        if tokenizer != nil { try store.setWALAutoCheckpoint(pages: 1000) }
        try writeTokenizations(tokenizer, store: store, summary: &summary)
        d = deletedExamples ? try store.transaction { try store.refreshDuplicates() } : try store.duplicateCounts()
        summary.phaseSeconds["duplicates"] = Date().timeIntervalSince(started)
        try writeTokenizations(tokenizer, store: store, summary: &summary, untilDone: true)
        if !options.shouldStop() {
          // Examples of earlier runs lacking ids, and of this run too if the
          // worker fell so far behind that some were not handed over.
          let sweepTo = tokenizer?.overflowed == true ? Int64.max : previousMaxID
          try tokenizeEarlierExamples(store: store, maxID: sweepTo, summary: &summary)
        }
      } catch {
        tokenizer?.cancel()
        throw error
      }
      summary.duplicates = d.duplicates
      summary.duplicatesAcrossSplits = d.crossSplit
      if options.shouldStop() { summary.interrupted = true }
      if tokenizer != nil { summary.phaseSeconds["token_ids"] = Date().timeIntervalSince(started) }
      summary.totals = try totals(store: store, root: root)
      summary.phaseSeconds["totals"] = Date().timeIntervalSince(started)
      summary.seconds = Date().timeIntervalSince(started)
      let status: RunStatus = summary.interrupted ? .interrupted : (summary.filesFailed + summary.rowErrors > 0 ? .partial : .ok)
      try stage.finish(status, counts: countsForRun(summary))
    } catch {
      let error = (error as? TokenizerUnavailable)?.error ?? error
      stage.fail(error)
      throw error
    }
    return summary
  }

  /// Writes the token ids the worker has encoded for committed files; with
  /// `untilDone`, until it has encoded everything.
  func writeTokenizations(_ worker: TokenizerWorker?, store: Store, summary: inout IngestSummary,
                          untilDone: Bool = false) throws {
    guard let worker, let setup = tokenization else { return }
    let tokenizer = try setup.tokenizer()
    while let batch = try worker.takeEncoded(wait: untilDone), !batch.isEmpty {
      try store.transaction {
        for e in batch {
          // After a file deleted other files' rows, check each row is still the example encoded.
          try insertTokenIDs(e.ids, e.tokens, hashes: examplesOfThisRunDeleted ? e.hashes : nil, setup: setup,
                             tokenizer: tokenizer, store: store, summary: &summary)
        }
      }
      if registeredTokenizer == nil { registeredTokenizer = try store.tokenizerID(contentHash: setup.contentHash) }
      if !untilDone { return }
    }
  }

  /// Stores token ids inside the caller's transaction (registering the
  /// tokenizer on first use) and counts them. With `hashes`, an example whose
  /// row now holds another text (deleted since; a newer example reused the id)
  /// is skipped: that example gets its own ids.
  func insertTokenIDs(_ ids: [Int64], _ tokens: [[Int32]], hashes: [UInt64]?, setup: IngestTokenization,
                      tokenizer: Tokenizer, store: Store, summary: inout IngestSummary) throws {
    let vocab = tokenizer.vocabularySize
    let tokenizerID = try registeredTokenizer ?? store.tokenizerID(
      name: setup.name, contentHash: setup.contentHash, vocabSize: vocab, json: setup.json)
    for i in ids.indices {
      if let hashes, try store.exampleTextHash(id: ids[i]) != StableHash.hex(hashes[i]) {
        continue
      }
      try store.insertTokenization(example: ids[i], tokenizer: tokenizerID, ids: tokens[i], vocabSize: vocab)
      if let maxLen = tokenizer.maxLength, tokens[i].count > maxLen { summary.examplesOverMaxLength += 1 }
      summary.examplesTokenized += 1
    }
  }

  /// Tokenizes examples (ids up to `maxID`) that lack ids for this run's
  /// tokenizer: those of a run killed between a file's commit and its ids, of a
  /// store ingested with `--tokenizer none`, and of this run when the worker fell
  /// too far behind to take them (`TokenizerWorker.overflowed`). Runs after the
  /// ids of this run's own examples are written, 4096 examples at a time.
  func tokenizeEarlierExamples(store: Store, maxID: Int64, summary: inout IngestSummary) throws {
    guard maxID > 0, let setup = tokenization else { return }
    let tokenizer = try setup.tokenizer()
    let tokenizerID = try store.tokenizerID(contentHash: setup.contentHash) ?? -1
    var after: Int64 = 0
    while !options.shouldStop() {
      let rows = try store.examplesLackingTokenIDs(after: after, upTo: maxID, tokenizerID: tokenizerID, limit: 4096)
      let ids = rows.map(\.id)
      let texts = rows.map(\.text)
      guard let last = ids.last else { return }
      after = last
      let encodings = tokenizer.encodeBatch(texts, addSpecialTokens: true, threads: options.threads)
      try store.transaction {
        try insertTokenIDs(ids, encodings.map(\.ids), hashes: nil, setup: setup, tokenizer: tokenizer, store: store,
                           summary: &summary)
      }
      if registeredTokenizer == nil { registeredTokenizer = try store.tokenizerID(contentHash: setup.contentHash) }
    }
  }

  func countsForRun(_ s: IngestSummary) -> [String: Any] {
    ["files_new": s.filesNew, "files_changed": s.filesChanged, "files_unchanged": s.filesUnchanged,
     "files_failed": s.filesFailed, "files_pruned": s.filesPruned, "documents_added": s.documentsAdded,
     "examples_added": s.examplesAdded, "examples_tokenized": s.examplesTokenized, "row_errors": s.rowErrors,
     "duplicates": s.duplicates, "bytes_read": s.bytesRead]
  }

  // MARK: Planning

  func configHash(_ file: PlannedFile) -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    let entry = (try? enc.encode(file.entry)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    var key = "v1|\(file.format)|\(file.domain)|\(file.task ?? "")|\(entry)|\(segmentFor(file))"
    if segmentFor(file) == "window" { key += "|\(options.maxTokens)|\(options.stride)|\(tokenizerHash ?? "")" }
    if let lf = file.labelsFromPath {
      let abs = (PathText.join(options.corpus, lf))
      if let d = FileManager.default.contents(atPath: abs) { key += "|labels:" + StableHash.hex(StableHash.fnv1a64([UInt8](d))) }
    }
    return StableHash.hex(StableHash.fnv1a64(key))
  }

  func segmentFor(_ file: PlannedFile) -> String {
    if let s = file.entry.segment { return s }
    if let s = options.segment { return s }
    switch file.format {
    case "lines": return "lines"
    case "pubmed", "jats", "uslm", "akn", "edgar", "xml", "xml-auto": return "section"
    default: return "document"
    }
  }

  func dryRun(files: [PlannedFile], root: String, summary: IngestSummary, started: Date) throws -> IngestSummary {
    var summary = summary
    var plan: [String: [String]] = ["new": [], "changed": [], "pruned": []]
    let store: Store? = FileManager.default.fileExists(atPath: options.database)
      ? try Store.open(path: options.database, readOnly: true) : nil
    for file in files {
      let old = try store?.source(root: root, path: file.relativePath)
      guard let old else {
        plan["new", default: []].append(file.relativePath)
        summary.filesNew += 1
        continue
      }
      let hash = try hashFile(file)
      if old.contentHash == hash && old.configHash == configHash(file) {
        summary.filesUnchanged += 1
      } else {
        plan["changed", default: []].append(file.relativePath)
        summary.filesChanged += 1
      }
    }
    if options.prune, let store {
      let seen = Set(files.map(\.relativePath))
      for s in try store.sources(root: root) where !seen.contains(s.path) {
        plan["pruned", default: []].append(s.path)
        summary.filesPruned += 1
      }
    }
    summary.plan = plan
    summary.seconds = Date().timeIntervalSince(started)
    return summary
  }

  func hashFile(_ file: PlannedFile) throws -> String {
    guard let fh = FileHandle(forReadingAtPath: file.absolutePath) else {
      throw KDError(.io, "cannot read: permission denied or not a regular file", file: file.relativePath)
    }
    defer { try? fh.close() }
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    while true {
      let chunk: Data
      do { chunk = try fh.read(upToCount: 1 << 22) ?? Data() } catch {
        throw KDError(.io, "cannot read: \(error.localizedDescription)", file: file.relativePath)
      }
      if chunk.isEmpty { break }
      h = chunk.withUnsafeBytes { StableHash.fnv1a64($0, seed: h) }
    }
    return StableHash.hex(h)
  }

  // MARK: One file

  func ingest(_ file: PlannedFile, root: String, store: Store, runID: Int64, summary: inout IngestSummary) throws {
    let old = try store.source(root: root, path: file.relativePath)
    let hash: String
    do {
      hash = try hashFile(file)
    } catch let e as KDError {
      try recordFailure(e, file: file, old: old, hash: "", root: root, store: store, runID: runID, summary: &summary)
      return
    }
    let cfg = configHash(file)
    if let old, old.contentHash == hash, old.configHash == cfg {
      summary.filesUnchanged += 1
      if old.status == "error" {
        summary.filesFailed += 1
        var message = old.error ?? "error"
        if message.hasPrefix(file.relativePath) {
          message = String(message.dropFirst(file.relativePath.count)).trimmingCharacters(in: CharacterSet(charactersIn: ": "))
        }
        summary.errors.append(.init(file: file.relativePath, line: nil, message: message + " (file unchanged since)"))
      }
      return
    }
    summary.bytesRead += file.size
    fileNumber += 1
    let number = fileNumber
    do {
      var writerOut: SourceWriter?
      do {
        try store.transaction {
          if let old {
            try store.deleteSource(old.id)
            deletedExamples = true
          }
          let taskID = try file.task.map { try store.taskID(named: $0, multiLabel: file.entry.multiLabel ?? false) }
          let sourceID = try store.insertSource(NewSource(
            root: root, path: file.relativePath, contentHash: hash, size: file.size, mtime: file.mtime,
            format: file.format, domain: file.domain, taskID: taskID, configHash: cfg, status: "ok", error: nil,
            errorCount: 0, runID: runID))
          let writer = SourceWriter(store: store, sourceID: sourceID, file: file, taskID: taskID,
                                    segment: segmentFor(file), maxExampleBytes: options.maxExampleBytes,
                                    windowRanges: windowRanges)
          if let tokenizer {
            writer.onExample = { tokenizer.add(file: number, id: $0, text: $1, hash: $2) }
          }
          writer.duplicates = duplicates
          let format = try read(file, into: writer, summary: &summary)
          do {
            _ = try tokenization?.tokenizer()
          } catch {
            throw TokenizerUnavailable(error: error)
          }
          try writer.finish()
          try store.finishSource(sourceID, documents: writer.documents, examples: writer.examples)
          if format != file.format {
            try store.setSourceFormat(sourceID, format: format)
          }
          if !writer.rowErrors.isEmpty {
            let first = writer.rowErrors[0]
            let msg = KDError(.input, first.1, file: file.relativePath, line: first.0).description
            try store.markSourcePartial(sourceID, error: msg, count: writer.rowErrors.count)
          }
          writerOut = writer
        }
      } catch {
        tokenizer?.aborted(file: number)
        duplicates?.fileAborted()
        throw error
      }
      tokenizer?.committed(file: number)
      duplicates?.fileCommitted()
      guard let writer = writerOut else { return }
      if writer.deletedDocuments > 0 {
        // A PubMed update deleted other files' documents: duplicates are
        // recomputed, and ids encoded for examples of this run are checked
        // against the rows before they are written (a deleted row's id may
        // have been reused by a newer example).
        deletedExamples = true
        examplesOfThisRunDeleted = true
      }
      if old == nil { summary.filesNew += 1 } else { summary.filesChanged += 1 }
      summary.documentsAdded += writer.documents
      summary.documentsDeleted += writer.deletedDocuments
      summary.examplesAdded += writer.examples
      summary.rowErrors += writer.rowErrors.count
      for (line, msg) in writer.rowErrors.prefix(20) {
        summary.errors.append(.init(file: file.relativePath, line: line, message: msg))
      }
      if writer.rowErrors.count > 20 {
        summary.errors.append(.init(file: file.relativePath, line: nil, message: "\(writer.rowErrors.count - 20) more row errors"))
      }
      options.log("\(old == nil ? "added" : "replaced") \(file.relativePath): \(writer.documents) documents, \(writer.examples) examples"
        + (writer.rowErrors.isEmpty ? "" : ", \(writer.rowErrors.count) bad rows skipped"))
    } catch let e as KDError {
      try recordFailure(e, file: file, old: old, hash: hash, root: root, store: store, runID: runID, summary: &summary)
    } catch let e as DatabaseError {
      // Constraint or I/O problems of the store are fatal: the store itself is in trouble.
      throw KDError(.database, e.description)
    }
  }

  func recordFailure(_ e: KDError, file: PlannedFile, old: SourceRecord?, hash: String, root: String, store: Store,
                     runID: Int64, summary: inout IngestSummary) throws {
    var err = e
    if err.file == nil { err.file = file.relativePath }
    summary.filesFailed += 1
    summary.errors.append(.init(file: file.relativePath, line: err.line, message: err.message))
    options.log("error: \(err.description)" + (old != nil ? " (previously stored rows kept)" : ""))
    try store.transaction {
      if let old {
        try store.markSourceError(old.id, error: err.description, runID: runID)
      } else {
        _ = try store.insertSource(NewSource(
          root: root, path: file.relativePath, contentHash: hash, size: file.size, mtime: file.mtime, format: file.format,
          domain: file.domain, taskID: nil, configHash: configHash(file), status: "error", error: err.description,
          errorCount: 1, runID: runID))
      }
    }
  }

  // MARK: Totals

  /// Documents, examples, labeled examples and tokens per domain and split of
  /// the corpus under `root` (every run, not just this one's additions).
  ///
  func totals(store: Store, root: String) throws -> [String: [String: IngestSummary.Totals]] {
    try store.corpusTotals(root: root).mapValues { bySplit in
      bySplit.mapValues { IngestSummary.Totals(documents: $0.documents, examples: $0.examples, labeled: $0.labeled, tokens: $0.tokens) }
    }
  }
}
