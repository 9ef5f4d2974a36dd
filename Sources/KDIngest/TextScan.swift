/// Fast whitespace helpers on Unicode scalars. Foundation's
/// `trimmingCharacters(in:)` goes through UTF-16 and cost a quarter of
/// ingest time in a profile (perf, 33k examples); these do not allocate
/// unless they must.
enum TextScan {
  @inline(__always)
  static func isSpace(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D: return true
    case 0..<0x80: return false
    default: return s.properties.isWhitespace
    }
  }

  /// True when the text has no non-whitespace character.
  static func isBlank<S: StringProtocol>(_ text: S) -> Bool {
    for s in text.unicodeScalars where !isSpace(s) { return false }
    return true
  }

  /// The text without leading and trailing whitespace.
  static func trimmed<S: StringProtocol>(_ text: S) -> String {
    let u = text.unicodeScalars
    guard let first = u.firstIndex(where: { !isSpace($0) }) else { return "" }
    var end = u.endIndex
    while end > first {
      let p = u.index(before: end)
      if isSpace(u[p]) { end = p } else { break }
    }
    if first == u.startIndex && end == u.endIndex { return String(text) }
    return String(String.UnicodeScalarView(u[first..<end]))
  }
}
