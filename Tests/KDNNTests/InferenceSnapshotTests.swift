import Foundation
import KDModels
import KDNN
import XCTest

/// A trainable BERT's inference (`forward(_:training: false)`) runs on the teacher's inference
/// kernels over a snapshot of its weights; it must compute what the training path computes, and
/// never use stale weights.
final class InferenceSnapshotTests: XCTestCase {
  func config(layers: Int = 2, dropout: Float = 0) -> TrainableBertConfig {
    TrainableBertConfig(layers: layers, hiddenSize: 32, heads: 4, intermediateSize: 64, maxTokens: 24, vocabSize: 200,
                        numClasses: 5, dropout: dropout)
  }

  /// Sequences of several lengths, one longer than max tokens, one with trailing padding, one
  /// with ids outside the vocabulary, one empty.
  var batch: [[Int32]] {
    var rng = NNRandom(seed: 11)
    var b: [[Int32]] = [1, 3, 9, 24, 40].map { n in (0..<n).map { _ in Int32(1 + rng.next() % 199) } }
    b.append([101 % 200, 7, 9, 0, 0, 0])
    b.append([5, 250, -3, 8])
    b.append([])
    return b
  }

  func worst(_ a: [Float], _ b: [Float]) -> Float {
    XCTAssertEqual(a.count, b.count)
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
  }

  func testInferenceEqualsTheTrainingPath() throws {
    for (pooling, normalize) in [(Pooling.cls, false), (.mean, false), (.mean, true)] {
      NNThreads.set(2)
      let bert = try TrainableBert(config: config(), seed: 3)
      bert.classifierPooling = pooling
      bert.normalizePooled = normalize
      let trained = bert.forward(batch, training: true)  // dropout 0: the same function
      let inferred = bert.forward(batch, training: false)
      XCTAssertLessThan(worst(trained, inferred), 1e-5, "\(pooling) normalize \(normalize)")
      XCTAssertEqual(bert.layout.count, batch.count)
    }
  }

  func testWeightWritesInvalidateTheSnapshot() throws {
    NNThreads.set(1)
    let bert = try TrainableBert(config: config(), seed: 5)
    let before = bert.forward(batch, training: false)
    // An in-place write, as AdamW's.
    bert.layers[1].output.weight.value.withUnsafeMutableBufferPointer { w in
      for i in w.indices { w[i] *= 3 }
    }
    let after = bert.forward(batch, training: false)
    XCTAssertGreaterThan(worst(before, after), 1e-4, "the snapshot did not see the write")
    XCTAssertLessThan(worst(bert.forward(batch, training: true), after), 1e-5)
    // A whole-value assignment, as a checkpoint load.
    bert.classifier.bias!.value = [Float](repeating: 1, count: 5)
    let shifted = bert.forward(batch, training: false)
    XCTAssertLessThan(worst(bert.forward(batch, training: true), shifted), 1e-5)
  }

  func testOnMiniLMLayers() throws {
    guard let dir = TeacherParityTests.miniLM else { return }
    NNThreads.set(2)
    let c = TrainableBertConfig(layers: 3, hiddenSize: 384, heads: 12, intermediateSize: 1536, maxTokens: 128,
                                vocabSize: 30522, numClasses: 4, dropout: 0)
    let bert = try TrainableBert.fromTeacher(directory: dir, config: c, layerMap: [1, 3, 5], seed: 1)
    var rng = NNRandom(seed: 9)
    let b: [[Int32]] = [3, 40, 128, 200].map { n in [101] + (0..<(n - 2)).map { _ in Int32(1000 + rng.next() % 28000) } + [102] }
    XCTAssertLessThan(worst(bert.forward(b, training: true), bert.forward(b, training: false)), 1e-5)
  }
}
