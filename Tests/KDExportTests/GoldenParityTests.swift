import Foundation
import KDCore
@testable import KDExport
import KDModels
import KDTestSupport
import KDTokenizers
import KDTrain
import XCTest

/// kd's own outputs against what onnxruntime and transformers computed on the same
/// exported files (Resources/golden.json, made by tools/export/make_golden.py).
///
/// Each case re-exports a fixture student, checks that the files are byte for byte
/// the ones the golden numbers came from (FNV-1a hashes), and compares kd's logits on
/// the golden ids within 1e-4.
final class GoldenParityTests: XCTestCase {
  struct Golden: Decodable {
    struct Case: Decodable {
      var student: String
      var format: String
      var fp16: Bool
      var hashes: [String: String]
      var ids: [[Int32]]
      var onnxruntime_logits: [[Float]]?
      var transformers_logits: [[Float]]?
    }
    var texts: [String]
    var cases: [Case]
  }

  static var resources: String {
    let candidates = [Bundle.module.bundlePath + "/Resources", (Bundle.module.resourcePath ?? ".") + "/Resources",
                      Bundle.module.resourcePath ?? "."]
    return candidates.first { FileManager.default.fileExists(atPath: $0 + "/golden.json") } ?? candidates[0]
  }

  static func student(_ kind: String) -> String { resources + "/students/" + kind }

  func golden() throws -> Golden { try Self.loadGolden() }

  static func loadGolden() throws -> Golden {
    let path = resources + "/golden.json"
    guard let data = FileManager.default.contents(atPath: path) else { throw KDError(.io, "missing golden file", file: path) }
    return try JSONDecoder().decode(Golden.self, from: data)
  }

  /// Exports `c`'s student into `dir`; checks the files' hashes; returns the export path.
  func exportMatchingGolden(_ c: Golden.Case, dir: TemporaryDirectory) throws -> String {
    let out = dir.file("\(c.student)-\(c.format)\(c.fp16 ? "-fp16" : "")" + (c.format == "onnx" ? ".onnx" : ""))
    let format = try XCTUnwrap(ExportFormat(rawValue: c.format), c.format)
    _ = try StudentExporter.export(model: Self.student(c.student), options: ExportOptions(format: format, fp16: c.fp16, out: out))
    for (name, hash) in c.hashes {
      let path = c.format == "onnx" ? out : out + "/" + name
      guard let data = FileManager.default.contents(atPath: path) else { XCTFail("export lacks \(name)"); continue }
      XCTAssertEqual(StableHash.hex(StableHash.fnv1a64(data)), hash,
                     "\(c.student) \(c.format) fp16=\(c.fp16): \(name) differs from the file golden.json was made from; "
                       + "rerun tools/export/make_golden.py if the exporter changed on purpose")
    }
    if c.format == "hf" {
      let written = Set(try FileManager.default.contentsOfDirectory(atPath: out))
      XCTAssertEqual(written, Set(c.hashes.keys), "the Hugging Face folder's files")
    }
    return out
  }

  func assertClose(_ kd: [[Float]], _ reference: [[Float]], _ tolerance: Float, _ what: String) {
    XCTAssertEqual(kd.count, reference.count, what)
    var worst: Float = 0
    for (a, b) in zip(kd, reference) {
      XCTAssertEqual(a.count, b.count, what)
      for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
    }
    XCTAssertLessThanOrEqual(worst, tolerance, "\(what): max |kd - reference| = \(worst)")
  }

  /// bow and mlp: `StudentModel.forward` (what `kd-train predict` runs) against onnxruntime on the ONNX export.
  func testBagStudentsMatchOnnxRuntime() throws {
    let g = try golden()
    let dir = try TemporaryDirectory("kd-export-golden")
    var checked = 0
    for c in g.cases where c.student != "transformer" {
      _ = try exportMatchingGolden(c, dir: dir)
      let ckpt = try StudentCheckpoint.load(path: Self.student(c.student))
      if c.fp16 {
        // The fp16 graph casts fp16 weights to fp32 and computes in fp32: kd with the same rounded weights.
        for p in ckpt.model.parameters { p.value = p.value.map { Float(Float16($0)) } }
      }
      let n = ckpt.config.numClasses
      let logits = ckpt.model.forward(Batch.of(tokens: c.ids, numClasses: n), training: false)
      let rows = (0..<c.ids.count).map { Array(logits[($0 * n)..<(($0 + 1) * n)]) }
      let reference = try XCTUnwrap(c.onnxruntime_logits)
      assertClose(rows, reference, 1e-4, "\(c.student) onnx fp16=\(c.fp16)")
      // Not a constant model: the fixture's logits differ across texts by far more than the tolerance.
      let spread = reference.map { $0[0] }.max()! - reference.map { $0[0] }.min()!
      XCTAssertGreaterThan(spread, 0.1)
      checked += 1
    }
    XCTAssertEqual(checked, 4)
  }

  /// transformer: kd's BertEncoder (the teacher runtime, which kd-teacher-cache uses) on the exported
  /// Hugging Face folder against transformers, and against onnxruntime on the ONNX exports.
  func testTransformerStudentMatchesTransformersAndOnnxRuntime() throws {
    let g = try golden()
    let dir = try TemporaryDirectory("kd-export-golden")
    var hfFolder: String?
    for c in g.cases where c.student == "transformer" && c.format == "hf" {
      hfFolder = try exportMatchingGolden(c, dir: dir)
    }
    let folder = try XCTUnwrap(hfFolder, "golden.json has no Hugging Face case")
    let encoder = try BertEncoder.load(directory: folder, threads: 1)
    encoder.matmul = .fp32
    XCTAssertEqual(encoder.classifier?.labels, ["negative", "neutral", "positive"])
    var checked = 0
    for c in g.cases where c.student == "transformer" {
      if c.format == "onnx" { _ = try exportMatchingGolden(c, dir: dir) }
      let out = try encoder.forward(c.ids)
      let logits = try XCTUnwrap(out.logits)
      let rows = (0..<c.ids.count).map { Array(logits[($0 * out.labelCount)..<(($0 + 1) * out.labelCount)]) }
      if let t = c.transformers_logits { assertClose(rows, t, 1e-4, "transformer hf vs transformers") }
      if let o = c.onnxruntime_logits {
        // fp16 weights move logits by ~1e-3 on this model; the fp32 graph must match to 1e-4.
        assertClose(rows, o, c.fp16 ? 2e-2 : 1e-4, "transformer onnx fp16=\(c.fp16)")
      }
      checked += 1
    }
    XCTAssertEqual(checked, 3)
  }

  /// kd's tokenizer (through `Predictor`, as `kd-train predict`) gives the ids the golden numbers were computed on:
  /// the `tokenizers` library's, which AutoTokenizer on the exported folder reproduced (make_golden.py checks that).
  /// The three fixtures share one tokenizer.json and max tokens.
  func testTokenizationMatchesGoldenIds() throws {
    let g = try golden()
    let p = try Predictor(checkpoint: Self.student("bow"))
    let ids = g.texts.map(p.tokenize)
    for c in g.cases { XCTAssertEqual(ids, c.ids, "\(c.student) \(c.format)") }
    XCTAssertTrue(ids.contains { $0.contains(1) }, "the fixture texts include unknown words")
  }
}
