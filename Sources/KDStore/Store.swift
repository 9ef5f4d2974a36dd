import CSQLite
import Foundation
import KDCore

/// The kd feature store: one SQLite file shared by every stage.
///
/// `Store.open` applies pending migrations from `schemas/`, turns on WAL and
/// foreign keys, and refuses a file written by a newer schema.
///
/// For example:
/// ```swift
/// let store = try Store.open(path: "data.sqlite")
/// let runID = try store.beginRun(stage: "ingest", commandLine: CommandLine.arguments)
/// ```
public final class Store {
  /// The connection. Internal: every other module reads and writes through
  /// typed methods (`Store+*.swift`), so all SQL lives in KDStore.
  let db: Database
  public var path: String { db.path }

  init(db: Database) { self.db = db }

  /// Opens or creates a store and migrates it to `Schema.currentVersion`.
  /// - Throws: `KDError(.schema)` when the file was written by a newer kd,
  ///   `KDError(.database)` when it is not a SQLite file.
  public static func open(path: String, readOnly: Bool = false, busyTimeout: TimeInterval = 60) throws -> Store {
    if readOnly && !FileManager.default.fileExists(atPath: path) {
      throw KDError(.io, "no such database (run kd-ingest first, or pass --db)", file: path)
    }
    if !readOnly { try refuseEmptyFile(path) }
    let db = try Database(path: path, readOnly: readOnly, busyTimeout: busyTimeout)
    let store = Store(db: db)
    do {
      if !readOnly {
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=NORMAL")
      }
      try db.execute("PRAGMA temp_store=MEMORY")
      try db.execute("PRAGMA cache_size=-65536")
      // Migrations run with foreign keys off (a table rebuild drops and
      // renames tables; with them on, the drop would cascade), set explicitly
      // since a SQLite build may default them on, and check them before committing.
      try db.execute("PRAGMA foreign_keys=OFF")
      try store.migrate(readOnly: readOnly)
      try db.execute("PRAGMA foreign_keys=ON")
    } catch let e as DatabaseError {
      if e.code & 0xff == SQLITE_NOTADB {
        throw KDError(.database, "not a kd database (not SQLite, or encrypted)", file: path)
      }
      throw KDError(.database, e.description)
    }
    return store
  }

  /// An existing zero-length file is not a store: SQLite would silently give
  /// it the schema, hiding a truncated copy or a wrong `--db`. (A new store in
  /// WAL mode may have an empty main file while its WAL holds the pages, so a
  /// non-empty `-wal` beside it is accepted.)
  static func refuseEmptyFile(_ path: String) throws {
    guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
      (attrs[.size] as? NSNumber)?.intValue == 0
    else { return }
    let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? NSNumber
    if (wal?.intValue ?? 0) > 0 { return }
    throw KDError(
      .database,
      "the file is empty (0 bytes), not a kd store; delete it to start a new store there, or pass the right --db",
      file: path)
  }

  /// Runs `body` in one transaction (`BEGIN IMMEDIATE`): committed when it
  /// returns, rolled back when it throws.
  @discardableResult
  public func transaction<T>(_ body: () throws -> T) throws -> T {
    try db.transaction(body)
  }

  /// Sets how many WAL pages trigger an automatic checkpoint on this
  /// connection (0 turns them off, SQLite's default is 1000).
  public func setWALAutoCheckpoint(pages: Int) throws {
    try db.execute("PRAGMA wal_autocheckpoint=\(max(0, pages))")
  }

  /// A second connection to an existing store that only runs WAL checkpoints
  /// (`checkpointPassive`): no migration, no settings, no reads.
  public static func openForCheckpoints(path: String) throws -> Store {
    Store(db: try Database(path: path))
  }

  /// Copies what it can of the WAL into the database file without waiting
  /// for readers or writers (a passive checkpoint).
  public func checkpointPassive() throws {
    try db.execute("PRAGMA wal_checkpoint(PASSIVE)")
  }

  /// The schema version stored in the file (`PRAGMA user_version`).
  public func schemaVersion() throws -> Int {
    Int(try db.scalarInt("PRAGMA user_version") ?? 0)
  }

  func migrate(readOnly: Bool) throws {
    let current = Schema.currentVersion
    var version = try schemaVersion()
    if version > current {
      throw KDError(
        .schema,
        "database schema version \(version) is newer than this kd supports (\(current)); upgrade kd",
        file: path)
    }
    if version == current { return }
    if readOnly {
      throw KDError(.schema, "database schema version \(version) is older than \(current); open it once read-write to migrate", file: path)
    }
    try db.transaction {
      // Re-read inside the write lock: another process may have migrated meanwhile.
      version = try schemaVersion()
      // Broken references already there (rows written by other tools with foreign
      // keys off) are not the migration's doing and must not block it.
      let brokenBefore = try db.prepare("PRAGMA foreign_key_check").step()
      for m in Schema.migrations where m.version > version {
        do {
          try db.execute(m.sql)
        } catch let e as DatabaseError {
          throw KDError(.schema, "migration \(m.version) (\(m.name)) failed: \(e.message)", file: path)
        }
        try db.execute("PRAGMA user_version = \(m.version)")
      }
      let s = try db.prepare("PRAGMA foreign_key_check")
      if !brokenBefore, try s.step() {
        throw KDError(.schema, "migration to version \(current) left a broken reference in table \(s.text(0)) (row \(s.int64(1))); nothing was changed", file: path)
      }
    }
  }

  /// Current time as ISO 8601 UTC, the format of every timestamp in the store.
  public static func now() -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date())
  }
}
