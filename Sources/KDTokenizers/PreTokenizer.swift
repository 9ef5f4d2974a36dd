import KDCore

/// The per-call working state of one encode: the normalized text and its pieces.
final class Work {
  var original: [UInt32] = []
  var text = TextBuffer()
  var pieces: [Piece] = []
  // Scratch space reused by stages.
  var segment = TextBuffer()
  var scratch = TextBuffer()
  var newText = TextBuffer()
  var newPieces: [Piece] = []
  var ranges: [(Int32, Int32, Bool)] = []
  var kept: [(Int32, Int32)] = []
  var bytes: [UInt8] = []
  var charBytes: [Int32] = []
  // Model output for the current text.
  var ids: [Int32] = []
  var offsets: [Int32] = []  // start, end pairs
  var bpe = BPEScratch()
  /// Model results per piece text (ids and relative offsets), reused across calls.
  var cacheIndex = HashedIndexMap()
  var cacheEntries: [(charStart: Int32, charCount: Int32, tokenStart: Int32, tokenCount: Int32)] = []
  var cacheChars: [UInt32] = []
  var cacheTokens: [Int32] = []  // id, start, end triples

  static let cacheLimit = 1 << 20

  func reset() {
    original.removeAll(keepingCapacity: true)
    text.removeAll()
    pieces.removeAll(keepingCapacity: true)
    ids.removeAll(keepingCapacity: true)
    offsets.removeAll(keepingCapacity: true)
  }
}

/// Byte-level alphabet of GPT-2 (`bytes_to_unicode`).
enum ByteLevelAlphabet {
  static let byteToChar: [UInt32] = {
    var map = [UInt32](repeating: 0, count: 256)
    var printable = Set<Int>()
    for b in 0x21...0x7E { printable.insert(b) }
    for b in 0xA1...0xAC { printable.insert(b) }
    for b in 0xAE...0xFF { printable.insert(b) }
    var n: UInt32 = 0
    for b in 0..<256 {
      if printable.contains(b) { map[b] = UInt32(b) } else { map[b] = 256 + n; n += 1 }
    }
    return map
  }()
  static let charToByte: [UInt32: UInt8] = {
    var m: [UInt32: UInt8] = [:]
    for (b, c) in byteToChar.enumerated() { m[c] = UInt8(b) }
    return m
  }()
}

/// A split pattern of the `Split` pre-tokenizer.
enum SplitPattern {
  case literal([UInt32])
  case gpt2
  case whitespaceWords
  case whitespaceRun

  static let gpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
}

enum PrependScheme { case always, first, never }

