import CSQLite
import Foundation
import KDCore

/// A SQLite connection. One final class owns the C handle and closes it in `deinit`.
///
/// kd uses the C API directly rather than GRDB: the loader must stream
/// >100k examples/s and GRDB's record layer measured 4x slower on reads and
/// 2.5x slower on inserts here (../shared/PLATFORM.md). `sqliteConnection`
/// is the explicit escape hatch.
final class Database {
  public let path: String
  public private(set) var sqliteConnection: OpaquePointer?
  private var statementCache: [String: Statement] = [:]
  private var statementsByAddress: [Int: (sql: String, statement: Statement)] = [:]

  /// Process-wide SQLite settings, applied before the first connection opens.
  private static let configureOnce: Void = { _ = kd_sqlite_disable_memstatus() }()

  /// Opens (or creates) the database file.
  /// - Parameters:
  ///   - busyTimeout: how long a statement waits for another connection's write lock.
  public init(path: String, readOnly: Bool = false, busyTimeout: TimeInterval = 60) throws {
    self.path = path
    var handle: OpaquePointer?
    let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
    _ = Database.configureOnce
    let rc = sqlite3_open_v2(path, &handle, flags | SQLITE_OPEN_NOMUTEX, nil)
    guard rc == SQLITE_OK, let handle else {
      let msg = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
      sqlite3_close(handle)
      throw KDError(.database, "cannot open database: \(msg)", file: path)
    }
    sqliteConnection = handle
    // Waits for another connection's write lock in 0.5 ms steps. SQLite's own
    // busy timeout backs off to 100 ms sleeps: ingest's tokenizer thread then
    // idled long after the file pass had committed (BENCHMARKS.md, ingest).
    let steps = max(1, Int(busyTimeout * 2000))
    sqlite3_busy_handler(handle, { context, count in
      if Int(count) >= Int(bitPattern: context) { return 0 }
      usleep(500)
      return 1
    }, UnsafeMutableRawPointer(bitPattern: steps))
    sqlite3_extended_result_codes(handle, 1)
  }

  deinit {
    statementsByAddress.removeAll()
    statementCache.removeAll()
    sqlite3_close_v2(sqliteConnection)
  }

  var handle: OpaquePointer? { sqliteConnection }

  /// Runs one or more SQL statements without results.
  public func execute(_ sql: String) throws {
    var err: UnsafeMutablePointer<CChar>?
    let rc = sqlite3_exec(handle, sql, nil, nil, &err)
    if rc != SQLITE_OK {
      let msg = err.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
      sqlite3_free(err)
      throw DatabaseError(code: rc, message: msg, sql: sql, path: path)
    }
  }

  /// A prepared statement, cached by SQL text for reuse in loops.
  ///
  /// - warning: a caller that stops stepping before `step()` returns false
  ///   must `reset()` the statement, or it keeps a read snapshot open and the
  ///   connection stops seeing other processes' writes.
  public func cached(_ sql: String) throws -> Statement {
    // Hot loops pass string literals, whose UTF-8 storage sits at one address
    // per call site: look that up first and confirm with `==` (immediate for
    // the same storage), instead of hashing the whole SQL text per row.
    let address = sql.utf8.withContiguousStorageIfAvailable { Int(bitPattern: $0.baseAddress) } ?? 0
    if address != 0, let entry = statementsByAddress[address], entry.sql == sql {
      entry.statement.reset()
      return entry.statement
    }
    let s: Statement
    if let cachedStatement = statementCache[sql] {
      cachedStatement.reset()
      s = cachedStatement
    } else {
      s = try Statement(database: self, sql: sql)
      statementCache[sql] = s
    }
    if address != 0 { statementsByAddress[address] = (sql, s) }
    return s
  }

  /// A fresh prepared statement (not cached).
  public func prepare(_ sql: String) throws -> Statement {
    try Statement(database: self, sql: sql)
  }

  public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
  public var changes: Int { Int(sqlite3_changes(handle)) }

  /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
  @discardableResult
  public func transaction<T>(immediate: Bool = true, _ body: () throws -> T) throws -> T {
    try execute(immediate ? "BEGIN IMMEDIATE" : "BEGIN")
    do {
      let result = try body()
      try execute("COMMIT")
      return result
    } catch {
      try? execute("ROLLBACK")
      throw error
    }
  }

  /// Convenience: the first column of the first row as Int64, or nil.
  public func scalarInt(_ sql: String, _ args: [SQLValue] = []) throws -> Int64? {
    let s = try cached(sql)
    // Reset after reading: a statement left on a row keeps its read snapshot open.
    defer { s.reset() }
    try s.bind(args)
    guard try s.step() else { return nil }
    return s.isNull(0) ? nil : s.int64(0)
  }

  /// Convenience: the first column of the first row as String, or nil.
  public func scalarText(_ sql: String, _ args: [SQLValue] = []) throws -> String? {
    let s = try cached(sql)
    defer { s.reset() }
    try s.bind(args)
    guard try s.step() else { return nil }
    return s.isNull(0) ? nil : s.text(0)
  }

  /// Runs a statement with arguments and no result rows.
  public func run(_ sql: String, _ args: [SQLValue] = []) throws {
    let s = try cached(sql)
    defer { s.reset() }
    try s.bind(args)
    try s.run()
  }

