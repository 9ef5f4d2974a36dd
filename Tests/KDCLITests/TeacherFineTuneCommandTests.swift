import Foundation
import KDCore
import KDStore
import KDTestSupport
import XCTest

/// `kd-train teacher` end to end: a real `kill -9`, resume, and the written folder cached by kd-teacher-cache.
final class TeacherFineTuneCommandTests: XCTestCase {
  func testKillNineResumesAndTheFolderIsCachedWithItsOwnHead() throws {
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
    let out = dir.file("ft-teacher")
    let args = ["teacher", "--db", db, "--task", "topic", "--teacher", teacher, "--out", out, "--epochs", "3", "--batch-size", "4",
                "--lr", "2e-3", "--patience", "0", "--checkpoint-every", "3", "--no-test", "--head-init", "random"]

    // First run: kill -9 as soon as a mid-epoch state exists.
    let p = Process()
    p.executableURL = URL(fileURLWithPath: bin + "/kd-train")
    p.arguments = args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    let state = out + ".kd-state/state.safetensors"
    let deadline = Date().addingTimeInterval(120)
    while !FileManager.default.fileExists(atPath: state) && p.isRunning && Date() < deadline { usleep(5_000) }
    XCTAssertTrue(p.isRunning, "kd-train teacher ended before it could be killed")
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    XCTAssertEqual(p.terminationReason, .uncaughtSignal)
    XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output folder after a kill")

    // Second run: resumes and finishes.
    let r = try runCommand(bin + "/kd-train", args + ["--json"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertTrue(r.stderr.contains("resuming from step"), r.stderr)
    let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    XCTAssertGreaterThan(json["resumed_from_step"] as? Int ?? 0, 0)
    XCTAssertEqual((json["epochs"] as? [Any])?.count, 3)
    XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".kd-state"), "the state is removed after success")
    XCTAssertEqual(try FineTuneFixture.fingerprint(teacher), source, "the source teacher folder changed")
    let config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
    XCTAssertEqual(config["id2label"] as? [String: String], ["0": "class0", "1": "class1", "2": "class2"])
    XCTAssertEqual(config["architectures"] as? [String], ["BertForSequenceClassification"])

    // Frozen teacher (fitted head) and fine-tuned teacher (its own head): separate names and hashes.
    let frozen = try runCommand(bin + "/kd-teacher-cache", ["--db", db, "--teacher", teacher, "--name", "frozen", "--task", "topic",
                                                            "--retokenize", "--fit-head", "--threads", "1"])
    XCTAssertEqual(frozen.status, 0, frozen.stderr)
    let tuned = try runCommand(bin + "/kd-teacher-cache", ["--db", db, "--teacher", out, "--name", "tuned", "--task", "topic",
                                                           "--retokenize", "--threads", "1"])
    XCTAssertEqual(tuned.status, 0, tuned.stderr)
    let store = try Store.open(path: db, readOnly: true)
    let a = try XCTUnwrap(try store.teacher(named: "frozen"))
    let b = try XCTUnwrap(try store.teacher(named: "tuned"))
    XCTAssertNotEqual(a.checkpointHash, b.checkpointHash)
    XCTAssertTrue(b.headJSON?.contains("\"own\"") ?? false, b.headJSON ?? "no head")
    XCTAssertTrue(a.headJSON?.contains("\"fitted\"") ?? false, a.headJSON ?? "no head")
    XCTAssertEqual(try FineTuneFixture.fingerprint(teacher), source)

    // Mean pooling with the fitted head (LP-FT): a sentence-transformers folder, cached with its own
    // head on the pooled embedding; the cache's test predictions match the run's test accuracy.
    let mean = dir.file("ft-mean")
    let m = try runCommand(bin + "/kd-train", ["teacher", "--db", db, "--task", "topic", "--teacher", teacher, "--out", mean, "--epochs", "1",
                                               "--batch-size", "8", "--lr", "1e-3", "--pooling", "mean", "--json"])
    XCTAssertEqual(m.status, 0, m.stderr)
    XCTAssertTrue(m.stderr.contains("epoch 0 (fitted head, frozen encoder"), m.stderr)
    let mj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(m.stdout.utf8)) as? [String: Any])
    XCTAssertEqual((mj["epochs"] as? [[String: Any]])?.map { $0["epoch"] as? Int }, [0, 1])
    XCTAssertTrue(FileManager.default.fileExists(atPath: mean + "/2_Dense/model.safetensors"))
    let cached = try runCommand(bin + "/kd-teacher-cache", ["--db", db, "--teacher", mean, "--name", "tuned-mean", "--task", "topic",
                                                            "--retokenize", "--threads", "1"])
    XCTAssertEqual(cached.status, 0, cached.stderr)
    let c = try XCTUnwrap(try Store.open(path: db, readOnly: true).teacher(named: "tuned-mean"))
    XCTAssertTrue(c.headJSON?.contains("\"pooled_embedding\"") ?? false, c.headJSON ?? "no head")
    XCTAssertTrue(c.headJSON?.contains("\"own\"") ?? false, c.headJSON ?? "no head")
    XCTAssertEqual(try FineTuneFixture.fingerprint(teacher), source)

    // Epoch 0 (LP-FT's fitted head on the frozen encoder) is the head kd-teacher-cache fits, with the
    // same defaults (balanced class weights, chosen on validation macro-F1), on the same pooled
    // embedding: it scores on validation exactly what the cached frozen teacher does.
    let st = dir.file("tiny-st")
    try FileManager.default.copyItem(atPath: teacher, toPath: st)
    try FileManager.default.createDirectory(atPath: st + "/1_Pooling", withIntermediateDirectories: true)
    try Data(#"{"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": false}"#.utf8).write(to: URL(fileURLWithPath: st + "/1_Pooling/config.json"))
    let frozenST = try runCommand(bin + "/kd-teacher-cache", ["--db", db, "--teacher", st, "--name", "frozen-st", "--task", "topic",
                                                              "--retokenize", "--fit-head", "--threads", "1"])
    XCTAssertEqual(frozenST.status, 0, frozenST.stderr)
    let lp = try runCommand(bin + "/kd-train", ["teacher", "--db", db, "--task", "topic", "--teacher", st, "--out", dir.file("ft-st"),
                                                "--epochs", "1", "--batch-size", "8", "--no-test", "--json"])
    XCTAssertEqual(lp.status, 0, lp.stderr)
    let lpJSON = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lp.stdout.utf8)) as? [String: Any])
    let epoch0 = try XCTUnwrap((lpJSON["epochs"] as? [[String: Any]])?.first)
    let fitted = try XCTUnwrap(try Store.open(path: db, readOnly: true).teacher(named: "frozen-st")?.headJSON)
    let head = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(fitted.utf8)) as? [String: Any])
    XCTAssertEqual(head["balanced"] as? Bool, true)
    XCTAssertEqual(try XCTUnwrap(epoch0["validation_macro_f1"] as? Double), try XCTUnwrap(head["validation_macro_f1"] as? Double),
                   accuracy: 1e-9, "\(epoch0) vs \(fitted)")
  }
}
