import Foundation
import KDCore
import KDStore
import KDTokenizers

/// What an ingest run tokenizes with. The tokenizer file is parsed on a
/// background thread while the run opens the store and reads its first file;
/// the first file's transaction waits for it, so a bad tokenizer still stops
/// the run before anything is stored.
public final class IngestTokenization: @unchecked Sendable {
  /// Name recorded in `tokenizers.name`.
  public let name: String
  /// The tokenizer file's bytes, stored in `tokenizers.json`.
  public let json: [UInt8]
  /// `Tokenizer.contentHash` of those bytes.
  public let contentHash: String
  private let cond = NSCondition()
  private var loaded: Result<Tokenizer, Error>?

  /// Starts parsing the tokenizer file at `path` in the background.
  public init(loading path: String, name: String) throws {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw KDError(.io, "cannot read the tokenizer file", file: path)
    }
    self.name = name
    json = [UInt8](data)
    contentHash = StableHash.hex(StableHash.fnv1a64(json))
    let t = Thread { [self] in
      // Parsed from the bytes stored and hashed, not read again: the file may change meanwhile.
      let r = Result { try Tokenizer.load(data: data, path: path) }
      cond.lock()
      loaded = r
      cond.broadcast()
      cond.unlock()
    }
    t.stackSize = 8 << 20
    t.start()
  }

  /// The tokenizer, once parsed.
  /// - Throws: the tokenizer file's error.
  public func tokenizer() throws -> Tokenizer {
    cond.lock()
    defer { cond.unlock() }
    while loaded == nil { cond.wait() }
    return try loaded!.get()
  }
}

/// A tokenizer that failed to load, surfacing from a file's transaction
/// (it must not be recorded as that file's error).
struct TokenizerUnavailable: Error {
  var error: Error
}

/// Encodes an ingest run's examples on its own thread while the file pass
/// goes on; the file pass's connection writes the ids, so the store has a
/// single writer.
///
/// The file pass hands over each example's id and text in memory as soon as
/// it inserts the row, so encoding starts before the file's transaction
/// commits. `takeEncoded()` returns the ids of examples whose file has
/// committed, and drops those of files that rolled back. (A second writing
/// connection measured slower: every commit of one connection empties the
/// other's page cache, and each waited for the other's write lock.)
///
/// Examples stored by earlier runs without ids for this tokenizer (a run killed
/// between a file's commit and its ids, or ingested with `--tokenizer none`)
/// are found after the file pass (`Ingestor.tokenizeEarlierExamples`): a
/// replaced file's new rows may reuse the ids of the rows it deleted, so
/// they cannot be looked for while the file pass runs.
final class TokenizerWorker: @unchecked Sendable {
  private struct Chunk {
    var file: Int
    var ids: [Int64]
    var hashes: [UInt64]
    var texts: [String]
  }
  struct Encoded {
    var file: Int
    var ids: [Int64]
    /// `StableHash.fnv1a64` of each example's text, to check the row before writing its ids.
    var hashes: [UInt64]
    var tokens: [[Int32]]
  }
  private enum FileState { case pending, committed, aborted }

  private let setup: IngestTokenization
  private let databasePath: String
  private let threads: Int
  private let shouldStop: () -> Bool

  private let cond = NSCondition()
  private var queue: [Chunk] = []
  private var queueHead = 0
  private var encoded: [Encoded] = []
  private var encodedExamples = 0
  private static let maxEncodedExamples = 65_536
  /// Texts waiting to be encoded, at most this many (the rest go to the final sweep).
  private var queuedExamples = 0
  private static let maxQueuedExamples = 65_536
  private var _overflowed = false
  private var files: [Int: FileState] = [:]
  private var producing = true
  private var running = true
  private var checkpointer: Store?
  private var cancelled = false
  private var failure: Error?

  /// Examples the file pass is building for the current file, not yet handed over.
  private var buffer = Chunk(file: 0, ids: [], hashes: [], texts: [])
  private static let chunkSize = 512

  /// - Parameters:
  ///   - threads: encoding threads once the file pass has ended (one while it runs).
  init(setup: IngestTokenization, databasePath: String, threads: Int, shouldStop: @escaping () -> Bool) {
    self.setup = setup
    self.databasePath = databasePath
    self.threads = max(1, threads)
    self.shouldStop = shouldStop
  }

  func start() {
    let t = Thread { [self] in
      var thrown: Error?
      do {
        // This thread also copies the WAL into the database file as it grows,
        // every 4096 examples while the file pass runs (a passive checkpoint
        // never blocks the writer), so the file pass's commits skip that work
        // (its connection has wal_autocheckpoint=0; closing it checkpoints the rest).
        checkpointer = try Store.openForCheckpoints(path: databasePath)
        try encodeLoop(try setup.tokenizer())
      } catch {
        thrown = error
      }
      cond.lock()
      failure = thrown
      running = false
      cond.broadcast()
      cond.unlock()
    }
    t.stackSize = 8 << 20
    t.start()
  }

