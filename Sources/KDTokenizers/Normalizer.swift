import KDCore

/// A normalizer stage (HF `normalizers`), applied to each text segment
/// between added tokens, keeping the alignment of every code point.
///
/// Reference: huggingface/tokenizers `tokenizers/src/normalizers` (v0.23).
indirect enum Normalizer {
  case bert(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool, lowercase: Bool)
  case unicode(compose: Bool, compatibility: Bool)
  case lowercase
  case stripAccents
  case replace(pattern: [UInt32], content: [UInt32])
  case strip(left: Bool, right: Bool)
  case prepend([UInt32])
  case sequence([Normalizer])

  static func load(_ node: JSONNode) throws -> Normalizer? {
    if node.isNull { return nil }
    let type = try node.typeName()
    switch type {
    case "BertNormalizer":
      let lower = try node["lowercase"].bool(default: true)
      let strip = node["strip_accents"].isNull ? lower : try node["strip_accents"].bool()
      return .bert(
        cleanText: try node["clean_text"].bool(default: true),
        handleChineseChars: try node["handle_chinese_chars"].bool(default: true),
        stripAccents: strip, lowercase: lower)
    case "NFD": return .unicode(compose: false, compatibility: false)
    case "NFKD": return .unicode(compose: false, compatibility: true)
    case "NFC": return .unicode(compose: true, compatibility: false)
    case "NFKC": return .unicode(compose: true, compatibility: true)
    case "Lowercase": return .lowercase
    case "StripAccents": return .stripAccents
    case "Strip":
      return .strip(left: try node["strip_left"].bool(default: true), right: try node["strip_right"].bool(default: true))
    case "Prepend":
      return .prepend(scalars(try node["prepend"].string()))
    case "Replace":
      let pattern = node["pattern"]
      guard let literal = try pattern["String"].optionalString() else {
        if !pattern["Regex"].isNull {
          throw KDError(.unsupported, "Replace normalizer with a Regex pattern is not supported (only String patterns)",
                        file: node.file, field: pattern.path)
        }
        throw pattern.error("expected {\"String\": ...} or {\"Regex\": ...}")
      }
      return .replace(pattern: scalars(literal), content: scalars(try node["content"].string()))
    case "Sequence":
      return .sequence(try node["normalizers"].array().compactMap { try load($0) })
    default:
      throw KDError(.unsupported, "normalizer type \"\(type)\" is not supported (supported: BertNormalizer, NFD, NFKD, NFC, NFKC, Lowercase, StripAccents, Replace, Strip, Prepend, Sequence)", file: node.file, field: node.path + ".type")
    }
  }

  /// Normalizes `input` into `output` (which is cleared first). `scratch` is a spare buffer.
  func apply(_ input: inout TextBuffer, scratch: inout TextBuffer) {
    switch self {
    case .sequence(let list):
      for n in list { n.apply(&input, scratch: &scratch) }
      return
    default:
      scratch.removeAll()
      applyOne(input, into: &scratch)
      swap(&input, &scratch)
    }
  }

  private func applyOne(_ t: TextBuffer, into out: inout TextBuffer) {
    out.reserve(t.count + 8)
    switch self {
    case let .bert(clean, chinese, strip, lower):
      Normalizer.bertNormalize(t, into: &out, clean: clean, chinese: chinese, strip: strip, lower: lower)
    case let .unicode(compose, compat):
      Normalizer.unicodeNormalize(t, into: &out, compose: compose, compatibility: compat)
    case .lowercase:
      for i in 0..<t.count { Normalizer.appendLowercased(t.chars[i], t.starts[i], t.ends[i], into: &out) }
    case .stripAccents:
      for i in 0..<t.count where !CharacterClass.flags(t.chars[i]).contains(.nonspacingMark) {
        out.append(t.chars[i], t.starts[i], t.ends[i])
      }
    case let .strip(left, right):
      var a = 0, b = t.count
      if left { while a < b && CharacterClass.isWhitespace(t.chars[a]) { a += 1 } }
      if right { while b > a && CharacterClass.isWhitespace(t.chars[b - 1]) { b -= 1 } }
      for i in a..<b { out.append(t.chars[i], t.starts[i], t.ends[i]) }
    case .prepend(let p):
      if t.count > 0 {
        for c in p { out.append(c, t.starts[0], t.ends[0]) }
      }
      for i in 0..<t.count { out.append(t.chars[i], t.starts[i], t.ends[i]) }
    case let .replace(pattern, content):
      var i = 0
      let n = t.count, m = pattern.count
      while i < n {
        if m > 0 && i + m <= n && t.chars[i] == pattern[0] && Array(t.chars[i..<(i + m)]) == pattern {
          // New characters take the alignment of the last replaced one (HF transform_range).
          let s = t.starts[i + m - 1], e = t.ends[i + m - 1]
          for c in content { out.append(c, s, e) }
          i += m
        } else {
          out.append(t.chars[i], t.starts[i], t.ends[i])
          i += 1
        }
      }
    case .sequence:
      break
    }
  }

  @inline(__always)
  static func appendLowercased(_ c: UInt32, _ s: Int32, _ e: Int32, into out: inout TextBuffer) {
    if c < 0x80 {
      out.append((c >= 0x41 && c <= 0x5A) ? c | 0x20 : c, s, e)
      return
    }
    if c <= 0xFFFF {
      let l = CharacterClass.lowercaseBMP[Int(c)]
      if l != 0 { out.append(l, s, e); return }
    }
    if let m = CharacterClass.lowercase[c] {
      for x in m { out.append(x, s, e) }
    } else {
      out.append(c, s, e)
    }
  }

  /// ASCII map for BertNormalizer with clean_text: 0xFF = remove, else the replacement.
  static let bertASCII: [UInt8] = {
    var t = [UInt8](repeating: 0, count: 128)
    for c in 0..<128 {
      if c == 9 || c == 10 || c == 13 { t[c] = 0x20 } else if c < 32 || c == 127 { t[c] = 0xFF } else { t[c] = UInt8(c) }
    }
    return t
  }()

  static func bertNormalize(_ t: TextBuffer, into out: inout TextBuffer, clean: Bool, chinese: Bool, strip: Bool, lower: Bool) {
    let n = t.count
    var decomposed: [UInt32] = []
    let ascii = bertASCII  // one lazy-global check, not one per character
    for i in 0..<n {
      var c = t.chars[i]
      let s = t.starts[i], e = t.ends[i]
      if c < 0x80 {
        if clean {
          let m = ascii[Int(c)]
          if m == 0xFF { continue }
          c = UInt32(m)
        }
        if lower && c >= 0x41 && c <= 0x5A { c |= 0x20 }
        out.append(c, s, e)
        continue
      }
      let f = CharacterClass.flags(c)
      if clean {
        if f.contains(.cleanRemove) { continue }
        if f.contains(.cleanSpace) { out.append(0x20, s, e); continue }
      }
      if chinese && f.contains(.chinese) {
        out.append(0x20, s, e)
        out.append(c, s, e)
        out.append(0x20, s, e)
        continue
      }
      if strip {
        if f.contains(.bertAccent) { continue }
        if f.contains(.hasDecomposition) || (c >= CharacterClass.sBase && c < CharacterClass.sBase + CharacterClass.sCount) {
          decomposed.removeAll(keepingCapacity: true)
          decomposed.append(contentsOf: CharacterClass.decompose(c, compatibility: false) ?? [c])
          for d in decomposed where !CharacterClass.flags(d).contains(.bertAccent) {
            if lower { appendLowercased(d, s, e, into: &out) } else { out.append(d, s, e) }
          }
          continue
        }
      }
      if lower { appendLowercased(c, s, e, into: &out) } else { out.append(c, s, e) }
    }
  }

  /// NFD / NFKD / NFC / NFKC. Like HF (`unicode-normalization-alignments` + `transform`),
  /// every output character carries a change count (+1 inserted, -n absorbing n inputs) and
  /// alignments are then assigned by position, which is what HF reports after reordering.
  static func unicodeNormalize(_ t: TextBuffer, into out: inout TextBuffer, compose: Bool, compatibility: Bool) {
    // 1. Full decomposition: the first character of a decomposition keeps change 0, the rest +1.
    var chars: [UInt32] = []
    var changes: [Int] = []
    chars.reserveCapacity(t.count)
    changes.reserveCapacity(t.count)
    for i in 0..<t.count {
      let c = t.chars[i]
      if c >= 0xA0, let m = CharacterClass.decompose(c, compatibility: compatibility) {
        for (k, x) in m.enumerated() { chars.append(x); changes.append(k == 0 ? 0 : 1) }
      } else {
        chars.append(c)
        changes.append(0)
      }
    }
    // 2. Canonical ordering: stable sort of each run of non-starters by combining class.
    var i = 0
    while i < chars.count {
      if chars[i] < 0x300 || CharacterClass.combiningClass(chars[i]) == 0 { i += 1; continue }
      var j = i
      while j < chars.count && chars[j] >= 0x300 && CharacterClass.combiningClass(chars[j]) != 0 { j += 1 }
      if j - i > 1 {
        let idx = (i..<j).sorted { a, b in
          let ca = CharacterClass.combiningClass(chars[a]), cb = CharacterClass.combiningClass(chars[b])
          return ca != cb ? ca < cb : a < b
        }
        let cs = idx.map { chars[$0] }, ch = idx.map { changes[$0] }
        for k in 0..<(j - i) { chars[i + k] = cs[k]; changes[i + k] = ch[k] }
      }
      i = j
    }
    // 3. Canonical composition: a composite absorbs the changes of what it swallowed, minus one each.
    var outChars: [UInt32] = []
    var outChanges: [Int] = []
    if compose {
      outChars.reserveCapacity(chars.count)
      outChanges.reserveCapacity(chars.count)
      var starter = -1
      var lastClass = 0
      for k in 0..<chars.count {
        let c = chars[k]
        let cc = c < 0x300 ? 0 : Int(CharacterClass.combiningClass(c))
        if starter >= 0 {
          let adjacent = outChars.count - 1 == starter
          if adjacent || (lastClass != 0 && lastClass < cc), let p = CharacterClass.compose(outChars[starter], c) {
            outChars[starter] = p
            outChanges[starter] += changes[k] - 1
            continue
          }
        }
        if cc == 0 { starter = outChars.count }
        lastClass = cc
        outChars.append(c)
        outChanges.append(changes[k])
      }
    } else {
      outChars = chars
      outChanges = changes
    }
    // 4. Positional alignment (HF `NormalizedString::transform_range`).
    var ptr = 0
    for k in 0..<outChars.count {
      let ch = outChanges[k]
      if ch > 0 {
        if ptr > 0 { out.append(outChars[k], t.starts[ptr - 1], t.ends[ptr - 1]) } else { out.append(outChars[k], t.starts[0], t.starts[0]) }
      } else {
        let src = min(ptr, t.count - 1)
        out.append(outChars[k], t.starts[src], t.ends[src])
        ptr += 1 - ch
      }
    }
  }
}

/// The Unicode scalars of a string, as UInt32.
func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map { $0.value } }
