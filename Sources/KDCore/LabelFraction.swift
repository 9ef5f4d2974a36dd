/// Deterministic choice of which training examples keep their label in a
/// low-label experiment (`--label-fraction F --label-seed S`).
///
/// kd-teacher-cache (fitting the teacher's head) and kd-train (the baseline
/// and the CE term of the KD student) must agree on the same subset, so both
/// call this one function. The rule is persisted implicitly in every
/// experiment's numbers: never change it.
///
/// The rule: `u = splitmix64(fnv1a64(le64(exampleID) ++ le64(seed))) >> 11 / 2^53`,
/// a number in [0, 1); the label is kept when `u < fraction`. A fraction
/// of 1 or more keeps every label; 0 or less keeps none.
public enum LabelFraction {
  /// Whether the example with this id keeps its label.
  ///
  /// - Parameters:
  ///   - exampleID: the `examples.id` of a training example.
  ///   - fraction: the share of training labels to keep, in [0, 1].
  ///   - seed: the label seed; different seeds pick different subsets.
  /// - Returns: `true` when the label is kept.
  @inlinable
  public static func keeps(exampleID: Int64, fraction: Double, seed: UInt64) -> Bool {
    if fraction >= 1 { return true }
    if !(fraction > 0) { return false }
    return unitValue(exampleID: exampleID, seed: seed) < fraction
  }

  /// The example's position in [0, 1) under this seed (kept iff `< fraction`).
  @inlinable
  public static func unitValue(exampleID: Int64, seed: UInt64) -> Double {
    // 16 little-endian bytes: the id, then the seed; FNV-1a, then splitmix64.
    var key = (UInt64(bitPattern: exampleID).littleEndian, seed.littleEndian)
    let h = withUnsafeBytes(of: &key) { StableHash.fnv1a64($0) }
    var z = h &+ 0x9e37_79b9_7f4a_7c15
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    z = z ^ (z >> 31)
    return Double(z >> 11) / Double(UInt64(1) << 53)
  }
}