  // MARK: Called by the file pass (one thread)

  /// A stored example of file number `file` (not yet committed), its text and the text's hash.
  func add(file: Int, id: Int64, text: String, hash: UInt64) {
    if buffer.file != file { buffer = Chunk(file: file, ids: [], hashes: [], texts: []) }
    buffer.ids.append(id)
    buffer.hashes.append(hash)
    buffer.texts.append(text)
    if buffer.ids.count >= Self.chunkSize { flush() }
  }

  private func flush() {
    guard !buffer.ids.isEmpty else { return }
    cond.lock()
    if queuedExamples >= Self.maxQueuedExamples {
      // The worker is far behind: keep memory bounded and leave these
      // examples to the sweep after the file pass (`overflowed`).
      _overflowed = true
    } else {
      if files[buffer.file] == nil { files[buffer.file] = .pending }
      queue.append(buffer)
      queuedExamples += buffer.ids.count
      cond.broadcast()
    }
    cond.unlock()
    buffer = Chunk(file: buffer.file, ids: [], hashes: [], texts: [])
  }

  /// Whether some examples were not handed over because the worker was too far
  /// behind; they lack ids until the file pass's final sweep.
  var overflowed: Bool {
    cond.lock()
    defer { cond.unlock() }
    return _overflowed
  }

  /// File `file`'s transaction committed: its ids may be written.
  func committed(file: Int) {
    if buffer.file == file { flush() }
    setState(file, .committed)
  }

  /// File `file`'s transaction rolled back: its examples no longer exist.
  func aborted(file: Int) {
    if buffer.file == file { buffer = Chunk(file: file, ids: [], hashes: [], texts: []) }
    setState(file, .aborted)
  }

  private func setState(_ file: Int, _ state: FileState) {
    cond.lock()
    if files[file] != nil { files[file] = state }
    cond.unlock()
  }

  /// No more examples will arrive; the worker encodes the rest on all its threads.
  func endOfInput() {
    cond.lock()
    producing = false
    cond.broadcast()
    cond.unlock()
  }

  /// Stops the worker without waiting (the run failed).
  func cancel() {
    cond.lock()
    cancelled = true
    producing = false
    cond.broadcast()
    cond.unlock()
  }

  /// Encoded ids of committed files, ready to write (those of rolled-back
  /// files are dropped).
  /// - Parameter wait: wait until there is something to write or the worker is done.
  /// - Returns: nil once the worker is done and everything has been taken.
  /// - Throws: the worker's error, if it failed.
  func takeEncoded(wait: Bool = false) throws -> [Encoded]? {
    cond.lock()
    defer { cond.unlock() }
    while true {
      if let failure { throw failure }
      var out: [Encoded] = []
      var keep: [Encoded] = []
      for e in encoded {
        switch files[e.file] ?? .aborted {
        case .committed: out.append(e)
        case .pending: keep.append(e)
        case .aborted: break
        }
      }
      encoded = keep
      encodedExamples = keep.reduce(0) { $0 + $1.ids.count }
      cond.broadcast()
      if !out.isEmpty { return out }
      if !running { return nil }
      if !wait { return [] }
      cond.wait()
    }
  }

  /// Hands over encodings, waiting while too many wait to be written (a
  /// store with millions of examples to catch up on must not fill memory).
  private func publish(_ e: Encoded) {
    cond.lock()
    while encodedExamples >= Self.maxEncodedExamples && !cancelled { cond.wait() }
    encoded.append(e)
    encodedExamples += e.ids.count
    cond.broadcast()
    cond.unlock()
  }

  // MARK: The worker thread


  private func encodeLoop(_ tokenizer: Tokenizer) throws {
    var sinceCheckpoint = 0
    while true {
      cond.lock()
      while queueHead == queue.count && producing { cond.wait() }
      guard queueHead < queue.count && !cancelled else {
        cond.unlock()
        return
      }
      let chunk = queue[queueHead]
      queueHead += 1
      queuedExamples -= chunk.ids.count
      if queueHead > 64 {
        queue.removeFirst(queueHead)
        queueHead = 0
      }
      let more = producing
      cond.unlock()
      if shouldStop() { return }
      let encodings = tokenizer.encodeBatch(chunk.texts, addSpecialTokens: true, threads: more ? 1 : threads)
      publish(Encoded(file: chunk.file, ids: chunk.ids, hashes: chunk.hashes, tokens: encodings.map(\.ids)))
      sinceCheckpoint += chunk.ids.count
      if sinceCheckpoint >= 4096 && more {
        try checkpointer?.checkpointPassive()
        sinceCheckpoint = 0
      }
    }
  }
}
