/// Deterministic choice of which training examples keep their label in a
/// low-label experiment (`--label-fraction F --label-seed S`).
///
/// kd-teacher-cache (fitting the teacher's head), kd-train (the baseline and
/// the CE term of the KD student), `kd-train teacher` and the Python reader
/// must agree on the same subset, so all of them call this one rule.
///
/// The rule is keyed by the example's **content**, not by its row id: the key
/// is the store's `examples.text_hash` (the 64-bit FNV-1a hash of the exact
/// text, stored as 16 hex digits), so the subset does not depend on how a
/// corpus was split into shards, the order files were ingested in, or whether
/// shard stores were merged. Identical texts get the same decision.
///
/// `u = splitmix64(fnv1a64(le64(key) ++ le64(seed))) >> 11 / 2^53`, a number
/// in [0, 1); the label is kept when `u < fraction`. A fraction of 1 or more
/// keeps every label; 0 or less keeps none. The numbers of every experiment
/// depend on this rule: change it only with a note in the README.
public enum LabelFraction {
  /// Whether the example with this content key keeps its label.
  ///
  /// - Parameters:
  ///   - contentKey: the example's content key (``contentKey(textHash:)``).
  ///   - fraction: the share of training labels to keep, in [0, 1].
  ///   - seed: the label seed; different seeds pick different subsets.
  /// - Returns: `true` when the label is kept.
  @inlinable
  public static func keeps(contentKey: UInt64, fraction: Double, seed: UInt64) -> Bool {
    if fraction >= 1 { return true }
    if !(fraction > 0) { return false }
    return unitValue(contentKey: contentKey, seed: seed) < fraction
  }

  /// The example's position in [0, 1) under this seed (kept iff `< fraction`).
  @inlinable
  public static func unitValue(contentKey: UInt64, seed: UInt64) -> Double {
    // 16 little-endian bytes: the key, then the seed; FNV-1a, then splitmix64.
    var key = (contentKey.littleEndian, seed.littleEndian)
    let h = withUnsafeBytes(of: &key) { StableHash.fnv1a64($0) }
    var z = h &+ 0x9e37_79b9_7f4a_7c15
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    z = z ^ (z >> 31)
    return Double(z >> 11) / Double(UInt64(1) << 53)
  }

  /// The content key of a stored `text_hash`: its 16 hex digits read as a
  /// number. A value that is not 1–16 hex digits (never written by kd) is keyed
  /// by the FNV-1a hash of its UTF-8 bytes instead, so every row has a key.
  @inlinable
  public static func contentKey(textHash: String) -> UInt64 {
    var s = textHash
    return s.withUTF8 { contentKey(utf8: UnsafeRawBufferPointer($0)) }
  }

  /// ``contentKey(textHash:)`` on the column's raw UTF-8 bytes (the loaders' hot path).
  @inlinable
  public static func contentKey(utf8 bytes: UnsafeRawBufferPointer) -> UInt64 {
    if bytes.count >= 1 && bytes.count <= 16 {
      var v: UInt64 = 0
      var ok = true
      for b in bytes {
        let d: UInt8
        switch b {
        case 0x30...0x39: d = b &- 0x30
        case 0x61...0x66: d = b &- 0x61 &+ 10
        case 0x41...0x46: d = b &- 0x41 &+ 10
        default: ok = false; d = 0
        }
        if !ok { break }
        v = (v << 4) | UInt64(d)
      }
      if ok { return v }
    }
    return StableHash.fnv1a64(bytes)
  }
}
