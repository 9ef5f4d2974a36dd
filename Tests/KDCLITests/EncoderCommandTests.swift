import Foundation
import KDCore
import KDStore
import KDTestSupport
import XCTest

/// `kd-train encoder` end to end on the tiny BERT fixture: a real `kill -9` and resume, then the
/// written BertModel folder as the init of a task student and as an encoder teacher with a fitted head.
final class EncoderCommandTests: XCTestCase {
  func testKillNineResumesAndTheEncoderServesAsInitAndAsTeacher() throws {
    let bin = TestPaths.binaries
    guard FileManager.default.fileExists(atPath: bin + "/kd-train"), FileManager.default.fileExists(atPath: bin + "/kd-teacher-cache") else {
      TestPaths.skipNote("built kd-train / kd-teacher-cache (\(bin))")
      return
    }
    let dir = try TemporaryDirectory()
    let teacher = try FineTuneFixture.teacher(in: dir)
    let db = dir.file("data.sqlite")
    try FineTuneFixture.store(at: db, train: 150)
    let source = try FineTuneFixture.fingerprint(teacher)
    // The frozen teacher with a fitted head; --retokenize stores the text's token ids with the teacher's vocabulary.
    let frozen = try runCommand(bin + "/kd-teacher-cache", ["--db", db, "--teacher", teacher, "--name", "frozen", "--task", "topic",
                                                            "--retokenize", "--fit-head", "--threads", "1"])
    XCTAssertEqual(frozen.status, 0, frozen.stderr)

    let out = dir.file("encoder")
    let args = ["encoder", "--db", db, "--domain", "fixture", "--teacher", teacher, "--out", out, "--layers", "1", "--layer-map", "1",
                "--max-tokens", "16", "--batch-size", "2", "--epochs", "4", "--lr", "3e-3", "--checkpoint-every", "3", "--threads", "1",
                "--patience", "0"]
    // First run: kill -9 as soon as a mid-epoch state exists.
    let p = Process()
    p.executableURL = URL(fileURLWithPath: bin + "/kd-train")
    p.arguments = args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    let state = out + ".kd-state/state/encoder_state.json"
    let deadline = Date().addingTimeInterval(120)
    while !FileManager.default.fileExists(atPath: state) && p.isRunning && Date() < deadline { usleep(5_000) }
    XCTAssertTrue(p.isRunning, "kd-train encoder ended before it could be killed")
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    XCTAssertEqual(p.terminationReason, .uncaughtSignal)
    XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output folder after a kill")

    // Second run: resumes and finishes.
    let r = try runCommand(bin + "/kd-train", args + ["--json"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertTrue(r.stderr.contains("resuming at epoch"), r.stderr)
    let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    XCTAssertGreaterThan(json["resumed_from_step"] as? Int ?? 0, 0)
    XCTAssertEqual(json["steps"] as? Int, 4 * 75)
    let epochs = try XCTUnwrap(json["epochs"] as? [[String: Any]])
    let losses = epochs.compactMap { ($0["validation"] as? [String: Any])?["attention"] as? Double }
    XCTAssertEqual(losses.count, 4)
    XCTAssertLessThan(losses.last ?? 1, losses.first ?? 0, "validation attention loss by epoch: \(losses)")
    XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".kd-state"), "the state is removed after success")
    XCTAssertEqual(try FineTuneFixture.fingerprint(teacher), source, "the teacher folder changed")
    let store = try Store.open(path: db, readOnly: true)
    XCTAssertEqual(try store.recentRuns(stage: "encoder").first?.status, "ok")

    // (a) The init of a task student.
    let student = try runCommand(bin + "/kd-train", ["--db", db, "--task", "topic", "--teacher", "frozen", "--student", "transformer",
                                                     "--init", "teacher", "--init-from", out, "--layers", "1", "--max-tokens", "16",
                                                     "--steps", "4", "--epochs", "1", "--threads", "1", "--out", dir.file("students"), "--json"])
    XCTAssertEqual(student.status, 0, student.stderr)
    XCTAssertTrue(student.stderr.contains("initialised from \(out)"), student.stderr)
    // (b) An encoder teacher with a fitted head.
    let asTeacher = try runCommand(bin + "/kd-teacher-cache", ["--db", db, "--teacher", out, "--name", "encoder", "--task", "topic",
                                                               "--fit-head", "--threads", "1"])
    XCTAssertEqual(asTeacher.status, 0, asTeacher.stderr)
    let row = try XCTUnwrap(try Store.open(path: db, readOnly: true).teacher(named: "encoder"))
    XCTAssertTrue(row.headJSON?.contains("\"fitted\"") ?? false, row.headJSON ?? "no head")

    // Bad input: a student wider than the teacher, a domain without text (usage errors, exit 64; --layers 1 --max-tokens 16 fit
    // the 2-layer fixture, so the missing text is what is reported).
    let wide = try runCommand(bin + "/kd-train", ["encoder", "--db", db, "--domain", "fixture", "--teacher", teacher, "--out", dir.file("w"),
                                                  "--hidden-size", "64"])
    XCTAssertEqual(wide.status, 64, wide.stderr)
    XCTAssertTrue(wide.stderr.contains("--hidden-size"), wide.stderr)
    let empty = try runCommand(bin + "/kd-train", ["encoder", "--db", db, "--domain", "nowhere", "--teacher", teacher, "--out", dir.file("e"),
                                                   "--layers", "1", "--max-tokens", "16"])
    XCTAssertEqual(empty.status, 64, empty.stderr)
    XCTAssertTrue(empty.stderr.contains("--domain"), empty.stderr)
  }
}
