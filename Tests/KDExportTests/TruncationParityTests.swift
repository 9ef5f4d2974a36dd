import Foundation
import KDTestSupport
import KDTokenizers
import KDTrain
import XCTest

/// A transformer student sees a long text cut as Hugging Face's tokenizer cuts it (the first
/// `max_tokens − 1` ids and the trailing `[SEP]`), in training (`StreamingLoader`) and in
/// `kd-train predict`, so its Hugging Face export scores long texts the same. Before, kd kept the
/// first `max_tokens` ids and dropped `[SEP]`: a trained medical-abstracts student's probabilities
/// differed from transformers' by up to 0.027 on 128-token abstracts.
final class TruncationParityTests: XCTestCase {
  func testTransformerCutsLikeTheTokenizersTruncation() throws {
    // The fixture's config predates the bow fields every kd-train checkpoint writes: add them.
    let dir = try TemporaryDirectory("kd-truncation")
    let path = dir.file("student")
    try FileManager.default.copyItem(atPath: GoldenParityTests.student("transformer"), toPath: path)
    let configPath = path + "/config.json"
    var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as? [String: Any])
    var student = try XCTUnwrap(config["student"] as? [String: Any])
    student["buckets"] = 0
    student["dimension"] = student["hiddenSize"]
    student["hidden"] = [Int]()
    config["student"] = student
    try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
    let predictor = try Predictor(checkpoint: path)
    let tokenizer = try Tokenizer.load(path: path + "/tokenizer.json")
    let n = predictor.checkpoint.config.maxTokens
    let text = String(repeating: "The patient presented with acute chest pain and shortness of breath. ", count: 20)
    let full = tokenizer.encode(text, addSpecialTokens: true, truncation: nil, padding: nil).ids
    XCTAssertGreaterThan(full.count, n, "the text must be longer than the student's max tokens")
    let hf = tokenizer.encode(text, addSpecialTokens: true, truncation: Truncation(maxLength: n), padding: nil).ids
    XCTAssertEqual(hf.count, n)
    XCTAssertEqual(predictor.tokenize(text), hf)
    XCTAssertEqual(predictor.tokenize(text).last, full.last, "the trailing special token is kept")
  }

  func testTokenCut() {
    let ids: [Int32] = [101] + (1000..<1020).map { Int32($0) } + [102]
    var kept = ids, first = ids, short: [Int32] = [101, 5, 102]
    TokenCut.cut(&kept, to: 8, keepingLast: true)
    TokenCut.cut(&first, to: 8, keepingLast: false)
    TokenCut.cut(&short, to: 8, keepingLast: true)
    XCTAssertEqual(kept, [101, 1000, 1001, 1002, 1003, 1004, 1005, 102])
    XCTAssertEqual(first, [101, 1000, 1001, 1002, 1003, 1004, 1005, 1006])
    XCTAssertEqual(short, [101, 5, 102])
  }
}
