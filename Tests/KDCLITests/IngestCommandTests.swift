import Foundation
@testable import KDStore
import KDTestSupport
import Testing

/// End-to-end tests of the built `kd-ingest` binary: help, exit codes, JSON,
/// kill -9 recovery and concurrent writers.
@Suite(.serialized) struct IngestCommandTests {
  let bin = TestPaths.binaries + "/kd-ingest"

  func makeCorpus(_ dir: TemporaryDirectory, files: Int, rows: Int) throws {
    for f in 0..<files {
      var csv = "id,text,label\n"
      for r in 0..<rows { csv += "\(r),\"file \(f) row \(r): the patient, aged \(r % 90), reported \(f % 7) symptoms\",c\(r % 4)\n" }
      try dir.write("c/medical/t/f\(f).csv", csv)
    }
  }

  @Test func helpShowsExamplesAndExitCodes() throws {
    let r = try runCommand(bin, ["--help"])
    #expect(r.status == 0)
    #expect(r.stdout.contains("Examples:"))
    #expect(r.stdout.contains("kd-ingest corpus/"))
    #expect(r.stdout.contains("Exit codes:"))
    #expect(r.stdout.contains("--db"))
  }

  @Test func usageErrorsExit64() throws {
    let r = try runCommand(bin, [])
    #expect(r.status == 64)
    let s = try runCommand(bin, ["x", "--segment", "paragraphs"])
    #expect(s.status == 64)
    #expect(s.stderr.contains("--segment"))
  }

  @Test func defaultDatabaseIsDataSqliteInTheCurrentFolder() throws {
    let dir = try TemporaryDirectory()
    try makeCorpus(dir, files: 1, rows: 3)
    let r = try runCommand(bin, ["c", "--tokenizer", "none"], currentDirectory: dir.path)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(FileManager.default.fileExists(atPath: dir.file("data.sqlite")))
  }

  @Test func jsonSummaryAndPartialExitCode() throws {
    let dir = try TemporaryDirectory()
    try makeCorpus(dir, files: 2, rows: 5)
    try dir.write("c/medical/t/broken.csv", "text,label\n\"open,x\n")
    let r = try runCommand(bin, [dir.file("c"), "--db", dir.file("d.sqlite"), "--json", "--tokenizer", "none"])
    #expect(r.status == 3, "some bad input: exit 3")
    let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    #expect(obj["files_new"] as? Int == 3)
    #expect(obj["examples_added"] as? Int == 10)
    #expect((obj["errors"] as? [[String: Any]])?.first?["file"] as? String == "medical/t/broken.csv")
    #expect(r.stderr.isEmpty == false, "logs go to stderr")
    let again = try runCommand(bin, [dir.file("c"), "--db", dir.file("d.sqlite"), "--tokenizer", "none"])
    #expect(again.stderr.contains("nothing to do"))
  }

  @Test func killNineAtAnyMomentLeavesAConsistentStore() throws {
    let dir = try TemporaryDirectory()
    try makeCorpus(dir, files: 60, rows: 400)
    let reference = dir.file("ref.sqlite")
    let ok = try runCommand(bin, [dir.file("c"), "--db", reference, "--tokenizer", "none", "-q"])
    #expect(ok.status == 0)
    let want = try Store.open(path: reference).db.scalarInt("SELECT COUNT(*) FROM examples")
    #expect(want == 24_000)
    let db = dir.file("d.sqlite")
    for delay in [0.05, 0.3, 0.6, 0.9] {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: bin)
      p.arguments = [dir.file("c"), "--db", db, "--tokenizer", "none", "-q"]
      p.currentDirectoryURL = URL(fileURLWithPath: dir.path)
      p.standardError = FileHandle.nullDevice
      try p.run()
      Thread.sleep(forTimeInterval: delay)
      kill(p.processIdentifier, SIGKILL)
      p.waitUntilExit()
      let store = try Store.open(path: db)
      #expect(try store.db.scalarText("PRAGMA integrity_check") == "ok")
      // Every stored source is complete: its examples match its recorded count.
      #expect(try store.db.scalarInt("SELECT COUNT(*) FROM sources s WHERE s.examples != (SELECT COUNT(*) FROM examples e JOIN documents d ON d.id = e.document_id WHERE d.source_id = s.id)") == 0)
    }
    let done = try runCommand(bin, [dir.file("c"), "--db", db, "--tokenizer", "none", "-q"])
    #expect(done.status == 0, "\(done.stderr)")
    let store = try Store.open(path: db)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM examples") == want, "no duplicates, nothing missing")
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM sources") == 60)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM runs WHERE status = 'interrupted'") ?? 0 >= 1,
            "killed runs are marked interrupted by the next run")
  }

  @Test func aSecondWriterWaitsThenNamesTheHolder() throws {
    let dir = try TemporaryDirectory()
    try makeCorpus(dir, files: 1, rows: 3)
    let db = dir.file("d.sqlite")
    let held = try WriterLock(databasePath: db, stage: "test-holder", timeout: 1)
    let r = try runCommand(bin, [dir.file("c"), "--db", db, "--lock-timeout", "1", "--tokenizer", "none"])
    #expect(r.status == 4)
    #expect(r.stderr.contains("test-holder pid \(getpid())"))
    held.release()
    let ok = try runCommand(bin, [dir.file("c"), "--db", db, "--lock-timeout", "1", "--tokenizer", "none"])
    #expect(ok.status == 0)
  }

  @Test func twoConcurrentRunsNeverCorruptTheStore() throws {
    let dir = try TemporaryDirectory()
    try makeCorpus(dir, files: 20, rows: 200)
    let db = dir.file("d.sqlite")
    var procs: [Process] = []
    for _ in 0..<2 {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: bin)
      p.arguments = [dir.file("c"), "--db", db, "--tokenizer", "none", "-q"]
      p.currentDirectoryURL = URL(fileURLWithPath: dir.path)
      try p.run()
      procs.append(p)
    }
    for p in procs { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
    let store = try Store.open(path: db)
    #expect(try store.db.scalarText("PRAGMA integrity_check") == "ok")
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM examples") == 4000)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM runs WHERE stage = 'ingest' AND status = 'ok'") == 2)
  }
}
