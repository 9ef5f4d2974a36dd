import KDCore

/// One entry of `added_tokens`.
struct AddedToken {
  var id: Int32
  var content: String
  var scalars: [UInt32]
  var singleWord: Bool
  var leftStrip: Bool
  var rightStrip: Bool
  var normalized: Bool
  var special: Bool
}

/// Finds added tokens in text, leftmost-longest, as HF's `AddedVocabulary` does.
///
/// Reference: huggingface/tokenizers `tokenizer/added_vocabulary.rs` (v0.23).
struct AddedTokenMatcher {
  var tokens: [AddedToken] = []
  /// Candidate tokens by first scalar, longest first.
  var byFirst: [UInt32: [Int]] = [:]
  /// Whether an ASCII scalar starts some token: most characters are ruled out
  /// without hashing (the dictionary lookup per character cost ~8% of encoding).
  private var asciiFirst = [Bool](repeating: false, count: 128)
  private var nonASCIIFirst = false

  init(_ list: [AddedToken]) {
    tokens = list
    for (i, t) in list.enumerated() where !t.scalars.isEmpty {
      byFirst[t.scalars[0], default: []].append(i)
      if t.scalars[0] < 0x80 { asciiFirst[Int(t.scalars[0])] = true } else { nonASCIIFirst = true }
    }
    for k in byFirst.keys {
      byFirst[k]!.sort { list[$0].scalars.count > list[$1].scalars.count }
    }
  }

  var isEmpty: Bool { tokens.isEmpty }

  @inline(__always) private static func isWordChar(_ c: UInt32) -> Bool {
    if c < 0x80 {
      return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }
    let f = CharacterClass.flags(c)
    return f.contains(.regexLetter) || f.contains(.numeric)
  }

  /// Splits `chars[s..<e]` into (start, end, token index or -1) segments covering the range.
  /// `content` receives, per matched token, the range of the token text itself (without the
  /// whitespace that lstrip / rstrip swallowed): HF reports those as the token's offsets.
  func split(_ chars: UnsafeBufferPointer<UInt32>, _ s: Int, _ e: Int, into out: inout [(Int, Int, Int)],
             content: inout [(Int, Int)]) {
    var i = s
    var last = s
    while i < e {
      let c = chars[i]
      if c < 0x80 ? !asciiFirst[Int(c)] : !nonASCIIFirst { i += 1; continue }
      guard let cands = byFirst[c] else { i += 1; continue }
      var matched = -1
      for ci in cands {
        let t = tokens[ci].scalars
        if i + t.count <= e {
          var ok = true
          for k in 1..<max(t.count, 1) where chars[i + k] != t[k] { ok = false; break }
          if ok { matched = ci; break }
        }
      }
      if matched < 0 { i += 1; continue }
      let tok = tokens[matched]
      var a = i, b = i + tok.scalars.count
      let bare = (a, b)
      i = b
      if tok.singleWord {
        let startOK = a == s || !AddedTokenMatcher.isWordChar(chars[a - 1])
        let stopOK = b == e || !AddedTokenMatcher.isWordChar(chars[b])
        if !startOK || !stopOK { continue }
      }
      if tok.leftStrip {
        var na = a
        while na > s && CharacterClass.isWhitespace(chars[na - 1]) { na -= 1 }
        a = max(na, last)
      }
      if tok.rightStrip {
        while b < e && CharacterClass.isWhitespace(chars[b]) { b += 1 }
        i = b
      }
      if last < a { out.append((last, a, -1)) }
      out.append((a, b, matched))
      content.append(bare)
      last = b
    }
    if last < e { out.append((last, e, -1)) }
  }
}
