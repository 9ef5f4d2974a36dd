import Foundation

/// Splits text into sentences with a rule-based splitter: a sentence ends at
/// `.`, `!` or `?` (plus closing quotes/brackets) followed by whitespace and an
/// uppercase letter, digit or opening quote, unless the word before is a
/// known abbreviation (e.g., Dr., U.S., Fig.). Returns character ranges into
/// the input (as UTF-16-free `String.Index` ranges), never dropping text.
public enum SentenceSplitter {
  static let abbreviations: Set<String> = [
    "e.g", "i.e", "etc", "vs", "dr", "mr", "mrs", "ms", "prof", "fig", "figs", "al", "no", "nos", "vol", "pp",
    "inc", "ltd", "co", "corp", "jr", "sr", "st", "approx", "ca", "cf", "u.s", "u.k", "e.u", "sec", "art",
    "para", "ref", "refs", "eq", "min", "max", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "nov", "dec", "mt", "gen", "rev", "hon", "ph.d", "m.d", "b.a", "m.a", "u.s.c", "v",
  ]

  /// Sentence ranges in `text`, trimmed of surrounding whitespace; empty ones dropped.
  public static func split(_ text: String) -> [Range<String.Index>] {
    var out: [Range<String.Index>] = []
    let scalars = text.unicodeScalars
    var start = scalars.startIndex
    var i = scalars.startIndex
    func emit(_ end: String.Index) {
      var s = start, e = end
      while s < e && CharacterSet.whitespacesAndNewlines.contains(scalars[s]) { s = scalars.index(after: s) }
      while e > s {
        let p = scalars.index(before: e)
        if CharacterSet.whitespacesAndNewlines.contains(scalars[p]) { e = p } else { break }
      }
      if s < e { out.append(s..<e) }
    }
    while i < scalars.endIndex {
      let c = scalars[i]
      if c == "." || c == "!" || c == "?" {
        var j = scalars.index(after: i)
        while j < scalars.endIndex && "\"')]»’”".unicodeScalars.contains(scalars[j]) { j = scalars.index(after: j) }
        guard j < scalars.endIndex, CharacterSet.whitespacesAndNewlines.contains(scalars[j]) else {
          i = scalars.index(after: i)
          continue
        }
        var k = j
        while k < scalars.endIndex && CharacterSet.whitespacesAndNewlines.contains(scalars[k]) { k = scalars.index(after: k) }
        let nextOK = k == scalars.endIndex
          || CharacterSet.uppercaseLetters.contains(scalars[k]) || CharacterSet.decimalDigits.contains(scalars[k])
          || "\"'([“‘".unicodeScalars.contains(scalars[k])
        if nextOK && (c != "." || !endsWithAbbreviation(text, before: i, start: start)) {
          emit(j)
          start = k
          i = k
          continue
        }
      }
      i = scalars.index(after: i)
    }
    emit(scalars.endIndex)
    return out
  }

  static func endsWithAbbreviation(_ text: String, before dot: String.Index, start: String.Index) -> Bool {
    var s = dot
    let scalars = text.unicodeScalars
    while s > start {
      let p = scalars.index(before: s)
      let ch = scalars[p]
      if CharacterSet.letters.contains(ch) || ch == "." { s = p } else { break }
    }
    let word = String(text.unicodeScalars[s..<dot]).lowercased()
    if word.isEmpty { return false }
    if abbreviations.contains(word) { return true }
    // Single letters ("J. Smith") and dotted initialisms ("U.S.A").
    if word.count == 1 { return true }
    return false
  }
}
