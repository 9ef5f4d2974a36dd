import KDCore
import Testing

@Suite struct LabelFractionTests {
  /// The rule is shared with kd-teacher-cache and persisted in experiment numbers: pin it.
  @Test func pinnedValues() {
    #expect(LabelFraction.unitValue(contentKey: 1, seed: 0).isApproximatelyEqual(0.079713699181711))
    #expect(LabelFraction.unitValue(contentKey: 2, seed: 0).isApproximatelyEqual(0.3509855677318441))
    #expect(LabelFraction.unitValue(contentKey: 12345, seed: 42).isApproximatelyEqual(0.19585803575938243))
    #expect(LabelFraction.unitValue(contentKey: UInt64(bitPattern: -7), seed: 7).isApproximatelyEqual(0.22126707931668987))
    #expect((1...100_000).filter { LabelFraction.keeps(contentKey: UInt64($0), fraction: 0.1, seed: 0) }.count == 10038)
  }

  @Test func fractionBoundsAndNesting() {
    for id in UInt64(1)...2000 {
      #expect(LabelFraction.keeps(contentKey: id, fraction: 1, seed: 3))
      #expect(!LabelFraction.keeps(contentKey: id, fraction: 0, seed: 3))
      // A smaller fraction keeps a subset of a larger one under the same seed.
      if LabelFraction.keeps(contentKey: id, fraction: 0.1, seed: 3) {
        #expect(LabelFraction.keeps(contentKey: id, fraction: 0.3, seed: 3))
      }
    }
    let a = (UInt64(1)...2000).filter { LabelFraction.keeps(contentKey: $0, fraction: 0.1, seed: 1) }
    let b = (UInt64(1)...2000).filter { LabelFraction.keeps(contentKey: $0, fraction: 0.1, seed: 2) }
    #expect(a != b)
  }

  /// The key is the stored text hash read as a number, so the subset follows the text, not the row id.
  @Test func contentKeyReadsTheStoredTextHash() {
    #expect(LabelFraction.contentKey(textHash: "00026a42d0cbe157") == 0x0002_6a42_d0cb_e157)
    #expect(LabelFraction.contentKey(textHash: "ffffffffffffffff") == UInt64.max)
    #expect(LabelFraction.contentKey(textHash: StableHash.hex(StableHash.fnv1a64("a clause"))) == StableHash.fnv1a64("a clause"))
    // Not hex (never written by kd): keyed by the bytes' FNV-1a hash, never a crash.
    #expect(LabelFraction.contentKey(textHash: "not-a-hash") == StableHash.fnv1a64("not-a-hash"))
    #expect(LabelFraction.contentKey(textHash: "") == StableHash.fnv1a64(""))
  }
}

extension Double {
  func isApproximatelyEqual(_ other: Double, tolerance: Double = 1e-12) -> Bool {
    abs(self - other) <= tolerance * max(1, abs(other))
  }
}
