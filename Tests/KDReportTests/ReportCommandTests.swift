import Foundation
import KDStore
import KDTestSupport
import Testing

/// End-to-end tests of the built `kd-report` binary: help, exit codes, JSON summary, default output path.
@Suite(.serialized) struct ReportCommandTests {
  let bin = TestPaths.binaries + "/kd-report"
  var built: Bool { FileManager.default.isExecutableFile(atPath: bin) }

  @Test func helpShowsExamplesAndExitCodes() throws {
    guard built else { return TestPaths.skipNote(bin) }
    let r = try runCommand(bin, ["--help"])
    #expect(r.status == 0)
    #expect(r.stdout.contains("Examples:"))
    #expect(r.stdout.contains("kd-report --db out/demo/data.sqlite --out report.html"))
    #expect(r.stdout.contains("Exit codes:"))
    #expect(r.stdout.contains("--out"))
    #expect(r.stdout.contains("--task"))
  }

  @Test func writesNextToTheDatabaseAndPrintsAJSONSummary() throws {
    guard built else { return TestPaths.skipNote(bin) }
    let dir = try TemporaryDirectory()
    _ = try ReportFixture().build(at: dir.file("data.sqlite"))
    let r = try runCommand(bin, ["--json"], currentDirectory: dir.path)
    #expect(r.status == 0, "\(r.stderr)")
    let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    let path = try #require(obj["path"] as? String)
    #expect(path.hasSuffix("/kd-report.html"))
    #expect(FileManager.default.fileExists(atPath: dir.file("kd-report.html")))
    #expect((obj["sections"] as? [String])?.contains("task-topics-confusion") == true)
    #expect(obj["tasks"] as? [String] == ["topics"])
    #expect(r.stderr.contains("wrote"), "logs go to stderr")
    let quiet = try runCommand(bin, ["--db", dir.file("data.sqlite"), "--out", dir.file("r.html"), "--quiet"])
    #expect(quiet.status == 0)
    #expect(quiet.stderr.isEmpty && quiet.stdout.isEmpty)
  }

  @Test func errorsHaveDocumentedExitCodes() throws {
    guard built else { return TestPaths.skipNote(bin) }
    let dir = try TemporaryDirectory()
    let missing = try runCommand(bin, ["--db", dir.file("nope.sqlite")])
    #expect(missing.status == 1)
    #expect(missing.stderr.contains("nope.sqlite"))
    #expect(!FileManager.default.fileExists(atPath: dir.file("nope.sqlite")), "the report never creates a database")
    try dir.write("text.sqlite", "this is not a database at all, just some text long enough")
    let notDB = try runCommand(bin, ["--db", dir.file("text.sqlite")])
    #expect(notDB.status == 1)
    #expect(notDB.stderr.contains("not a kd database"))
    _ = try ReportFixture(withTeacher: false, withTraining: false).build(at: dir.file("d.sqlite"))
    let task = try runCommand(bin, ["--db", dir.file("d.sqlite"), "--task", "nope"])
    #expect(task.status == 64)
    #expect(task.stderr.contains("--task"))
    let usage = try runCommand(bin, ["--bogus"])
    #expect(usage.status == 64)
    let unwritable = try runCommand(bin, ["--db", dir.file("d.sqlite"), "--out", dir.file("no/such/dir/r.html")])
    #expect(unwritable.status == 1)
    #expect(unwritable.stderr.contains("cannot write the report"))
  }
}
