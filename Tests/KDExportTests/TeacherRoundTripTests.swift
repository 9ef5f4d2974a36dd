import Foundation
import KDCore
import KDExport
import KDStore
import KDTestSupport
import XCTest

/// The exported Hugging Face folder as kd's teacher: kd-ingest the golden texts with the exported
/// tokenizer, `kd-teacher-cache --teacher <folder>`, then the cached logits (own head, mapped onto
/// the task's label order) against transformers' golden logits within 1e-4.
final class TeacherRoundTripTests: XCTestCase {
  func testExportedFolderIsAKdTeacher() throws {
    let bin = TestPaths.binaries
    for tool in ["kd-ingest", "kd-teacher-cache"] where !FileManager.default.isExecutableFile(atPath: bin + "/" + tool) {
      return TestPaths.skipNote(bin + "/" + tool)
    }
    let golden = try GoldenParityTests.loadGolden()
    let reference = try XCTUnwrap(golden.cases.first { $0.format == "hf" }?.transformers_logits)
    let labels = ["negative", "neutral", "positive"]
    let dir = try TemporaryDirectory("kd-export-teacher")
    let hf = dir.file("exported")
    _ = try StudentExporter.export(model: GoldenParityTests.student("transformer"), options: ExportOptions(format: .hf, out: hf))
    var csv = "text,label\n"
    for (i, t) in golden.texts.enumerated() {
      csv += "\"\(t.replacingOccurrences(of: "\"", with: "\"\""))\",\(labels[i % labels.count])\n"
    }
    try FileManager.default.createDirectory(atPath: dir.file("corpus"), withIntermediateDirectories: true)
    _ = try dir.write("corpus/texts.csv", csv)
    let manifest = try dir.write("manifest.yaml", "files:\n  - path: \"texts.csv\"\n    task: roundtrip\n    text: text\n    label: label\n")
    let db = dir.file("rt.sqlite")
    let ingest = try runCommand("/usr/bin/timeout", ["300", bin + "/kd-ingest", dir.file("corpus"), "--db", db, "--manifest", manifest,
                                                     "--tokenizer", hf + "/tokenizer.json", "--quiet"])
    XCTAssertEqual(ingest.status, 0, ingest.stderr)
    let cache = try runCommand("/usr/bin/timeout", ["300", bin + "/kd-teacher-cache", "--db", db, "--teacher", hf, "--name", "exported",
                                                    "--storage", "f32", "--matmul", "fp32", "--quiet"])
    XCTAssertEqual(cache.status, 0, cache.stderr)
    let dump = try runCommand("/usr/bin/timeout", ["300", bin + "/kd-teacher-cache", "dump", "--db", db, "--teacher", "exported"])
    XCTAssertEqual(dump.status, 0, dump.stderr)
    let order = try XCTUnwrap(try Store.open(path: db, readOnly: true).task(named: "roundtrip")).labels
    XCTAssertEqual(Set(order), Set(labels))
    var compared = 0
    var worst: Float = 0
    for line in dump.stdout.split(separator: "\n") {
      let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      let text = try XCTUnwrap(o["text"] as? String)
      let logits = try XCTUnwrap(o["logits"] as? [Double])
      let i = try XCTUnwrap(golden.texts.firstIndex(of: text), text)
      for (j, l) in labels.enumerated() {
        let k = try XCTUnwrap(order.firstIndex(of: l))
        worst = max(worst, abs(Float(logits[k]) - reference[i][j]))
      }
      compared += 1
    }
    XCTAssertEqual(compared, golden.texts.count)
    XCTAssertLessThanOrEqual(worst, 1e-4, "kd-teacher-cache on the exported folder vs transformers")
  }
}
