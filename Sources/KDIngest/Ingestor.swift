import Foundation
import KDCore
import KDStore

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
  /// Tokenizes examples lacking ids for the tokenizer; set when a tokenizer is loaded.
  /// Arguments: the store, the summary to add counts to, and whether more
  /// examples may still arrive (the file pass is running): while it returns
  /// true the pass waits for new rows instead of finishing.
  public var tokenizePass: ((Store, inout IngestSummary, @escaping () -> Bool) throws -> Void)?
  /// Worker threads the tokenizer may use (1 while it overlaps the file pass).
  public var tokenizerThreads: Int = 2
  /// Identifies the tokenizer in the config hash when windows depend on it.
  public var tokenizerHash: String?

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

    let lock = try WriterLock(databasePath: options.database, stage: "kd-ingest", timeout: options.lockTimeout,
                              onWait: options.log)
    defer { lock.release() }
    let store = try Store.open(path: options.database)
    try store.markAbandonedRuns()
    let runID = try store.beginRun(stage: "ingest", commandLine: options.commandLine)
    summary.runID = runID
    do {
      let totalBytes = files.reduce(Int64(0)) { $0 + $1.size }
      var done: Int64 = 0
      // Tokenization overlaps the file pass: a second connection on its own
      // thread tokenizes examples as soon as their file is committed (one
      // core each), then drains what is left once the file pass ends.
      let tokenizer = TokenizerWorker(pass: tokenizePass, databasePath: options.database, threads: tokenizerThreads)
      tokenizer?.start()
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
          done += file.size
          options.progress(done, totalBytes, file.relativePath)
        }
        if options.prune && !summary.interrupted {
          let seen = Set(files.map(\.relativePath))
          for s in try store.sources(root: root) where !seen.contains(s.path) {
            try store.db.transaction { try store.deleteSource(s.id) }
            summary.filesPruned += 1
            options.log("pruned \(s.path) (\(s.documents) documents)")
          }
        }
      } catch {
        _ = tokenizer?.finish()
        throw error
      }
      // Duplicates need only the examples: find them while the tokenizer drains.
      tokenizer?.endOfInput()
      let d: (duplicates: Int, crossSplit: Int)
      do {
        d = try store.db.transaction { try store.refreshDuplicates() }
      } catch {
        _ = tokenizer?.finish()
        throw error
      }
      summary.duplicates = d.duplicates
      summary.duplicatesAcrossSplits = d.crossSplit
      if let tokenizer {
        let t = try tokenizer.finish().get()
        summary.tokenizer = t.tokenizer
        summary.examplesTokenized += t.examplesTokenized
        summary.examplesOverMaxLength += t.examplesOverMaxLength
        if t.interrupted { summary.interrupted = true }
      }
      summary.totals = try totals(store: store, root: root)
      summary.seconds = Date().timeIntervalSince(started)
      let status = summary.interrupted ? "interrupted" : (summary.filesFailed + summary.rowErrors > 0 ? "partial" : "ok")
      try store.endRun(runID, status: status, counts: countsForRun(summary))
    } catch {
      try? store.endRun(runID, status: "failed", error: "\(error)")
      throw error
    }
    return summary
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
    do {
      var writerOut: SourceWriter?
      try store.db.transaction {
        if let old { try store.deleteSource(old.id) }
        let taskID = try file.task.map { try store.taskID(named: $0, multiLabel: file.entry.multiLabel ?? false) }
        let sourceID = try store.insertSource(NewSource(
          root: root, path: file.relativePath, contentHash: hash, size: file.size, mtime: file.mtime,
          format: file.format, domain: file.domain, taskID: taskID, configHash: cfg, status: "ok", error: nil,
          errorCount: 0, runID: runID))
        let writer = SourceWriter(store: store, sourceID: sourceID, file: file, taskID: taskID,
                                  segment: segmentFor(file), maxExampleBytes: options.maxExampleBytes,
                                  windowRanges: windowRanges)
        let format = try read(file, into: writer, summary: &summary)
        try writer.finish()
        try store.finishSource(sourceID, documents: writer.documents, examples: writer.examples)
        if format != file.format {
          try store.db.run("UPDATE sources SET format = ? WHERE id = ?", [.text(format), .int(sourceID)])
        }
        if !writer.rowErrors.isEmpty {
          let first = writer.rowErrors[0]
          let msg = KDError(.input, first.1, file: file.relativePath, line: first.0).description
          try store.db.run("UPDATE sources SET status = 'partial', error = ?, error_count = ? WHERE id = ?",
                           [.text(msg), .int(writer.rowErrors.count), .int(sourceID)])
        }
        writerOut = writer
      }
      guard let writer = writerOut else { return }
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
    try store.db.transaction {
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

  func totals(store: Store, root: String) throws -> [String: [String: IngestSummary.Totals]] {
    var out: [String: [String: IngestSummary.Totals]] = [:]
    let s = try store.db.prepare(
      """
      SELECT e.domain, e.split, COUNT(DISTINCT e.document_id), COUNT(*),
             SUM(EXISTS (SELECT 1 FROM example_labels l WHERE l.example_id = e.id)),
             COALESCE(SUM((SELECT MAX(t.length) FROM tokenizations t WHERE t.example_id = e.id)), 0)
      FROM examples e JOIN documents d ON d.id = e.document_id JOIN sources s ON s.id = d.source_id
      WHERE s.root = ? GROUP BY e.domain, e.split
      """)
    try s.bind([.text(root)])
    while try s.step() {
      out[s.text(0), default: [:]][s.text(1)] = IngestSummary.Totals(
        documents: s.int(2), examples: s.int(3), labeled: s.int(4), tokens: s.int(5))
    }
    return out
  }
}
