/// Stable, non-cryptographic hashes used for content change detection,
/// deterministic split assignment and tokenizer identity.
///
/// The values are persisted in the store, so the algorithms must never change.
public enum StableHash {
  /// 64-bit FNV-1a over raw bytes.
  @inlinable
  public static func fnv1a64<C: Collection>(_ bytes: C, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64
  where C.Element == UInt8 {
    var h = seed
    for b in bytes {
      h ^= UInt64(b)
      h = h &* 0x100_0000_01b3
    }
    return h
  }

  /// 64-bit FNV-1a over a raw buffer (fast path for file contents).
  public static func fnv1a64(_ buffer: UnsafeRawBufferPointer, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
    var h = seed
    for b in buffer {
      h ^= UInt64(b)
      h = h &* 0x100_0000_01b3
    }
    return h
  }

  /// FNV-1a over the UTF-8 bytes of a string.
  public static func fnv1a64(_ string: String) -> UInt64 {
    var s = string
    return s.withUTF8 { fnv1a64(UnsafeRawBufferPointer($0)) }
  }

  /// A 16-hex-digit rendering of a 64-bit hash, as stored in the DB.
  public static func hex(_ value: UInt64) -> String {
    let s = String(value, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
  }

  /// A number in [0, 1) derived from a key: used for deterministic splits.
  public static func unitInterval(_ key: String) -> Double {
    // Finalise with splitmix64 so that similar keys spread evenly.
    var z = fnv1a64(key) &+ 0x9e37_79b9_7f4a_7c15
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    z = z ^ (z >> 31)
    return Double(z >> 11) / Double(1 << 53)
  }
}
