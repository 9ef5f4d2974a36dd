import Foundation
import KDTestSupport
import XCTest

/// The live parity check on 200 real texts (tools/export/check_parity.py): onnxruntime against
/// `kd-train predict` for bow and mlp, transformers against onnxruntime and kd-teacher-cache for a
/// transformer student on MiniLM's weights. Runs under KD_SLOW_TESTS=1 (`make test-slow`).
final class SlowParityTests: XCTestCase {
  func testExportParityOn200RealTexts() throws {
    guard ProcessInfo.processInfo.environment["KD_SLOW_TESTS"] == "1" else {
      throw XCTSkip("KD_SLOW_TESTS=1 (make test-slow) runs the live onnxruntime/transformers check")
    }
    guard let corpora = TestPaths.sharedCorpora else { return TestPaths.skipNote("../shared/corpora") }
    guard let teacher = TestPaths.defaultTeacher else { return TestPaths.skipNote("models/all-MiniLM-L6-v2") }
    let python = try runCommand("/usr/bin/env", ["python3", "-c", "import onnxruntime, transformers, torch, tokenizers, safetensors"])
    guard python.status == 0 else { return TestPaths.skipNote("python3 with onnxruntime, transformers, torch (\(python.stderr.suffix(200)))") }
    let work = try TemporaryDirectory("kd-export-parity")
    let script = TestPaths.packageRoot + "/tools/export/check_parity.py"
    // `timeout` bounds the whole check (it starts kd-ingest and kd-teacher-cache itself, each with its own timeout).
    // The release build (make test-slow builds it) runs the teacher over 200 texts in seconds rather than minutes.
    let release = ProcessInfo.processInfo.environment["KD_RELEASE_BIN"].flatMap {
      FileManager.default.isExecutableFile(atPath: $0 + "/kd-teacher-cache") ? $0 : nil
    }
    let r = try runCommand("/usr/bin/timeout", ["1800", "python3", script, "--kd-bin", release ?? TestPaths.binaries, "--work", work.path,
                                                "--corpora", corpora, "--teacher", teacher])
    FileHandle.standardError.write(Data(("export parity: " + r.stdout + "\n").utf8))
    XCTAssertEqual(r.status, 0, r.stdout + "\n" + String(r.stderr.suffix(4000)))
  }
}
