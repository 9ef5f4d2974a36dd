/// Character classes and mappings used by normalizers and pre-tokenizers.
///
/// All tables come from `UnicodeTables` (probed on HF `tokenizers`), so the
/// classes follow the Unicode version of HF's Rust crates, not Swift's.
/// Lookups for the Basic Multilingual Plane use one flag byte per code point;
/// the rest binary-search the range lists.
enum CharacterClass {
  struct Flags: OptionSet {
    let rawValue: UInt16
    static let cleanRemove = Flags(rawValue: 1 << 0)
    static let cleanSpace = Flags(rawValue: 1 << 1)
    static let chinese = Flags(rawValue: 1 << 2)
    static let whitespace = Flags(rawValue: 1 << 3)
    static let bertPunctuation = Flags(rawValue: 1 << 4)
    static let nonspacingMark = Flags(rawValue: 1 << 5)
    static let numeric = Flags(rawValue: 1 << 6)
    static let regexLetter = Flags(rawValue: 1 << 7)
    static let regexNumber = Flags(rawValue: 1 << 8)
    static let regexSpace = Flags(rawValue: 1 << 9)
    static let regexWord = Flags(rawValue: 1 << 10)
    static let hasLowercase = Flags(rawValue: 1 << 11)
    static let hasDecomposition = Flags(rawValue: 1 << 12)
    static let hasCompatibilityDecomposition = Flags(rawValue: 1 << 13)
    static let combining = Flags(rawValue: 1 << 14)
    static let bertAccent = Flags(rawValue: 1 << 15)
  }

  static let tables: [(Flags, [UInt32])] = [
    (.cleanRemove, UnicodeTables.cleanRemove), (.cleanSpace, UnicodeTables.cleanSpace),
    (.chinese, UnicodeTables.chinese), (.whitespace, UnicodeTables.whitespace),
    (.bertPunctuation, UnicodeTables.bertPunctuation), (.nonspacingMark, UnicodeTables.nonspacingMark),
    (.numeric, UnicodeTables.numeric), (.regexLetter, UnicodeTables.regexLetter),
    (.regexNumber, UnicodeTables.regexNumber), (.regexSpace, UnicodeTables.regexSpace),
    (.regexWord, UnicodeTables.regexWord), (.bertAccent, UnicodeTables.bertAccent),
  ]

  /// Flags for every BMP code point.
  static let bmp: [UInt16] = {
    var t = [UInt16](repeating: 0, count: 0x10000)
    for (flag, ranges) in tables {
      var i = 0
      while i + 1 < ranges.count {
        let a = Int(ranges[i]), b = Int(ranges[i + 1])
        if a <= 0xFFFF {
          for c in a...min(b, 0xFFFF) { t[c] |= flag.rawValue }
        }
        i += 2
      }
    }
    for c in lowercase.keys where c <= 0xFFFF { t[Int(c)] |= Flags.hasLowercase.rawValue }
    for c in canonicalDecomposition.keys where c <= 0xFFFF { t[Int(c)] |= Flags.hasDecomposition.rawValue }
    for c in compatibilityDecomposition.keys where c <= 0xFFFF {
      t[Int(c)] |= Flags.hasCompatibilityDecomposition.rawValue
    }
    var i = 0
    let cc = UnicodeTables.combiningClass
    while i + 2 < cc.count {
      let a = Int(cc[i]), b = Int(cc[i + 1])
      if a <= 0xFFFF { for c in a...min(b, 0xFFFF) { t[c] |= Flags.combining.rawValue } }
      i += 3
    }
    return t
  }()

  @inline(__always)
  static func inRanges(_ c: UInt32, _ ranges: [UInt32]) -> Bool {
    var lo = 0, hi = ranges.count / 2
    while lo < hi {
      let mid = (lo + hi) / 2
      if ranges[2 * mid + 1] < c { lo = mid + 1 } else { hi = mid }
    }
    return lo < ranges.count / 2 && ranges[2 * lo] <= c
  }

  /// The flags of a code point.
  @inline(__always)
  static func flags(_ c: UInt32) -> Flags {
    if c <= 0xFFFF { return Flags(rawValue: bmp[Int(c)]) }
    return supplementaryFlags(c)
  }

  static func supplementaryFlags(_ c: UInt32) -> Flags {
    var f: Flags = []
    for (flag, ranges) in tables where inRanges(c, ranges) { f.insert(flag) }
    if lowercase[c] != nil { f.insert(.hasLowercase) }
    if canonicalDecomposition[c] != nil { f.insert(.hasDecomposition) }
    if compatibilityDecomposition[c] != nil { f.insert(.hasCompatibilityDecomposition) }
    if combiningClass(c) != 0 { f.insert(.combining) }
    return f
  }

