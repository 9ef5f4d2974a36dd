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

  @Test func version1StoreWithDataMigratesKeepingRowsAndCascades() throws {
    let dir = try TemporaryDirectory()
    let path = dir.file("v1.sqlite")
    do {
      let raw = try Database(path: path)
      try raw.execute(Schema.migrations[0].sql)
      try raw.execute(
        """
        PRAGMA user_version = 1;
        INSERT INTO runs (id, stage, command_line, kd_version, host, pid, started_at) VALUES (1, 'ingest', 'x', '0', 'h', 1, 't');
        INSERT INTO tasks (id, name) VALUES (1, 't');
        INSERT INTO labels (id, task_id, name, position) VALUES (1, 1, 'a', 0);
        INSERT INTO sources (id, root, path, content_hash, size, mtime, format, domain, config_hash, status, run_id, ingested_at)
          VALUES (1, '/c', 'f.csv', 'h', 1, 0, 'csv', 'medical', 'c', 'ok', 1, 't');
        INSERT INTO documents (id, source_id, position, doc_key, domain, split) VALUES (7, 1, 0, 'k', 'medical', 'test');
        INSERT INTO examples (id, document_id, position, text, split, domain, task_id, text_hash)
          VALUES (9, 7, 0, 'some text', 'test', 'medical', 1, 'abc');
        INSERT INTO example_labels (example_id, label_id) VALUES (9, 1);
        INSERT INTO tokenizers (id, name, content_hash, vocab_size, json, created_at) VALUES (1, 'tok', 'th', 10, x'00', 't');
        INSERT INTO tokenizations (example_id, tokenizer_id, width, length, ids) VALUES (9, 1, 2, 1, x'0100');
        """)
    }
    let store = try Store.open(path: path)
    #expect(try store.schemaVersion() == Schema.currentVersion)
    #expect(try store.db.scalarText("SELECT text FROM examples WHERE id = 9 AND document_id = 7") == "some text")
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM tokenizations WHERE example_id = 9") == 1)
    // The CHECK still refuses a bad split, and deleting the source still cascades.
    #expect(throws: (any Error).self) {
      try store.db.run("INSERT INTO documents (source_id, position, doc_key, domain, split) VALUES (1, 1, 'k2', 'm', 'dev')")
    }
    try store.db.run("DELETE FROM sources WHERE id = 1")
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM examples") == 0)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM example_labels") == 0)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM tokenizations") == 0)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%_v2'") == 0)
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
    try store.endRun(id, status: .ok, counts: ["files": 3])
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
