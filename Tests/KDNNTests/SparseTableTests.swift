import XCTest
@testable import KDNN

/// The bag's compact row gradients and its worker split: the same weights for any worker count,
/// and the same gradient as the table-sized layout it replaced.
final class SparseTableTests: XCTestCase {
  override func tearDown() { NNThreads.set(1) }

  /// A batch of `count` sequences of varied lengths (an empty one included) over `vocab` tokens.
  func batch(count: Int, vocab: Int32, seed: UInt64) -> (tokens: [Int32], offsets: [Int]) {
    var rng = NNRandom(seed: seed)
    var tokens: [Int32] = [], offsets = [0]
    for i in 0..<count {
      let length = i == 3 ? 0 : 1 + Int(rng.next() % 90)
      for _ in 0..<length { tokens.append(Int32(rng.next() % UInt64(vocab))) }
      offsets.append(tokens.count)
    }
    return (tokens, offsets)
  }

  /// Trains a bag + AdamW for a few steps on `threads` workers; returns the table, m and v.
  func train(threads: Int) -> [[Float]] {
    NNThreads.set(threads)
    var rng = NNRandom(seed: 7)
    let bag = EmbeddingBag(name: "e", vocabSize: 300, buckets: 2048, dimension: 20, rng: &rng)
    let opt = AdamW(parameters: [bag.table], learningRate: 0.05, weightDecay: 0.01)
    for step in 0..<4 {
      let b = batch(count: 64, vocab: 300, seed: UInt64(step))
      let y = bag.forward(tokens: b.tokens, offsets: b.offsets, training: true)
      bag.backward(y.enumerated().map { Float(($0.offset % 7) - 3) * 0.1 + $0.element })
      clipGradients([bag.table], maxNorm: 1)
      opt.update()
      bag.table.zeroGrad()
    }
    return [bag.table.value, opt.m[0], opt.v[0]]
  }

  func testBagTrainsToTheSameWeightsOnAnyWorkerCount() {
    let one = train(threads: 1)
    XCTAssertGreaterThan(one[1].filter { $0 != 0 }.count, 1000, "the steps touched rows")
    for threads in [2, 3] { XCTAssertEqual(train(threads: threads), one, "\(threads) workers") }
  }

  func testCompactGradientEqualsTheScatteredSums() {
    NNThreads.set(3)
    var rng = NNRandom(seed: 3)
    let bag = EmbeddingBag(name: "e", vocabSize: 50, buckets: 64, dimension: 8, rng: &rng)
    let b = batch(count: 40, vocab: 50, seed: 11)
    _ = bag.forward(tokens: b.tokens, offsets: b.offsets, training: true)
    let dy = (0..<(40 * 8)).map { Float($0 % 13) - 6 }
    bag.backward(dy)
    // The reference: each sequence's gradient / its feature count, added to every feature row.
    var expected = [Float](repeating: 0, count: (50 + 64) * 8)
    for i in 0..<40 {
      let ids = Array(b.tokens[b.offsets[i]..<b.offsets[i + 1]])
      var features = ids
      if ids.count > 1 { for j in 1..<ids.count { features.append(50 + Int32(EmbeddingBag.bigramBucket(ids[j - 1], ids[j], buckets: 64))) } }
      for f in features { for k in 0..<8 { expected[Int(f) * 8 + k] += dy[i * 8 + k] / Float(features.count) } }
    }
    let got = bag.table.fullGradient()
    for i in expected.indices { XCTAssertEqual(got[i], expected[i], accuracy: 1e-4, "entry \(i)") }
    XCTAssertEqual(Set(bag.table.touchedRows).count, bag.table.touchedRows.count, "each row once")
    XCTAssertEqual(bag.table.rowGrad.count, bag.table.touchedRows.count * 8)
    bag.table.zeroGrad()
    XCTAssertTrue(bag.table.touchedRows.isEmpty)
    XCTAssertEqual(bag.table.fullGradient().map(abs).max(), 0)
  }
}