  @inline(__always) static func isWhitespace(_ c: UInt32) -> Bool {
    if c < 0x80 { return c == 0x20 || (c >= 0x09 && c <= 0x0D) }
    return flags(c).contains(.whitespace)
  }

  static func parseMap(_ text: String) -> [UInt32: [UInt32]] {
    var map: [UInt32: [UInt32]] = [:]
    let cleaned = text.filter { $0 != "\n" }
    for entry in cleaned.split(separator: ";") {
      let parts = entry.split(separator: ":")
      guard parts.count == 2, let key = UInt32(parts[0], radix: 16) else { continue }
      map[key] = parts[1].split(separator: ",").compactMap { UInt32($0, radix: 16) }
    }
    return map
  }

  static let lowercase: [UInt32: [UInt32]] = parseMap(UnicodeTables.lowercaseMap)
  static let canonicalDecomposition: [UInt32: [UInt32]] = parseMap(UnicodeTables.nfdMap)
  static let compatibilityDecomposition: [UInt32: [UInt32]] = parseMap(UnicodeTables.nfkdMap)

  /// Simple one-to-one lowercase for BMP code points (0 where the mapping is not 1:1).
  static let lowercaseBMP: [UInt32] = {
    var t = [UInt32](repeating: 0, count: 0x10000)
    for c in 0..<0x10000 { t[c] = UInt32(c) }
    for (k, v) in lowercase where k <= 0xFFFF { t[Int(k)] = v.count == 1 ? v[0] : 0 }
    return t
  }()

  static let combiningClassTable: [UInt32] = UnicodeTables.combiningClass

  /// Canonical combining class (0 for starters).
  static func combiningClass(_ c: UInt32) -> UInt8 {
    if c < 0x300 { return 0 }
    let t = combiningClassTable
    var lo = 0, hi = t.count / 3
    while lo < hi {
      let mid = (lo + hi) / 2
      if t[3 * mid + 1] < c { lo = mid + 1 } else { hi = mid }
    }
    if lo < t.count / 3 && t[3 * lo] <= c { return UInt8(truncatingIfNeeded: t[3 * lo + 2]) }
    return 0
  }

  /// Pairs (starter, combining) -> primary composite.
  static let compositions: [UInt64: UInt32] = {
    let excluded = Set(UnicodeTables.compositionExclusions)
    // Full decomposition -> composite, for composites that recompose.
    var byFull: [[UInt32]: UInt32] = [:]
    for (c, d) in canonicalDecomposition where !excluded.contains(c) { byFull[d] = c }
    var pairs: [UInt64: UInt32] = [:]
    for (c, d) in canonicalDecomposition where !excluded.contains(c) && d.count >= 2 {
      let prefix = Array(d.dropLast())
      let first: UInt32?
      if prefix.count == 1 { first = prefix[0] } else { first = byFull[prefix] }
      if let first { pairs[UInt64(first) << 32 | UInt64(d[d.count - 1])] = c }
    }
    return pairs
  }()

  // Hangul syllable arithmetic (Unicode 3.12).
  static let sBase: UInt32 = 0xAC00, lBase: UInt32 = 0x1100, vBase: UInt32 = 0x1161, tBase: UInt32 = 0x11A7
  static let lCount: UInt32 = 19, vCount: UInt32 = 21, tCount: UInt32 = 28, nCount: UInt32 = 588, sCount: UInt32 = 11172

  /// The full decomposition of one code point, or nil when it has none.
  static func decompose(_ c: UInt32, compatibility: Bool) -> [UInt32]? {
    if c >= sBase && c < sBase + sCount {
      let s = c - sBase
      let l = lBase + s / nCount, v = vBase + (s % nCount) / tCount, t = tBase + s % tCount
      return t == tBase ? [l, v] : [l, v, t]
    }
    if c < 0xA0 { return nil }
    return compatibility ? compatibilityDecomposition[c] : canonicalDecomposition[c]
  }

  /// The primary composite of two code points, or nil.
  static func compose(_ a: UInt32, _ b: UInt32) -> UInt32? {
    if a >= lBase && a < lBase + lCount && b >= vBase && b < vBase + vCount {
      return sBase + ((a - lBase) * vCount + (b - vBase)) * tCount
    }
    if a >= sBase && a < sBase + sCount && (a - sBase) % tCount == 0 && b > tBase && b < tBase + tCount {
      return a + (b - tBase)
    }
    return compositions[UInt64(a) << 32 | UInt64(b)]
  }
}
