import Foundation
import KDCore
import KDModels
import KDNN
import KDTensor
import XCTest

/// The trainable BERT, loaded with all-MiniLM-L6-v2's six layers, computes what the inference
/// encoder (KDModels.BertEncoder) computes.
final class TeacherParityTests: XCTestCase {
  static var miniLM: String? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    let dir = root + "/models/all-MiniLM-L6-v2"
    guard FileManager.default.fileExists(atPath: dir + "/model.safetensors") else {
      print("note: skipping the MiniLM parity test: \(dir) is absent (make teacher)")
      return nil
    }
    return dir
  }

  func miniConfig(layers: Int, maxTokens: Int = 128) -> TrainableBertConfig {
    TrainableBertConfig(layers: layers, hiddenSize: 384, heads: 12, intermediateSize: 1536, maxTokens: maxTokens,
                        vocabSize: 30522, numClasses: 3)
  }

  func testForwardEqualsInferenceEncoderOnMiniLM() throws {
    guard let dir = Self.miniLM else { return }
    NNThreads.set(2)
    let bert = try TrainableBert.fromTeacher(directory: dir, config: miniConfig(layers: 6), layerMap: Array(0..<6), seed: 1)
    let encoder = try BertEncoder.load(directory: dir, threads: 2, pooling: .mean)
    encoder.normalizeEmbeddings = false
    encoder.matmul = .fp32
    var rng = NNRandom(seed: 3)
    let batch: [[Int32]] = [5, 17, 64, 128].map { n in [101] + (0..<(n - 2)).map { _ in Int32(1000 + rng.next() % 28000) } + [102] }
    let expected = try encoder.forward(batch)
    let states = bert.encode(batch, training: false)
    let H = 384
    var worst: Float = 0
    for s in 0..<batch.count {
      let o = bert.layout.offsets[s], n = bert.layout.length(s)
      for j in 0..<H {
        var m: Float = 0
        for t in 0..<n { m += states[(o + t) * H + j] }
        worst = max(worst, abs(m / Float(n) - expected.pooled[s * H + j]))
      }
    }
    XCTAssertLessThan(worst, 1e-5, "largest |Δ| of mean-pooled hidden states")
  }

  func testTeacherInitCopiesTheMappedLayers() throws {
    guard let dir = Self.miniLM else { return }
    let bert = try TrainableBert.fromTeacher(directory: dir, config: miniConfig(layers: 3), layerMap: [1, 3, 5], seed: 1)
    let file = try SafetensorsFile(path: dir + "/model.safetensors")
    let prefix = file.tensors.keys.contains { $0.hasPrefix("bert.") } ? "bert." : ""
    XCTAssertEqual(bert.layers[1].intermediate.weight.value, try file.floats(prefix + "encoder.layer.3.intermediate.dense.weight"))
    XCTAssertEqual(bert.layers[2].attention.key.bias!.value, try file.floats(prefix + "encoder.layer.5.attention.self.key.bias"))
    XCTAssertEqual(bert.positionEmbeddings.table.count, 128 * 384)
  }

  func testTeacherInitRejectsStudentsThatDoNotFit() throws {
    guard let dir = Self.miniLM else { return }
    func assertUsage(_ c: TrainableBertConfig, _ map: [Int], _ needle: String) {
      XCTAssertThrowsError(try TrainableBert.fromTeacher(directory: dir, config: c, layerMap: map, seed: 1)) { e in
        guard let k = e as? KDError else { return XCTFail("\(e)") }
        XCTAssertEqual(k.kind, .usage)
        XCTAssertEqual(k.field, "--init")
        XCTAssertTrue(k.message.contains(needle), k.message)
      }
    }
    var c = miniConfig(layers: 7)
    assertUsage(c, Array(0..<7), "more than the teacher")
    c = miniConfig(layers: 2)
    c.vocabSize = 8000
    assertUsage(c, [0, 1], "vocabulary")
    c = miniConfig(layers: 2)
    c.hiddenSize = 256
    c.heads = 4
    assertUsage(c, [0, 1], "hidden size")
    assertUsage(miniConfig(layers: 2), [0, 6], "outside")
  }
}
