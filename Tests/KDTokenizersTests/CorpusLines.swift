import Foundation
import KDCore

/// Text lines of ../shared/corpora, defined exactly as tools/tokenizers/corpus_lines.py defines them.
enum CorpusLines {
  /// Relative paths of every regular file except *.gz, sorted by UTF-8 bytes.
  static func files(root: URL) -> [String] {
    guard let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
    var out: [String] = []
    let base = root.standardizedFileURL.path
    for case let url as URL in e {
      guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
      var rel = url.standardizedFileURL.path
      if rel.hasPrefix(base) { rel = String(rel.dropFirst(base.count)) }
      while rel.hasPrefix("/") { rel.removeFirst() }
      if rel.hasSuffix(".gz") { continue }
      out.append(rel)
    }
    return out.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
  }

  static func lines(of url: URL) throws -> (texts: [String], hash: String) {
    let data = try Data(contentsOf: url)
    let hash = data.withUnsafeBytes { StableHash.hex(StableHash.fnv1a64($0)) }
    if url.pathExtension == "csv" { return (csvTexts(String(decoding: data, as: UTF8.self)), hash) }
    var out: [String] = []
    data.withUnsafeBytes { raw in
      let b = raw.bindMemory(to: UInt8.self)
      var start = 0
      for i in 0...b.count {
        if i == b.count || b[i] == 0x0A {
          if i == b.count && start == b.count { break }
          var end = i
          if end > start && b[end - 1] == 0x0D { end -= 1 }
          out.append(String(decoding: UnsafeBufferPointer(rebasing: b[start..<end]), as: UTF8.self))
          start = i + 1
        }
      }
    }
    return (out, hash)
  }

  /// RFC 4180 records as Python's `csv.reader` (excel dialect, non-strict) reads them.
  static func csvRows(_ text: String) -> [[String]] {
    let s = Array(text.unicodeScalars)
    var rows: [[String]] = []
    var row: [String] = []
    var field = String.UnicodeScalarView()
    var i = 0
    var inQuotes = false
    var fieldStarted = false
    func endField() { row.append(String(field)); field = String.UnicodeScalarView(); fieldStarted = false }
    func endRow() { rows.append(row); row = [] }
    while i < s.count {
      let c = s[i]
      if inQuotes {
        if c == "\"" {
          if i + 1 < s.count && s[i + 1] == "\"" { field.append("\""); i += 2; continue }
          inQuotes = false
        } else {
          field.append(c)
        }
        i += 1
        continue
      }
      switch c {
      case "\"" where !fieldStarted:
        inQuotes = true
        fieldStarted = true
      case ",":
        endField()
        fieldStarted = false
      case "\n", "\r":
        if fieldStarted || !row.isEmpty || !field.isEmpty { endField(); endRow() } else { endRow() }
        if c == "\r" && i + 1 < s.count && s[i + 1] == "\n" { i += 1 }
      default:
        field.append(c)
        fieldStarted = true
      }
      i += 1
    }
    if fieldStarted || !row.isEmpty || !field.isEmpty { endField(); endRow() }
    return rows
  }

  static func csvTexts(_ text: String) -> [String] {
    let rows = csvRows(text)
    guard let header = rows.first else { return [] }
    let body = rows.dropFirst()
    let width = header.count
    var totals = [Int](repeating: 0, count: width)
    for r in body { for i in 0..<min(width, r.count) { totals[i] += r[i].unicodeScalars.count } }
    var col = 0
    for i in 0..<width where totals[i] > totals[col] { col = i }
    return body.map { col < $0.count ? $0[col] : "" }
  }
}

/// The line digest of tools/tokenizers/make_goldens.py (`line_digest_update`).
struct LineDigest {
  var h: UInt64 = 0xCBF2_9CE4_8422_2325
  @inline(__always) mutating func mix(_ v: UInt64) { h = (h ^ v) &* 0x100_0000_01B3 }
  mutating func add(ids: [Int32], offsets: [(Int, Int)]) {
    for v in ids { mix(UInt64(UInt32(bitPattern: v))) }
    mix(0xFFFF_FFFF)
    for (s, e) in offsets { mix(UInt64(s)); mix(UInt64(e)) }
    mix(0xFFFF_FFFE)
  }
  var hex: String { StableHash.hex(h) }
}
