/// An open-addressing hash table from token bytes to ids.
///
/// All keys live in one byte arena; a lookup hashes a byte range and compares
/// at most a few candidates, without building a `String`.
struct TokenTable {
  private var arena: [UInt8] = []
  private var keyStart: [Int32] = []
  private var keyLength: [Int32] = []
  private var values: [Int32] = []
  private var slots: [Int32] = []
  private var hashes: [UInt32] = []
  private var mask: Int = 0
  private(set) var count = 0
  /// The longest key, in bytes.
  private(set) var maxKeyLength = 0

  init(capacity: Int) {
    var size = 16
    while size < capacity * 2 { size <<= 1 }
    slots = [Int32](repeating: -1, count: size)
    hashes = [UInt32](repeating: 0, count: size)
    mask = size - 1
  }

  @inline(__always)
  static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(n)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= n {
      let v = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
      h = (h ^ v) &* 0xBF58_476D_1CE4_E5B9
      h ^= h >> 29
      i += 8
    }
    if i < n {
      var v: UInt64 = 0
      var shift: UInt64 = 0
      while i < n {
        v |= UInt64(p[i]) << shift
        shift += 8
        i += 1
      }
      h = (h ^ v) &* 0x94D0_49BB_1331_11EB
    }
    h ^= h >> 31
    h = h &* 0xD6E8_FEB8_6659_FD93
    return h ^ (h >> 32)
  }

  /// Inserts a key; an existing key keeps its first value unless `overwrite`.
  mutating func insert(_ key: [UInt8], value: Int32, overwrite: Bool = false) {
    key.withUnsafeBufferPointer { kb in
      let base = kb.baseAddress ?? UnsafePointer(bitPattern: 1)!
      let h = TokenTable.hash(base, kb.count)
      let tag = UInt32(truncatingIfNeeded: h)
      var i = Int(truncatingIfNeeded: h >> 32) & mask
      while true {
        let e = slots[i]
        if e < 0 { break }
        if hashes[i] == tag && keyLength[Int(e)] == Int32(kb.count) {
          let s = Int(keyStart[Int(e)])
          if Array(arena[s..<(s + kb.count)]) == key {
            if overwrite { values[Int(e)] = value }
            return
          }
        }
        i = (i + 1) & mask
      }
      if (count + 1) * 2 > slots.count { grow(); insert(key, value: value, overwrite: overwrite); return }
      slots[i] = Int32(values.count)
      hashes[i] = tag
      keyStart.append(Int32(arena.count))
      keyLength.append(Int32(kb.count))
      arena.append(contentsOf: key)
      values.append(value)
      count += 1
      maxKeyLength = max(maxKeyLength, kb.count)
    }
  }

  private mutating func grow() {
    let size = slots.count * 2
    slots = [Int32](repeating: -1, count: size)
    hashes = [UInt32](repeating: 0, count: size)
    mask = size - 1
    arena.withUnsafeBufferPointer { ab in
      for e in 0..<values.count {
        let h = TokenTable.hash(ab.baseAddress! + Int(keyStart[e]), Int(keyLength[e]))
        var i = Int(truncatingIfNeeded: h >> 32) & mask
        while slots[i] >= 0 { i = (i + 1) & mask }
        slots[i] = Int32(e)
        hashes[i] = UInt32(truncatingIfNeeded: h)
      }
    }
  }

  /// The value for a byte range, or -1.
  @inline(__always)
  func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32 {
    let h = TokenTable.hash(p, n)
    let tag = UInt32(truncatingIfNeeded: h)
    return slots.withUnsafeBufferPointer { sb in
      hashes.withUnsafeBufferPointer { hb in
        var i = Int(truncatingIfNeeded: h >> 32) & mask
        while true {
          let e = sb[i]
          if e < 0 { return -1 }
          if hb[i] == tag && keyLength[Int(e)] == Int32(n) {
            let s = Int(keyStart[Int(e)])
            let equal = arena.withUnsafeBufferPointer { ab in
              memcmpBytes(ab.baseAddress! + s, p, n)
            }
            if equal { return values[Int(e)] }
          }
          i = (i + 1) & mask
        }
      }
    }
  }

  func lookup(_ key: [UInt8]) -> Int32 {
    key.withUnsafeBufferPointer { kb in
      guard let b = kb.baseAddress else {
        let empty: [UInt8] = [0]
        return empty.withUnsafeBufferPointer { lookup($0.baseAddress!, 0) }
      }
      return lookup(b, kb.count)
    }
  }

  func lookup(_ s: String) -> Int32 { lookup(Array(s.utf8)) }

  /// Approximate heap bytes used.
  var memoryBytes: Int { arena.count + keyStart.count * 12 + slots.count * 8 }
}

