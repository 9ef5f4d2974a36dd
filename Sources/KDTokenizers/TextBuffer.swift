/// Code points being normalized, each with the range of original code points
/// (character offsets into the input) it came from.
///
/// This mirrors HF's `NormalizedString` alignments, kept per code point instead
/// of per byte: a token's offsets are `starts[first] ..< ends[last]`.
struct TextBuffer {
  var chars: [UInt32] = []
  var starts: [Int32] = []
  var ends: [Int32] = []

  var count: Int { chars.count }

  mutating func removeAll() {
    chars.removeAll(keepingCapacity: true)
    starts.removeAll(keepingCapacity: true)
    ends.removeAll(keepingCapacity: true)
  }

  @inline(__always)
  mutating func append(_ c: UInt32, _ s: Int32, _ e: Int32) {
    chars.append(c)
    starts.append(s)
    ends.append(e)
  }

  mutating func reserve(_ n: Int) {
    chars.reserveCapacity(n)
    starts.reserveCapacity(n)
    ends.reserveCapacity(n)
  }
}

/// A pre-tokenized piece: a range of the working buffer, or an added token.
struct Piece {
  var start: Int32
  var end: Int32
  /// Original character offset where the piece's source text begins (HF `offsets_original().0`).
  var originalStart: Int32
  /// The id of an added token matched here, or -1 for text.
  var addedID: Int32
  /// Original offsets of an added token.
  var addedStart: Int32 = 0
  var addedEnd: Int32 = 0
}

/// How a split pattern's matches are kept (HF `SplitDelimiterBehavior`).
enum SplitBehavior: String {
  case removed, isolated, mergedWithPrevious, mergedWithNext, contiguous

  init(json node: JSONNode) throws {
    let s = try node.string()
    switch s {
    case "Removed": self = .removed
    case "Isolated": self = .isolated
    case "MergedWithPrevious": self = .mergedWithPrevious
    case "MergedWithNext": self = .mergedWithNext
    case "Contiguous": self = .contiguous
    default: throw node.error("unknown split behavior \"\(s)\" (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)")
    }
  }

  /// Applies the behavior to a contiguous list of (start, end, isMatch) ranges; appends non-empty results.
  func apply(_ ranges: [(Int32, Int32, Bool)], into out: inout [(Int32, Int32)]) {
    let base = out.count
    switch self {
    case .removed:
      for r in ranges where !r.2 { out.append((r.0, r.1)) }
    case .isolated:
      for r in ranges { out.append((r.0, r.1)) }
    case .mergedWithPrevious:
      var previousMatch = false
      for r in ranges {
        if r.2 && !previousMatch && out.count > base {
          out[out.count - 1].1 = r.1
        } else {
          out.append((r.0, r.1))
        }
        previousMatch = r.2
      }
    case .mergedWithNext:
      var previousMatch = false
      var tmp: [(Int32, Int32)] = []
      for r in ranges.reversed() {
        if r.2 && !previousMatch && !tmp.isEmpty {
          tmp[tmp.count - 1].0 = r.0
        } else {
          tmp.append((r.0, r.1))
        }
        previousMatch = r.2
      }
      out.append(contentsOf: tmp.reversed())
    case .contiguous:
      var previousMatch = false
      for r in ranges {
        if r.2 == previousMatch && out.count > base {
          out[out.count - 1].1 = r.1
        } else {
          out.append((r.0, r.1))
        }
        previousMatch = r.2
      }
    }
    // Drop empty ranges.
    var w = base
    for i in base..<out.count where out[i].0 < out[i].1 {
      out[w] = out[i]
      w += 1
    }
    out.removeLast(out.count - w)
  }
}
