import KDCore
import Testing

@Suite struct LabelFractionTests {
  /// The rule is shared with kd-teacher-cache and persisted in experiment numbers: pin it.
  @Test func pinnedValues() {
    #expect(LabelFraction.unitValue(exampleID: 1, seed: 0).isApproximatelyEqual(0.079713699181711))
    #expect(LabelFraction.unitValue(exampleID: 2, seed: 0).isApproximatelyEqual(0.3509855677318441))
    #expect(LabelFraction.unitValue(exampleID: 12345, seed: 42).isApproximatelyEqual(0.19585803575938243))
    #expect(LabelFraction.unitValue(exampleID: -7, seed: 7).isApproximatelyEqual(0.22126707931668987))
    #expect((1...100_000).filter { LabelFraction.keeps(exampleID: Int64($0), fraction: 0.1, seed: 0) }.count == 10038)
  }

  @Test func fractionBoundsAndNesting() {
    for id in Int64(1)...2000 {
      #expect(LabelFraction.keeps(exampleID: id, fraction: 1, seed: 3))
      #expect(!LabelFraction.keeps(exampleID: id, fraction: 0, seed: 3))
      // A smaller fraction keeps a subset of a larger one under the same seed.
      if LabelFraction.keeps(exampleID: id, fraction: 0.1, seed: 3) {
        #expect(LabelFraction.keeps(exampleID: id, fraction: 0.3, seed: 3))
      }
    }
    let a = (Int64(1)...2000).filter { LabelFraction.keeps(exampleID: $0, fraction: 0.1, seed: 1) }
    let b = (Int64(1)...2000).filter { LabelFraction.keeps(exampleID: $0, fraction: 0.1, seed: 2) }
    #expect(a != b)
  }
}

extension Double {
  func isApproximatelyEqual(_ other: Double, tolerance: Double = 1e-12) -> Bool {
    abs(self - other) <= tolerance * max(1, abs(other))
  }
}