@inline(__always)
func memcmpBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
  var i = 0
  while i + 8 <= n {
    if UnsafeRawPointer(a).loadUnaligned(fromByteOffset: i, as: UInt64.self)
      != UnsafeRawPointer(b).loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
    i += 8
  }
  while i < n {
    if a[i] != b[i] { return false }
    i += 1
  }
  return true
}

/// Appends the UTF-8 encoding of a code point.
@inline(__always)
func appendUTF8(_ c: UInt32, to out: inout [UInt8]) {
  if c < 0x80 {
    out.append(UInt8(c))
  } else if c < 0x800 {
    out.append(UInt8(0xC0 | (c >> 6)))
    out.append(UInt8(0x80 | (c & 0x3F)))
  } else if c < 0x10000 {
    out.append(UInt8(0xE0 | (c >> 12)))
    out.append(UInt8(0x80 | ((c >> 6) & 0x3F)))
    out.append(UInt8(0x80 | (c & 0x3F)))
  } else {
    out.append(UInt8(0xF0 | (c >> 18)))
    out.append(UInt8(0x80 | ((c >> 12) & 0x3F)))
    out.append(UInt8(0x80 | ((c >> 6) & 0x3F)))
    out.append(UInt8(0x80 | (c & 0x3F)))
  }
}

@inline(__always)
func utf8Length(_ c: UInt32) -> Int { c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4 }

/// A map from already-hashed 64-bit keys to indices: open addressing, linear
/// probing. The piece cache looked up a Swift `Dictionary` per word, whose
/// SipHash and uniqueness checks cost ~4% of encoding.
struct HashedIndexMap {
  private var keys: [UInt64]
  private var values: [Int32]
  private var mask: Int
  private(set) var count = 0

  init(capacity: Int = 1 << 12) {
    var n = 16
    while n < capacity * 2 { n <<= 1 }
    keys = [UInt64](repeating: 0, count: n)
    values = [Int32](repeating: 0, count: n)
    mask = n - 1
  }

  /// 0 marks an empty slot, so key 0 is stored as 1 (the caller confirms hits anyway).
  @inline(__always) private static func stored(_ key: UInt64) -> UInt64 { key == 0 ? 1 : key }

  @inline(__always) func get(_ key: UInt64) -> Int? {
    let k = HashedIndexMap.stored(key)
    var i = Int(truncatingIfNeeded: k) & mask
    while true {
      let s = keys[i]
      if s == k { return Int(values[i]) }
      if s == 0 { return nil }
      i = (i &+ 1) & mask
    }
  }

  mutating func set(_ key: UInt64, _ value: Int) {
    if (count + 1) * 2 > keys.count { grow() }
    let k = HashedIndexMap.stored(key)
    var i = Int(truncatingIfNeeded: k) & mask
    while keys[i] != 0 && keys[i] != k { i = (i &+ 1) & mask }
    if keys[i] == 0 { count += 1 }
    keys[i] = k
    values[i] = Int32(truncatingIfNeeded: value)
  }

  mutating func removeAll() {
    for i in keys.indices { keys[i] = 0 }
    count = 0
  }

  private mutating func grow() {
    let oldKeys = keys, oldValues = values
    keys = [UInt64](repeating: 0, count: oldKeys.count * 2)
    values = [Int32](repeating: 0, count: oldKeys.count * 2)
    mask = keys.count - 1
    count = 0
    for (k, v) in zip(oldKeys, oldValues) where k != 0 {
      var i = Int(truncatingIfNeeded: k) & mask
      while keys[i] != 0 { i = (i &+ 1) & mask }
      keys[i] = k
      values[i] = v
      count += 1
    }
  }
}
