import Foundation
import KDCore
import KDTestSupport
import Testing

@testable import KDStore

@Suite struct SchemaTests {
  @Test func embeddedMigrationsMatchSchemasFolder() throws {
    let folder = TestPaths.packageRoot + "/schemas"
    let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".sql") }.sorted()
    #expect(files.count == Schema.migrations.count, "run `make schema` after adding a migration")
    for (file, m) in zip(files, Schema.migrations) {
      let sql = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
      #expect(sql.trimmingCharacters(in: .whitespacesAndNewlines) == m.sql.trimmingCharacters(in: .whitespacesAndNewlines),
              "\(file) differs from the embedded copy: run `make schema`")
      #expect(file.hasPrefix(String(format: "%04d_", m.version)))
    }
  }

  @Test func newStoreIsMigratedWithWALAndForeignKeys() throws {
    let dir = try TemporaryDirectory()
    let store = try Store.open(path: dir.file("a.sqlite"))
    #expect(try store.schemaVersion() == Schema.currentVersion)
    #expect(try store.db.scalarText("PRAGMA journal_mode") == "wal")
    #expect(try store.db.scalarInt("PRAGMA foreign_keys") == 1)
  }

  @Test func olderStoreIsMigrated() throws {
    let dir = try TemporaryDirectory()
    do {
      let raw = try Database(path: dir.file("old.sqlite"))
      try raw.execute("CREATE TABLE unrelated (x INTEGER); PRAGMA user_version = 0;")
    }
    let store = try Store.open(path: dir.file("old.sqlite"))
    #expect(try store.schemaVersion() == Schema.currentVersion)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM sqlite_master WHERE name = 'examples'") == 1)
  }

  @Test func newerStoreIsRefusedWithAClearMessage() throws {
    let dir = try TemporaryDirectory()
    do {
      let raw = try Database(path: dir.file("new.sqlite"))
      try raw.execute("PRAGMA user_version = 999")
    }
    do {
      _ = try Store.open(path: dir.file("new.sqlite"))
      Issue.record("expected a schema error")
    } catch let e as KDError {
      #expect(e.kind == .schema)
      #expect(e.message.contains("999") && e.message.contains("upgrade kd"))
    }
  }

  @Test func notASQLiteFileIsAClearError() throws {
    let dir = try TemporaryDirectory()
    try dir.write("junk.sqlite", String(repeating: "this is not a database ", count: 100))
    #expect(throws: KDError.self) { try Store.open(path: dir.file("junk.sqlite")) }
  }

  @Test func runsAreRecorded() throws {
    let dir = try TemporaryDirectory()
    let store = try Store.open(path: dir.file("a.sqlite"))
    let id = try store.beginRun(stage: "ingest", commandLine: ["kd-ingest", "my corpus/"])
    try store.endRun(id, status: "ok", counts: ["files": 3])
    let run = try #require(try store.recentRuns().first)
    #expect(run.commandLine == "kd-ingest 'my corpus/'")
    #expect(run.status == "ok" && run.countsJSON == "{\"files\":3}" && run.endedAt != nil)
  }
}

@Suite struct BlobCodecTests {
  @Test func tokenBlobRoundTripsBothWidths() {
    let ids: [Int32] = [101, 0, 65535, 7592, 102]
    for width in [2, 4] {
      let blob = TokenBlob.encode(ids, width: width)
      #expect(blob.count == ids.count * width)
      var out: [Int32] = []
      blob.withUnsafeBytes { TokenBlob.decode($0, width: width, into: &out) }
      #expect(out == ids)
    }
    let big: [Int32] = [70000, 250_000]
    var out: [Int32] = []
    TokenBlob.encode(big, width: 4).withUnsafeBytes { TokenBlob.decode($0, width: 4, into: &out) }
    #expect(out == big)
  }

  @Test func teacherOutputsRoundTrip() throws {
    let logits: [Float] = [0.5, -1.25, 3.0, 2.0, -7.5, 0.0, 1.0]
    for storage in [TeacherStorage.f32, .f16] {
      let blob = TeacherOutputCodec.encode(logits, storage: storage)
      let back = try blob.withUnsafeBytes { try TeacherOutputCodec.decode($0, storage: storage, numOutputs: logits.count) }
      #expect(back.values == logits)
      #expect(back.isDense)
    }
    let blob = TeacherOutputCodec.encode(logits, storage: .topK(3))
    #expect(blob.count == 2 * 3 + 2)  // 3 bits per index for 7 classes: 9 bits -> 2 bytes
    let top = try blob.withUnsafeBytes { try TeacherOutputCodec.decode($0, storage: .topK(3), numOutputs: logits.count) }
    #expect(top.indices == [2, 3, 6])
    #expect(top.values == [3.0, 2.0, 1.0])
    #expect(!top.isDense)
  }

  @Test func wrongBlobSizeIsAnError() {
    let blob: [UInt8] = [1, 2, 3]
    #expect(throws: KDError.self) {
      try blob.withUnsafeBytes { try TeacherOutputCodec.decode($0, storage: .f32, numOutputs: 2) }
    }
  }
}

@Suite struct WriterLockTests {
  @Test func secondHolderTimesOutNamingTheFirst() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    let first = try WriterLock(databasePath: db, stage: "kd-ingest", timeout: 1)
    // flock locks are per open file description: a second open in this process conflicts too.
    do {
      _ = try WriterLock(databasePath: db, stage: "kd-teacher-cache", timeout: 0.3)
      Issue.record("expected a lock timeout")
    } catch let e as KDError {
      #expect(e.kind == .lock)
      #expect(e.message.contains("kd-ingest pid \(getpid())"))
    }
    first.release()
    let again = try WriterLock(databasePath: db, stage: "kd-teacher-cache", timeout: 0.3)
    again.release()
  }
}

@Suite struct SnapshotTests {
  /// A connection that read a row must still see later writes of another connection.
  @Test func singleRowReadsDoNotPinASnapshot() throws {
    let dir = try TemporaryDirectory()
    let a = try Store.open(path: dir.file("s.sqlite"))
    let b = try Store.open(path: dir.file("s.sqlite"))
    _ = try a.taskID(named: "one")
    #expect(try b.task(named: "one") != nil)
    #expect(try b.db.scalarInt("SELECT COUNT(*) FROM tasks") == 1)
    _ = try a.taskID(named: "two")
    #expect(try b.task(named: "two") != nil, "b sees a's second write")
    #expect(try b.db.scalarInt("SELECT COUNT(*) FROM tasks") == 2)
    // And b can still write after reading.
    _ = try b.taskID(named: "three")
    #expect(try a.db.scalarInt("SELECT COUNT(*) FROM tasks") == 3)
  }
}
