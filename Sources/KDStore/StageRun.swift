import CSQLite
import Foundation
import KDCore

/// One invocation of a stage against a store, with the one lifecycle every
/// stage shares:
///
/// 1. take the writer lock (`WriterLock`, when the stage writes the corpus or
///    the teacher cache), then open the store, so no stale snapshot is read;
/// 2. refuse a damaged store before writing anything to it (`PRAGMA quick_check`);
/// 3. mark runs of killed processes `interrupted`, and add this run's `runs` row;
/// 4. end the row with a typed `RunStatus`: `finish(_:)` on success, `fail(_:)`
///    when the stage throws (an error of kind `.interrupted` is recorded as
///    `interrupted`, anything else as `failed`; nothing is written once the
///    store is found damaged), and release the lock.
///
/// For example:
/// ```swift
/// let stage = try StageRun.begin(stage: "ingest", database: "data.sqlite", commandLine: CommandLine.arguments,
///                                lockTimeout: 600)
/// do {
///   let n = try work(stage.store, stage.runID)
///   try stage.finish(.ok, counts: ["examples": n])
/// } catch {
///   stage.fail(error)
///   throw error
/// }
/// ```
public final class StageRun {
  public let stage: String
  public let store: Store
  public let runID: Int64
  private var lock: WriterLock?
  public private(set) var status: RunStatus = .running

  private init(stage: String, store: Store, runID: Int64, lock: WriterLock?) {
    self.stage = stage
    self.store = store
    self.runID = runID
    self.lock = lock
  }

  /// Starts a run.
  /// - Parameters:
  ///   - stage: `runs.stage` (`ingest`, `teacher-cache`, `train`, ...).
  ///   - lockTimeout: seconds to wait for the writer lock; nil takes no lock.
  ///   - holder: how the lock file names this process (default `kd-<stage>`).
  ///   - prepare: called on the open store before anything is written (connection settings).
  /// - Throws: `KDError(.lock)` only when another run held the lock past the
  ///   timeout; `KDError(.io)` when the lock file cannot be created;
  ///   `KDError(.database)` for a damaged or empty file.
  public static func begin(
    stage: String, database: String, commandLine: [String], lockTimeout: TimeInterval?, holder: String? = nil,
    onWait: ((String) -> Void)? = nil, prepare: ((Store) throws -> Void)? = nil
  ) throws -> StageRun {
    let lock = try lockTimeout.map {
      try WriterLock(databasePath: database, stage: holder ?? "kd-\(stage)", timeout: $0, onWait: onWait)
    }
    let store = try Store.open(path: database)
    try prepare?(store)
    try store.checkIntact()
    try store.markAbandonedRuns()
    let runID = try store.beginRun(stage: stage, commandLine: commandLine)
    return StageRun(stage: stage, store: store, runID: runID, lock: lock)
  }

  /// Ends the run with `status` (`ok`, `partial` or `interrupted`) and releases the lock.
  public func finish(_ status: RunStatus, counts: [String: Any]? = nil, error: String? = nil) throws {
    defer { release() }
    self.status = status
    try store.endRun(runID, status: status, counts: counts, error: error)
  }

  /// Ends the run after `error`: `interrupted` for an error of kind
  /// `.interrupted`, else `failed`. Writes nothing when the error shows the
  /// store is damaged. Never throws: the caller rethrows `error`.
  public func fail(_ error: Error) {
    defer { release() }
    status = (error as? KDError)?.isInterruption == true ? .interrupted : .failed
    if Store.isCorruption(error) { return }
    // A store error may come from a damaged page: look before writing.
    if error is DatabaseError || (error as? KDError)?.kind == .database, (try? store.checkIntact()) == nil { return }
    try? store.endRun(runID, status: status, error: "\(error)")
  }

  /// Releases the writer lock (also done by `finish`, `fail` and deinit).
  public func release() {
    lock?.release()
    lock = nil
  }

  deinit { release() }
}

extension Store {
  /// Refuses a damaged store before a stage writes to it: `PRAGMA quick_check`
  /// (every page and b-tree read once, without checking index contents).
  /// - Throws: `KDError(.database)` naming the file and SQLite's first finding.
  public func checkIntact() throws {
    let result: String?
    do {
      result = try db.scalarText("PRAGMA quick_check(1)")
    } catch let e as DatabaseError {
      throw KDError(.database, "the store is damaged (\(e.message)); nothing was written. Restore it from a backup or re-create it",
                    file: path)
    }
    guard let result, result == "ok" else {
      throw KDError(.database, "the store is damaged (\(result ?? "no answer from quick_check")); nothing was written. Restore it from a backup or re-create it",
                    file: path)
    }
  }

  /// Whether an error is SQLite reporting a damaged file (`SQLITE_CORRUPT`, `SQLITE_NOTADB`).
  public static func isCorruption(_ error: Error) -> Bool {
    guard let e = error as? DatabaseError else { return false }
    let primary = e.code & 0xff
    return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB
  }
}