  func error(_ rc: Int32, sql: String?) -> DatabaseError {
    var message = String(cString: sqlite3_errmsg(handle))
    if rc & 0xff == SQLITE_BUSY {
      let active = activeStatements()
      if !active.isEmpty { message += " (statements still reading on this connection: \(active.joined(separator: " | ")))" }
    }
    return DatabaseError(code: rc, message: message, sql: sql, path: path)
  }

  /// SQL of the statements that are stepped but not reset or finished:
  /// each holds a read snapshot open.
  public func activeStatements() -> [String] {
    var out: [String] = []
    var stmt = sqlite3_next_stmt(handle, nil)
    while let s = stmt {
      if sqlite3_stmt_busy(s) != 0, let sql = sqlite3_sql(s) { out.append(String(String(cString: sql).prefix(120))) }
      stmt = sqlite3_next_stmt(handle, s)
    }
    return out
  }
}

/// A SQLite failure with its code, message, the SQL and the database path.
public struct DatabaseError: Error, CustomStringConvertible {
  public var code: Int32
  public var message: String
  public var sql: String?
  public var path: String

  public var description: String {
    var d = "\(path): SQLite error \(code): \(message)"
    if let sql { d += " - while executing `\(sql.prefix(200))`" }
    return d
  }
}

/// A value bound to a statement parameter.
public enum SQLValue {
  case null
  case int(Int64)
  case double(Double)
  case text(String)
  case blob([UInt8])
}

extension SQLValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral {
  public init(stringLiteral value: String) { self = .text(value) }
  public init(integerLiteral value: Int) { self = .int(Int64(value)) }
  public init(nilLiteral: ()) { self = .null }
  public static func optional(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
  public static func optional(_ i: Int64?) -> SQLValue { i.map { .int($0) } ?? .null }
  public static func int(_ i: Int) -> SQLValue { .int(Int64(i)) }
}

/// A prepared statement. Bind, then `step()` until it returns false.
final class Statement {
  public private(set) var sqliteStatement: OpaquePointer?
  unowned let database: Database
  public let sql: String

  init(database: Database, sql: String) throws {
    self.database = database
    self.sql = sql
    var stmt: OpaquePointer?
    let rc = sqlite3_prepare_v3(database.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
    guard rc == SQLITE_OK else { throw database.error(rc, sql: sql) }
    sqliteStatement = stmt
  }

  deinit { sqlite3_finalize(sqliteStatement) }

  public func reset() {
    sqlite3_reset(sqliteStatement)
    sqlite3_clear_bindings(sqliteStatement)
  }

  public func bind(_ values: [SQLValue]) throws {
    reset()
    for (i, v) in values.enumerated() { try bind(v, at: Int32(i + 1)) }
  }

  public func bind(_ value: SQLValue, at index: Int32) throws {
    let rc: Int32
    switch value {
    case .null: rc = sqlite3_bind_null(sqliteStatement, index)
    case .int(let i): rc = sqlite3_bind_int64(sqliteStatement, index, i)
    case .double(let d): rc = sqlite3_bind_double(sqliteStatement, index, d)
    case .text(let s): rc = sqlite3_bind_text(sqliteStatement, index, s, -1, kd_sqlite_transient())
    case .blob(let b):
      rc = b.withUnsafeBytes { p in
        sqlite3_bind_blob(sqliteStatement, index, p.baseAddress, Int32(p.count), kd_sqlite_transient())
      }
    }
    guard rc == SQLITE_OK else { throw database.error(rc, sql: sql) }
  }

  /// Binds raw bytes without copying them into Swift arrays first.
  public func bindBlob(_ bytes: UnsafeRawBufferPointer, at index: Int32) throws {
    let rc = sqlite3_bind_blob(sqliteStatement, index, bytes.baseAddress, Int32(bytes.count), kd_sqlite_transient())
    guard rc == SQLITE_OK else { throw database.error(rc, sql: sql) }
  }

  /// Advances to the next row. Returns false when done.
  @discardableResult
  public func step() throws -> Bool {
    let rc = sqlite3_step(sqliteStatement)
    if rc == SQLITE_ROW { return true }
    if rc == SQLITE_DONE { return false }
    throw database.error(rc, sql: sql)
  }

  /// Runs to completion, ignoring rows.
  public func run() throws {
    while try step() {}
  }

  public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(sqliteStatement, column) == SQLITE_NULL }
  public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(sqliteStatement, column) }
  public func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(sqliteStatement, column)) }
  public func double(_ column: Int32) -> Double { sqlite3_column_double(sqliteStatement, column) }
  public func text(_ column: Int32) -> String {
    guard let p = sqlite3_column_text(sqliteStatement, column) else { return "" }
    let n = Int(sqlite3_column_bytes(sqliteStatement, column))
    return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
  }
  public func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }
  public func optionalInt(_ column: Int32) -> Int? { isNull(column) ? nil : int(column) }
  /// The column's bytes, valid until the next step/reset. Do not escape the pointer.
  public func withBlob<R>(_ column: Int32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    let p = sqlite3_column_blob(sqliteStatement, column)
    let n = Int(sqlite3_column_bytes(sqliteStatement, column))
    return try body(UnsafeRawBufferPointer(start: p, count: p == nil ? 0 : n))
  }
  public func blob(_ column: Int32) -> [UInt8] { withBlob(column) { Array($0) } }
}
