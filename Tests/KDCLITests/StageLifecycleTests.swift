import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing

/// One lifecycle for every writing stage (`StageRun`): exit 4 only for a lock
/// timeout, nothing written to an empty or damaged store (issue 16, findings 8 and 9).
@Suite(.serialized) struct StageLifecycleTests {
  let ingest = TestPaths.binaries + "/kd-ingest"
  let teacher = TestPaths.binaries + "/kd-teacher-cache"

  func corpus(_ dir: TemporaryDirectory, rows: Int = 300) throws {
    var csv = "id,text,label\n"
    for r in 0..<rows { csv += "\(r),\"row \(r): the patient, aged \(r % 90), reported \(r % 7) symptoms of kind \(r * 31 % 101)\",c\(r % 4)\n" }
    try dir.write("c/medical/t/f.csv", csv)
  }

  /// Exit 4 tells cron "the next run catches up"; a missing folder never does.
  @Test func missingDatabaseFolderExits1NotLockTimeout() throws {
    let dir = try TemporaryDirectory()
    try corpus(dir, rows: 3)
    let db = dir.file("no/such/folder/data.sqlite")
    for (bin, args) in [(ingest, ["c", "--tokenizer", "none", "--db", db]), (teacher, ["--db", db])] {
      let r = try runCommand(bin, args, currentDirectory: dir.path)
      #expect(r.status == 1, "\(bin): \(r.status) \(r.stderr)")
    }
    let r = try runCommand(ingest, ["c", "--tokenizer", "none", "--db", db], currentDirectory: dir.path)
    #expect(r.stderr.contains("does not exist"), "\(r.stderr)")
  }

  /// A lock file that cannot be created (read-only or forbidden place) is a fatal error, not a busy store.
  @Test func unwritableLockFileIsAnIOErrorNotALockTimeout() throws {
    let place = "/sys/kd-stage-lifecycle-test.sqlite"
    #expect(throws: KDError.self) { _ = try WriterLock(databasePath: place, stage: "test", timeout: 1) }
    do {
      _ = try WriterLock(databasePath: place, stage: "test", timeout: 1)
    } catch let e as KDError {
      #expect(e.kind == .io, "\(e)")
      #expect(e.message.contains("cannot create the database lock file"), "\(e)")
    }
    let dir = try TemporaryDirectory()
    try corpus(dir, rows: 3)
    let r = try runCommand(ingest, ["c", "--tokenizer", "none", "--db", place], currentDirectory: dir.path)
    #expect(r.status == 1, "\(r.status) \(r.stderr)")
  }

  /// A real lock timeout still exits 4.
  @Test func heldLockStillExits4() throws {
    let dir = try TemporaryDirectory()
    try corpus(dir, rows: 3)
    let db = dir.file("data.sqlite")
    let lock = try WriterLock(databasePath: db, stage: "test holder", timeout: 1)
    defer { lock.release() }
    let r = try runCommand(ingest, ["c", "--tokenizer", "none", "--db", db, "--lock-timeout", "0.5"], currentDirectory: dir.path)
    #expect(r.status == 4, "\(r.stderr)")
    #expect(r.stderr.contains("test holder"))
  }

  /// A zero-length file is not a store: it is refused, and left as it was.
  @Test func zeroLengthDatabaseIsRefusedNotGivenTheSchema() throws {
    let dir = try TemporaryDirectory()
    try corpus(dir, rows: 3)
    let db = try dir.write("empty.sqlite", [UInt8]())
    let r = try runCommand(ingest, ["c", "--tokenizer", "none", "--db", db], currentDirectory: dir.path)
    #expect(r.status == 1, "\(r.stderr)")
    #expect(r.stderr.contains("empty"), "\(r.stderr)")
    #expect((try FileManager.default.attributesOfItem(atPath: db)[.size] as? NSNumber)?.intValue == 0)
    #expect(throws: KDError.self) { _ = try Store.open(path: db) }
    // A new path is still created as before.
    let fresh = try runCommand(ingest, ["c", "--tokenizer", "none", "--db", dir.file("new.sqlite")], currentDirectory: dir.path)
    #expect(fresh.status == 0, "\(fresh.stderr)")
  }

  /// A damaged store gets no `runs` row (nor any other write) from a writing stage.
  @Test func damagedStoreIsRefusedBeforeAnyWrite() throws {
    let dir = try TemporaryDirectory()
    try corpus(dir, rows: 2000)
    let db = dir.file("data.sqlite")
    let first = try runCommand(ingest, ["c", "--tokenizer", "none", "--db", db], currentDirectory: dir.path)
    #expect(first.status == 0, "\(first.stderr)")
    // Damage a page in the middle of the file (example rows), leaving the schema page intact.
    let size = try #require((try FileManager.default.attributesOfItem(atPath: db)[.size] as? NSNumber)?.intValue)
    #expect(size > 40 * 4096)
    let fh = try #require(FileHandle(forUpdatingAtPath: db))
    try fh.seek(toOffset: UInt64(size / 4096 / 2) * 4096)
    fh.write(Data(repeating: 0xA5, count: 3 * 4096))
    try fh.close()
    let before = try Data(contentsOf: URL(fileURLWithPath: db))
    try dir.write("c/medical/t/g.csv", "id,text,label\n1,a new file,c1\n")
    let r = try runCommand(ingest, ["c", "--tokenizer", "none", "--db", db], currentDirectory: dir.path)
    #expect(r.status == 1, "\(r.stderr)")
    #expect(r.stderr.contains("damaged"), "\(r.stderr)")
    let after = try Data(contentsOf: URL(fileURLWithPath: db))
    #expect(before == after, "the damaged file was written to")
    let wal = (try? FileManager.default.attributesOfItem(atPath: db + "-wal"))?[.size] as? NSNumber
    #expect((wal?.intValue ?? 0) == 0, "the damaged store got a WAL with new pages")
    let t = try runCommand(teacher, ["--db", db], currentDirectory: dir.path)
    #expect(t.status == 1, "\(t.stderr)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == before)
  }
}

/// `StageRun` records runs with typed statuses.
@Suite struct StageRunTests {
  @Test func interruptionIsRecordedByKindNotByMessage() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("s.sqlite")
    let a = try StageRun.begin(stage: "train", database: db, commandLine: ["kd-train"], lockTimeout: 5)
    a.fail(KDError(.interrupted, "stopped at step 3"))
    let b = try StageRun.begin(stage: "train", database: db, commandLine: ["kd-train"], lockTimeout: 5)
    b.fail(KDError(.input, "interrupted by nothing: a plain failure whose message starts with the word"))
    let c = try StageRun.begin(stage: "ingest", database: db, commandLine: ["kd-ingest"], lockTimeout: 5)
    try c.finish(.partial, counts: ["files": 1])
    let runs = try Store.open(path: db).recentRuns()
    #expect(runs.map(\.status) == ["partial", "failed", "interrupted"])
    #expect(a.status == .interrupted && b.status == .failed && c.status == .partial)
  }

  @Test func theLockIsReleasedWhenTheRunEnds() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("s.sqlite")
    let a = try StageRun.begin(stage: "ingest", database: db, commandLine: [], lockTimeout: 5)
    #expect(throws: KDError.self) { _ = try StageRun.begin(stage: "ingest", database: db, commandLine: [], lockTimeout: 0.3) }
    try a.finish(.ok)
    let b = try StageRun.begin(stage: "ingest", database: db, commandLine: [], lockTimeout: 0.3)
    try b.finish(.ok)
  }
}
