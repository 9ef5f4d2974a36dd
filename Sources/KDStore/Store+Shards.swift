import CSQLite
import Foundation
import KDCore

/// How a shard store was cut from its corpus.
public enum ShardKind: String, Sendable, Codable {
  /// kd-ingest: whole corpus files, by a hash of their path.
  case files
  /// kd-teacher-cache: examples, by a hash of their text.
  case examples
}

/// The part of a corpus a store holds (`store_shard`).
public struct StoreShard: Sendable, Equatable, CustomStringConvertible {
  public var kind: ShardKind
  public var shard: ShardSpec
  public init(kind: ShardKind, shard: ShardSpec) {
    self.kind = kind
    self.shard = shard
  }
  public var description: String { "shard \(shard.index) of \(shard.count) (by \(kind == .files ? "file" : "example"))" }
}

extension Store {
  /// The part of a corpus this store holds, or nil for a whole corpus.
  public func storeShard() throws -> StoreShard? {
    let s = try db.cached("SELECT kind, shard_index, shard_count FROM store_shard WHERE id = 1")
    try s.bind([])
    defer { s.reset() }
    guard try s.step() else { return nil }
    let kind = ShardKind(rawValue: s.text(0)) ?? .files
    return StoreShard(kind: kind, shard: try ShardSpec(index: s.int(1), count: s.int(2)))
  }

  /// Records (or checks) the part of the corpus this store holds. A store
  /// holds one shard for its whole life: a different one is refused, naming both.
  /// - Throws: `KDError(.input)` when the store already holds another shard,
  ///   or holds examples of a whole corpus.
  public func claimShard(_ wanted: StoreShard?) throws {
    let have = try storeShard()
    if have == wanted { return }
    if let have {
      throw KDError(
        .input,
        "this store holds \(have), not \(wanted.map(\.description) ?? "a whole corpus"); use another --db (shard stores are named <db>.shard-K-of-N.sqlite)",
        file: path)
    }
    guard let wanted else { return }
    if wanted.kind == .files, try exampleCount() > 0 {
      throw KDError(.input, "this store already holds an unsharded corpus; a shard needs its own store file", file: path)
    }
    try db.run("INSERT INTO store_shard (id, kind, shard_index, shard_count) VALUES (1, ?, ?, ?)",
               [.text(wanted.kind.rawValue), .int(wanted.shard.index), .int(wanted.shard.count)])
  }

  /// Examples and their text hashes, in id order (for assigning examples to shards).
  public func exampleTextHashes() throws -> [(id: Int64, hash: UInt64)] {
    let s = try db.prepare("SELECT id, text_hash FROM examples ORDER BY id")
    var out: [(id: Int64, hash: UInt64)] = []
    while try s.step() { out.append((s.int64(0), UInt64(s.text(1), radix: 16) ?? 0)) }
    return out
  }
}

extension Store {
  /// Writes a consistent copy of this store to `path` (`VACUUM INTO`, via
  /// `<path>.copying` and a rename, so a kill never leaves half a copy).
  /// - Parameter prepare: called on the copy before it is renamed into place.
  public func copy(to path: String, prepare: ((Store) throws -> Void)? = nil) throws {
    let temp = path + ".copying"
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: temp + suffix) }
    try db.run("VACUUM INTO ?", [.text(temp)])
    if let prepare {
      let copy = try Store.open(path: temp)
      try prepare(copy)
      try copy.db.execute("PRAGMA journal_mode=DELETE")
    }
    guard rename(temp, path) == 0 else {
      throw KDError(.io, "cannot rename the copy into place: \(String(cString: strerror(errno)))", file: path)
    }
  }
}