/// A pre-tokenizer stage (HF `pre_tokenizers`).
///
/// Reference: huggingface/tokenizers `tokenizers/src/pre_tokenizers` (v0.23).
indirect enum PreTokenizer {
  case bert
  case whitespace
  case whitespaceSplit
  case punctuation(SplitBehavior)
  case digits(individual: Bool)
  case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
  case metaspace(replacement: UInt32, prependScheme: PrependScheme, split: Bool)
  case split(SplitPattern, SplitBehavior, invert: Bool)
  case charDelimiter(UInt32)
  case sequence([PreTokenizer])

  static func load(_ node: JSONNode) throws -> PreTokenizer? {
    if node.isNull { return nil }
    let type = try node.typeName()
    switch type {
    case "BertPreTokenizer": return .bert
    case "Whitespace": return .whitespace
    case "WhitespaceSplit": return .whitespaceSplit
    case "Punctuation":
      return .punctuation(node["behavior"].isNull ? .isolated : try SplitBehavior(json: node["behavior"]))
    case "Digits": return .digits(individual: try node["individual_digits"].bool(default: false))
    case "ByteLevel":
      return .byteLevel(addPrefixSpace: try node["add_prefix_space"].bool(default: true),
                        useRegex: try node["use_regex"].bool(default: true))
    case "Metaspace":
      let rep = scalars(try node["replacement"].string())
      guard rep.count == 1 else { throw node["replacement"].error("expected a single character") }
      var scheme = PrependScheme.always
      if let s = try node["prepend_scheme"].optionalString() {
        switch s {
        case "always": scheme = .always
        case "first": scheme = .first
        case "never": scheme = .never
        default: throw node["prepend_scheme"].error("unknown prepend_scheme \"\(s)\" (expected always, first or never)")
        }
      } else if !node["add_prefix_space"].isNull {
        scheme = try node["add_prefix_space"].bool() ? .always : .never
      }
      return .metaspace(replacement: rep[0], prependScheme: scheme, split: try node["split"].bool(default: true))
    case "CharDelimiterSplit":
      let d = scalars(try node["delimiter"].string())
      guard d.count == 1 else { throw node["delimiter"].error("expected a single character") }
      return .charDelimiter(d[0])
    case "Split":
      let p = node["pattern"]
      let pattern: SplitPattern
      if let lit = try p["String"].optionalString() {
        pattern = .literal(scalars(lit))
      } else if let re = try p["Regex"].optionalString() {
        switch re {
        case SplitPattern.gpt2Regex: pattern = .gpt2
        case "\\w+|[^\\w\\s]+": pattern = .whitespaceWords
        case "\\s+": pattern = .whitespaceRun
        default:
          throw KDError(.unsupported, "Split pre-tokenizer regex \(re.debugDescription) is not supported (supported: String patterns, the GPT-2 pattern, \\w+|[^\\w\\s]+ and \\s+)", file: node.file, field: p.path)
        }
      } else {
        throw p.error("expected {\"String\": ...} or {\"Regex\": ...}")
      }
      return .split(pattern, try SplitBehavior(json: node["behavior"]), invert: try node["invert"].bool(default: false))
    case "Sequence":
      return .sequence(try node["pretokenizers"].array().compactMap { try load($0) })
    default:
      throw KDError(.unsupported, "pre-tokenizer type \"\(type)\" is not supported (supported: BertPreTokenizer, Whitespace, WhitespaceSplit, Punctuation, Digits, ByteLevel, Metaspace, Split, CharDelimiterSplit, Sequence)", file: node.file, field: node.path + ".type")
    }
  }

  /// Splits and transforms the text pieces of `w` in place.
  func apply(_ w: Work) {
    switch self {
    case .sequence(let list):
      for p in list { p.apply(w) }
    case .bert:
      splitPieces(w) { chars, s, e, out in PreTokenizer.bertSplit(chars, s, e, &out) }
    case .whitespace:
      splitPieces(w) { chars, s, e, out in PreTokenizer.wordSplit(chars, s, e, &out) }
    case .whitespaceSplit:
      splitPieces(w) { chars, s, e, out in
        var i = s
        while i < e {
          while i < e && CharacterClass.isWhitespace(chars[Int(i)]) { i += 1 }
          let a = i
          while i < e && !CharacterClass.isWhitespace(chars[Int(i)]) { i += 1 }
          if a < i { out.append((a, i)) }
        }
      }
    case .punctuation(let behavior):
      predicateSplit(w, behavior) { CharacterClass.flags($0).contains(.bertPunctuation) }
    case .digits(let individual):
      predicateSplit(w, individual ? .isolated : .contiguous) {
        $0 < 0x80 ? ($0 >= 0x30 && $0 <= 0x39) : CharacterClass.flags($0).contains(.numeric)
      }
    case .charDelimiter(let d):
      predicateSplit(w, .removed) { $0 == d }
    case let .split(pattern, behavior, invert):
      splitPattern(w, pattern, behavior, invert)
    case let .byteLevel(addPrefixSpace, useRegex):
      if addPrefixSpace {
        transformPieces(w) { t, s, e, out in
          if s < e && t.chars[Int(s)] != 0x20 { out.append(0x20, t.starts[Int(s)], t.ends[Int(s)]) }
          for i in Int(s)..<Int(e) { out.append(t.chars[i], t.starts[i], t.ends[i]) }
        }
      }
      if useRegex { splitPattern(w, .gpt2, .isolated, false) }
      transformPieces(w) { t, s, e, out in
        let map = ByteLevelAlphabet.byteToChar
        for i in Int(s)..<Int(e) {
          let c = t.chars[i], a = t.starts[i], b = t.ends[i]
          if c < 0x80 {
            out.append(map[Int(c)], a, b)
          } else if c < 0x800 {
            out.append(map[Int(0xC0 | (c >> 6))], a, b)
            out.append(map[Int(0x80 | (c & 0x3F))], a, b)
          } else if c < 0x10000 {
            out.append(map[Int(0xE0 | (c >> 12))], a, b)
            out.append(map[Int(0x80 | ((c >> 6) & 0x3F))], a, b)
            out.append(map[Int(0x80 | (c & 0x3F))], a, b)
          } else {
            out.append(map[Int(0xF0 | (c >> 18))], a, b)
            out.append(map[Int(0x80 | ((c >> 12) & 0x3F))], a, b)
            out.append(map[Int(0x80 | ((c >> 6) & 0x3F))], a, b)
            out.append(map[Int(0x80 | (c & 0x3F))], a, b)
          }
        }
      }
    case let .metaspace(rep, scheme, split):
      transformPieces(w) { t, s, e, out in
        let begin = out.count
        for i in Int(s)..<Int(e) { out.append(t.chars[i] == 0x20 ? rep : t.chars[i], t.starts[i], t.ends[i]) }
        guard out.count > begin, out.chars[begin] != rep else { return }
        let prepend: Bool
        switch scheme {
        case .always: prepend = true
        case .never: prepend = false
        case .first: prepend = t.starts[Int(s)] == 0
        }
        if prepend {
          out.chars.insert(rep, at: begin)
          out.starts.insert(out.starts[begin], at: begin)
          out.ends.insert(out.ends[begin], at: begin)
        }
      }
      if split { predicateSplit(w, .mergedWithNext) { $0 == rep } }
    }
  }

  // MARK: - Helpers

  /// Replaces every text piece by the non-empty sub-ranges `body` appends.
  private func splitPieces(_ w: Work, _ body: (UnsafeBufferPointer<UInt32>, Int32, Int32, inout [(Int32, Int32)]) -> Void) {
    w.newPieces.removeAll(keepingCapacity: true)
    w.text.chars.withUnsafeBufferPointer { chars in
      for p in w.pieces {
        if p.addedID >= 0 { w.newPieces.append(p); continue }
        w.kept.removeAll(keepingCapacity: true)
        body(chars, p.start, p.end, &w.kept)
        for r in w.kept where r.0 < r.1 {
          w.newPieces.append(Piece(start: r.0, end: r.1, originalStart: w.text.starts[Int(r.0)], addedID: -1))
        }
      }
    }
    swap(&w.pieces, &w.newPieces)
  }

  /// Splits on single characters matching `isMatch`, each match its own range.
  private func predicateSplit(_ w: Work, _ behavior: SplitBehavior, _ isMatch: (UInt32) -> Bool) {
    splitPieces(w) { chars, s, e, out in
      w.ranges.removeAll(keepingCapacity: true)
      var i = s
      var runStart = s
      while i < e {
        if isMatch(chars[Int(i)]) {
          if runStart < i { w.ranges.append((runStart, i, false)) }
          w.ranges.append((i, i + 1, true))
          runStart = i + 1
        }
        i += 1
      }
      if runStart < e { w.ranges.append((runStart, e, false)) }
      behavior.apply(w.ranges, into: &out)
    }
  }

  private func splitPattern(_ w: Work, _ pattern: SplitPattern, _ behavior: SplitBehavior, _ invert: Bool) {
    splitPieces(w) { chars, s, e, out in
      w.ranges.removeAll(keepingCapacity: true)
      switch pattern {
      case .literal(let lit):
        var i = s, runStart = s
        let m = Int32(lit.count)
        while i < e {
          if m > 0 && i + m <= e && (0..<Int(m)).allSatisfy({ chars[Int(i) + $0] == lit[$0] }) {
            if runStart < i { w.ranges.append((runStart, i, false)) }
            w.ranges.append((i, i + m, true))
            i += m
            runStart = i
          } else {
            i += 1
          }
        }
        if runStart < e { w.ranges.append((runStart, e, false)) }
      case .gpt2:
        PreTokenizer.gpt2Matches(chars, s, e, &w.ranges)
      case .whitespaceWords:
        var kept: [(Int32, Int32)] = []
        PreTokenizer.wordSplit(chars, s, e, &kept)
        var last = s
        for k in kept {
          if last < k.0 { w.ranges.append((last, k.0, false)) }
          w.ranges.append((k.0, k.1, true))
          last = k.1
        }
        if last < e { w.ranges.append((last, e, false)) }
      case .whitespaceRun:
        var i = s, runStart = s
        while i < e {
          if CharacterClass.flags(chars[Int(i)]).contains(.regexSpace) {
            let a = i
            while i < e && CharacterClass.flags(chars[Int(i)]).contains(.regexSpace) { i += 1 }
            if runStart < a { w.ranges.append((runStart, a, false)) }
            w.ranges.append((a, i, true))
            runStart = i
          } else {
            i += 1
          }
        }
        if runStart < e { w.ranges.append((runStart, e, false)) }
      }
      if invert { for k in w.ranges.indices { w.ranges[k].2.toggle() } }
      behavior.apply(w.ranges, into: &out)
    }
  }

  /// Rewrites the text of every text piece with `body`, keeping added-token pieces.
  private func transformPieces(_ w: Work, _ body: (TextBuffer, Int32, Int32, inout TextBuffer) -> Void) {
    w.newPieces.removeAll(keepingCapacity: true)
    w.newText.removeAll()
    w.newText.reserve(w.text.count + w.text.count / 2 + 8)
    for p in w.pieces {
      if p.addedID >= 0 { w.newPieces.append(p); continue }
      let a = Int32(w.newText.count)
      body(w.text, p.start, p.end, &w.newText)
      let b = Int32(w.newText.count)
      if a < b { w.newPieces.append(Piece(start: a, end: b, originalStart: w.newText.starts[Int(a)], addedID: -1)) }
    }
    swap(&w.text, &w.newText)
    swap(&w.pieces, &w.newPieces)
  }

  /// BertPreTokenizer: split on whitespace (removed), isolate each punctuation character.
  static let asciiKind: [UInt8] = {
    // 0 = word, 1 = whitespace, 2 = punctuation
    var t = [UInt8](repeating: 0, count: 128)
    for c in 0..<128 {
      if c == 0x20 || (c >= 9 && c <= 13) { t[c] = 1 } else if (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126) { t[c] = 2 }
    }
    return t
  }()

  @inline(__always)
  static func bertSplit(_ chars: UnsafeBufferPointer<UInt32>, _ s: Int32, _ e: Int32, _ out: inout [(Int32, Int32)]) {
    var i = Int(s)
    let end = Int(e)
    var wordStart = i
    while i < end {
      let c = chars[i]
      let kind: UInt8
      if c < 0x80 {
        kind = asciiKind[Int(c)]
      } else {
        let f = CharacterClass.flags(c)
        kind = f.contains(.whitespace) ? 1 : f.contains(.bertPunctuation) ? 2 : 0
      }
      if kind != 0 {
        if wordStart < i { out.append((Int32(wordStart), Int32(i))) }
        if kind == 2 { out.append((Int32(i), Int32(i + 1))) }
        wordStart = i + 1
      }
      i += 1
    }
    if wordStart < end { out.append((Int32(wordStart), Int32(end))) }
  }

  /// `\w+|[^\w\s]+` (Whitespace pre-tokenizer), matches only.
  static func wordSplit(_ chars: UnsafeBufferPointer<UInt32>, _ s: Int32, _ e: Int32, _ out: inout [(Int32, Int32)]) {
    @inline(__always) func kind(_ c: UInt32) -> Int {
      let f = CharacterClass.flags(c)
      if f.contains(.regexWord) { return 0 }
      if f.contains(.regexSpace) { return 1 }
      return 2
    }
    var i = Int(s)
    let end = Int(e)
    while i < end {
      let k = kind(chars[i])
      if k == 1 { i += 1; continue }
      let a = i
      while i < end && kind(chars[i]) == k { i += 1 }
      out.append((Int32(a), Int32(i)))
    }
  }

  /// Matches of the GPT-2 regex, as Onig finds them; they cover the whole range.
  static func gpt2Matches(_ chars: UnsafeBufferPointer<UInt32>, _ s: Int32, _ e: Int32, _ out: inout [(Int32, Int32, Bool)]) {
    @inline(__always) func cls(_ c: UInt32) -> Int {
      // 0 letter, 1 number, 2 space, 3 other
      if c < 0x80 {
        if (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) { return 0 }
        if c >= 0x30 && c <= 0x39 { return 1 }
        if c == 0x20 || (c >= 9 && c <= 13) { return 2 }
        return 3
      }
      let f = CharacterClass.flags(c)
      if f.contains(.regexLetter) { return 0 }
      if f.contains(.regexNumber) { return 1 }
      if f.contains(.regexSpace) { return 2 }
      return 3
    }
    var i = Int(s)
    let end = Int(e)
    var runStart = i
    while i < end {
      let c = chars[i]
      var m = 0
      if c == 0x27 && i + 1 < end {
        let n1 = chars[i + 1]
        if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 {
          m = 2
        } else if i + 2 < end {
          let n2 = chars[i + 2]
          if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) { m = 3 }
        }
      }
      if m == 0 {
        var j = i
        if c == 0x20 && i + 1 < end && cls(chars[i + 1]) != 2 { j = i + 1 }
        let k = cls(chars[j])
        if k != 2 {
          var t = j + 1
          while t < end && cls(chars[t]) == k { t += 1 }
          m = t - i
        } else {
          var t = i + 1
          while t < end && cls(chars[t]) == 2 { t += 1 }
          if t == end || t - i == 1 { m = t - i } else { m = t - i - 1 }
        }
      }
      if runStart < i { out.append((Int32(runStart), Int32(i), false)) }
      out.append((Int32(i), Int32(i + m), true))
      i += m
      runStart = i
    }
    if runStart < end { out.append((Int32(runStart), Int32(end), false)) }
  }
}
