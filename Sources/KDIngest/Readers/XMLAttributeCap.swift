import Foundation

/// Drops the attributes of one element past the first `cap` from the byte
/// stream before libxml2 sees it (issue 16).
///
/// libxml2 2.9 checks each attribute of a start tag against all earlier ones
/// and appends each to the end of a linked list it walks from the head, so an
/// element with n attributes costs O(n²): 200k attributes on one element (a
/// 2.3 MB file) took 55–80 s. kd's readers use a handful of known attributes,
/// so attributes after the 10,000th of one element are left out, which keeps
/// parsing linear; the count is reported (`dropped`).
///
/// The filter follows just enough XML syntax to know where start tags are:
/// text, comments, CDATA sections, processing instructions, the DOCTYPE
/// (internal subset, its comments and quoted literals), end tags, and start
/// tags with quoted attribute values. It only ever removes bytes, between an
/// attribute's name and the end of its start tag (a `/>` is kept).
/// Filtering is in place and never writes more bytes than it reads.
struct XMLAttributeCap {
  static let defaultCap = 10_000

  enum State {
    case text, lt, bang, bangDash, comment, cdata, pi, decl, declQuote, declComment, endTag
    case tagName, tag, attrName, attrValue
  }

  let cap: Int
  private(set) var state = State.text
  /// Attributes left out so far.
  private(set) var dropped = 0
  private var attributes = 0
  private var dropping = false
  private var quote: UInt8 = 0
  private var run = 0          // dashes, `]`s or a `?` before a possible end
  private var depth = 0        // DOCTYPE internal-subset brackets
  private var declMarkup = 0   // progress through "<!-" inside the internal subset

  init(cap: Int = XMLAttributeCap.defaultCap) { self.cap = cap }

  private static let lt = UInt8(ascii: "<"), gt = UInt8(ascii: ">"), slash = UInt8(ascii: "/")
  private static let bangChar = UInt8(ascii: "!"), question = UInt8(ascii: "?"), dash = UInt8(ascii: "-")
  private static let openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]"), equals = UInt8(ascii: "=")
  private static let dq = UInt8(ascii: "\""), sq = UInt8(ascii: "'")

  @inline(__always) private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

  /// Filters `count` bytes at `buffer` in place; returns how many remain.
  mutating func filter(_ buffer: UnsafeMutablePointer<UInt8>, count: Int) -> Int {
    var r = 0, w = 0
    while r < count {
      // Fast paths: runs of text and of attribute values hold no markup.
      if state == .text && !dropping {
        let rest = count - r
        if let p = memchr(buffer + r, Int32(Self.lt), rest) {
          let n = buffer.distance(to: p.assumingMemoryBound(to: UInt8.self)) - r
          if w != r { memmove(buffer + w, buffer + r, n) }
          w += n; r += n
        } else {
          if w != r { memmove(buffer + w, buffer + r, rest) }
          return w + rest
        }
      }
      let b = buffer[r]
      r += 1
      // In place: never more bytes out than in.
      if step(b) {
        buffer[w] = b
        w += 1
      }
    }
    return w
  }

  /// Advances the state by one byte; false when the byte is dropped.
  @inline(__always)
  private mutating func step(_ b: UInt8) -> Bool {
    switch state {
    case .text:
      if b == Self.lt { state = .lt }
    case .lt:
      if b == Self.slash { state = .endTag }
      else if b == Self.question { state = .pi; run = 0 }
      else if b == Self.bangChar { state = .bang }
      else if b == Self.lt { state = .lt }
      else { state = .tagName; attributes = 0 }
    case .bang:
      if b == Self.dash { state = .bangDash }
      else if b == Self.openBracket { state = .cdata; run = 0 }
      else { state = .decl; depth = 0; declMarkup = 0 }
    case .bangDash:
      if b == Self.dash { state = .comment; run = 0 } else { state = .decl; depth = 0; declMarkup = 0 }
    case .comment:
      if b == Self.dash { run += 1 } else if b == Self.gt && run >= 2 { state = .text } else { run = 0 }
    case .cdata:
      if b == Self.closeBracket { run += 1 } else if b == Self.gt && run >= 2 { state = .text } else { run = 0 }
    case .pi:
      if b == Self.question { run = 1 } else if b == Self.gt && run == 1 { state = .text } else { run = 0 }
    case .decl:
      if depth > 0 {
        // "<!--" inside the internal subset starts a comment.
        if b == Self.lt { declMarkup = 1; return true }
        if declMarkup == 1 && b == Self.bangChar { declMarkup = 2; return true }
        if declMarkup == 2 && b == Self.dash { declMarkup = 3; return true }
        if declMarkup == 3 && b == Self.dash { declMarkup = 0; state = .declComment; run = 0; return true }
        declMarkup = 0
      }
      if b == Self.dq || b == Self.sq { quote = b; state = .declQuote }
      else if b == Self.openBracket { depth += 1 }
      else if b == Self.closeBracket { depth = max(0, depth - 1) }
      else if b == Self.gt && depth == 0 { state = .text }
    case .declQuote:
      if b == quote { state = .decl }
    case .declComment:
      if b == Self.dash { run += 1 } else if b == Self.gt && run >= 2 { state = .decl } else { run = 0 }
    case .endTag:
      if b == Self.gt { state = .text }
    case .tagName:
      if Self.isSpace(b) { state = .tag }
      else if b == Self.gt { state = .text }
      else if b == Self.slash { state = .tag }
      else if b == Self.lt { state = .lt }
    case .tag, .attrName:
      if b == Self.gt {
        state = .text
        dropping = false
        return true
      }
      if b == Self.lt { state = .lt; dropping = false; return true }
      if b == Self.dq || b == Self.sq {
        quote = b
        state = .attrValue
      } else if Self.isSpace(b) || b == Self.equals {
        state = .tag
      } else if b == Self.slash {
        // Outside a value a `/` is only legal before the closing `>`: kept.
        state = .tag
        return true
      } else if state == .tag {
        state = .attrName
        attributes += 1
        if attributes > cap {
          dropping = true
          dropped += 1
        }
      }
      return !dropping
    case .attrValue:
      if b == quote { state = .tag }
      return !dropping
    }
    return true
  }
}
