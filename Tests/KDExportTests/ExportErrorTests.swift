import Foundation
import KDCore
import KDStore
@testable import KDExport
import KDTestSupport
import XCTest

/// Bad input: kinds a format cannot express, existing outputs, broken student folders, and the CLI's exit codes.
final class ExportErrorTests: XCTestCase {
  func student(_ kind: String) -> String { GoldenParityTests.student(kind) }

  func expectError(_ kind: KDError.Kind, containing text: String, _ body: () throws -> Void,
                   file: StaticString = #filePath, line: UInt = #line) {
    do {
      try body()
      XCTFail("no error", file: file, line: line)
    } catch let e as KDError {
      XCTAssertEqual(e.kind, kind, e.description, file: file, line: line)
      XCTAssertTrue(e.description.contains(text), "\(e.description) lacks \(text)", file: file, line: line)
    } catch {
      XCTFail("unexpected \(error)", file: file, line: line)
    }
  }

  func testBagStudentAsHuggingFaceIsAUsageErrorNamingTheKind() throws {
    let dir = try TemporaryDirectory("kd-export-err")
    expectError(.usage, containing: "'bow'") {
      _ = try StudentExporter.export(model: student("bow"), options: ExportOptions(format: .hf, out: dir.file("x")))
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir.file("x")))
  }

  func testUnknownKindIsAUsageErrorNamingTheKind() throws {
    let dir = try TemporaryDirectory("kd-export-err")
    let folder = dir.file("svm")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try Data(#"{"format":"kd-student-v1","student":{"kind":"svm","numClasses":2},"labels":["a","b"],"task":"t"}"#.utf8)
      .write(to: URL(fileURLWithPath: folder + "/config.json"))
    try FileManager.default.copyItem(atPath: student("bow") + "/model.safetensors", toPath: folder + "/model.safetensors")
    for format in ExportFormat.allCases {
      expectError(.usage, containing: "'svm'") {
        _ = try StudentExporter.export(model: folder, options: ExportOptions(format: format, out: dir.file("out-\(format)")))
      }
    }
  }

  func testExistingOutputNeedsForce() throws {
    let dir = try TemporaryDirectory("kd-export-err")
    let out = dir.file("model.onnx")
    _ = try StudentExporter.export(model: student("mlp"), options: ExportOptions(format: .onnx, out: out))
    expectError(.usage, containing: "--force") {
      _ = try StudentExporter.export(model: student("mlp"), options: ExportOptions(format: .onnx, out: out))
    }
    _ = try StudentExporter.export(model: student("mlp"), options: ExportOptions(format: .onnx, out: out, force: true))
  }

  func testMissingTensorNamesFileAndTensor() throws {
    let dir = try TemporaryDirectory("kd-export-err")
    let folder = dir.file("broken")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: student("mlp") + "/config.json", toPath: folder + "/config.json")
    // The bow file has no hidden layer.
    try FileManager.default.copyItem(atPath: student("bow") + "/model.safetensors", toPath: folder + "/model.safetensors")
    expectError(.model, containing: "hidden.0.weight") {
      _ = try StudentExporter.export(model: folder, options: ExportOptions(format: .onnx, out: dir.file("m.onnx")))
    }
  }

  func testHuggingFaceConfigIsRecognised() throws {
    let dir = try TemporaryDirectory("kd-export-err")
    let out = dir.file("hf")
    _ = try StudentExporter.export(model: student("transformer"), options: ExportOptions(format: .hf, out: out))
    expectError(.input, containing: "already in Hugging Face form") {
      _ = try StudentExporter.export(model: out, options: ExportOptions(format: .onnx, out: dir.file("m.onnx")))
    }
  }

  /// The command line: --help, the usage exit code naming the kind, --json.
  func testCommandLine() throws {
    let bin = TestPaths.binaries + "/kd-train"
    guard FileManager.default.isExecutableFile(atPath: bin) else { return TestPaths.skipNote(bin) }
    let dir = try TemporaryDirectory("kd-export-cli")
    let help = try runCommand(bin, ["export", "--help"])
    XCTAssertEqual(help.status, 0)
    XCTAssertTrue(help.stdout.contains("Examples:") && help.stdout.contains("Exit codes:"), help.stdout)
    let bad = try runCommand(bin, ["export", "--model", student("bow"), "--format", "hf", "--out", dir.file("x")])
    XCTAssertEqual(bad.status, 64, bad.stderr)
    XCTAssertTrue(bad.stderr.contains("'bow'"), bad.stderr)
    let ok = try runCommand(bin, ["export", "--model", student("bow"), "--format", "onnx", "--out", dir.file("bow"), "--json"])
    XCTAssertEqual(ok.status, 0, ok.stderr)
    let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any])
    XCTAssertEqual(summary["kind"] as? String, "bow")
    XCTAssertEqual(summary["opset"] as? Int, 18)
    XCTAssertEqual(summary["files"] as? [String], ["model.onnx", "tokenizer.json"])
  }

  /// --model NAME finds the newest model of that name in --db; TASK/NAME picks the task.
  func testModelNameIsLookedUpInTheStore() throws {
    let bin = TestPaths.binaries + "/kd-train"
    guard FileManager.default.isExecutableFile(atPath: bin) else { return TestPaths.skipNote(bin) }
    let dir = try TemporaryDirectory("kd-export-store")
    let store = try makeTemporaryStore(dir)
    let run = try store.beginRun(stage: "kd-train", commandLine: ["test"])
    let a = try store.taskID(named: "alpha"), b = try store.taskID(named: "beta")
    _ = try store.insertModel(runID: run, name: "kd", taskID: a, kind: "bow", path: student("bow"), parameters: 1, sizeBytes: 1,
                              configJSON: "{}", resultsJSON: nil)
    _ = try store.insertModel(runID: run, name: "kd", taskID: b, kind: "mlp", path: student("mlp"), parameters: 1, sizeBytes: 1,
                              configJSON: "{}", resultsJSON: nil)
    try store.endRun(run, status: "done")
    let db = dir.file("test.sqlite")
    let ambiguous = try runCommand(bin, ["export", "--model", "kd", "--db", db, "--format", "onnx", "--out", dir.file("a.onnx")])
    XCTAssertEqual(ambiguous.status, 64, ambiguous.stderr)
    XCTAssertTrue(ambiguous.stderr.contains("TASK/kd"), ambiguous.stderr)
    let ok = try runCommand(bin, ["export", "--model", "beta/kd", "--db", db, "--format", "onnx", "--out", dir.file("b.onnx"), "--json"])
    XCTAssertEqual(ok.status, 0, ok.stderr)
    XCTAssertTrue(ok.stdout.contains("\"kind\" : \"mlp\""), ok.stdout)
    let missing = try runCommand(bin, ["export", "--model", "nope", "--db", db, "--format", "onnx", "--out", dir.file("c.onnx")])
    XCTAssertEqual(missing.status, 64, missing.stderr)
  }
}
