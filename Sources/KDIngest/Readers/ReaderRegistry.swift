import CZlib
import Foundation
import KDCore

/// Finds the structured reader for a file, by sniffing its first bytes or by
/// the name a corpus manifest gives.
///
/// Detection looks at the root element (after the XML declaration, comments,
/// processing instructions and DOCTYPE) and its namespace:
///
/// | root / content | reader |
/// |---|---|
/// | `PubmedArticleSet`, `MedlineCitationSet` | `pubmed` |
/// | `article` (JATS/NLM DOCTYPE, `.nxml`, or `<front>`), `pmc-articleset` | `jats` |
/// | a USLM namespace (GPO or House), or `lawDoc`/`pLaw`/`uscDoc` | `uslm` |
/// | `akomaNtoso` | `akn` |
/// | HTML with EDGAR markers (inline XBRL, `<DOCUMENT><TYPE>`, SEC header) | `edgar` |
///
/// Anything else returns nil: configure a `generic` reader in the manifest.
public enum ReaderRegistry {
  /// The reader names `reader(named:options:)` accepts.
  public static let names = ["pubmed", "jats", "uslm", "akn", "edgar", "generic"]

  /// The reader for a file, judged from its first bytes (gzip is decompressed
  /// first); nil when the format is unknown.
  /// - Parameters:
  ///   - path: the file's path (its extension is a hint for JATS and HTML).
  ///   - prefix: the first bytes of the file as stored (a few KB is enough).
  public static func detect(path: String, prefix: [UInt8]) -> StructuredReader? {
    guard let name = detectName(path: path, prefix: prefix) else { return nil }
    return try? reader(named: name, options: [:])
  }

  /// The reader for a file, reading (and inflating) as much of its start as
  /// `sniffPrefix(path:)` needs.
  /// - Throws: `KDError.io` when the file cannot be read.
  public static func detect(path: String) throws -> StructuredReader? {
    detect(path: path, prefix: try sniffPrefix(path: path))
  }

  /// The most decompressed bytes format detection reads to get past a prolog
  /// (XML declaration, comments, a DOCTYPE with its internal subset).
  public static let maxSniffBytes = 16 << 20

  /// The decompressed start of a file, long enough to hold its root start tag:
  /// 64 KB first, then four times more while the prolog (a long internal DTD
  /// subset, say) has not ended, up to `maxSniffBytes`.
  /// - Throws: `KDError.io` when the file cannot be read.
  public static func sniffPrefix(path: String) throws -> [UInt8] {
    var count = 64 << 10
    while true {
      let bytes = try CompressedFileInput.prefix(path: path, count: count)
      if bytes.count < count || count >= maxSniffBytes { return bytes }
      let sniff = XMLSniff(bytes)
      if sniff.rootName != nil || sniff.looksLikeEDGAR { return bytes }
      count = min(count * 4, maxSniffBytes)
    }
  }

  /// The name of the reader `detect` would pick, or nil.
  public static func detectName(path: String, prefix: [UInt8]) -> String? {
    var bytes = prefix
    if bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B {
      bytes = gunzipPrefix(bytes) ?? []
    }
    let sniff = XMLSniff(bytes)
    let lowerPath = path.lowercased()
    if sniff.looksLikeEDGAR { return "edgar" }
    guard let root = sniff.rootName else { return nil }
    let local = root.split(separator: ":").last.map(String.init) ?? root
    switch local {
    case "PubmedArticleSet", "MedlineCitationSet": return "pubmed"
    case "pmc-articleset": return "jats"
    case "article":
      if lowerPath.hasSuffix(".nxml") || lowerPath.hasSuffix(".nxml.gz") || sniff.doctypeMentions(["JATS", "NLM", "Journal Archiving", "Journal Publishing"])
        || sniff.contains("<front") || sniff.contains("dtd-version=")
      {
        return "jats"
      }
      return nil
    case "akomaNtoso": return "akn"
    default: break
    }
    if let ns = sniff.rootNamespace, USLMReader.isUSLMNamespace(ns) { return "uslm" }
    if ["lawDoc", "pLaw", "uscDoc"].contains(local) { return "uslm" }
    if ["bill", "resolution", "amendment"].contains(local) && sniff.contains("<meta") && sniff.contains("docNumber") {
      return "uslm"
    }
    if local.lowercased() == "html" && (lowerPath.contains("10-k") || lowerPath.contains("10-q") || lowerPath.contains("8-k")) {
      return "edgar"
    }
    return nil
  }

  /// A reader by name, configured from manifest options.
  ///
  /// Options: `jats` takes `include_tables`, `include_figures`, `include_references`
  /// (Bool); `generic` takes the `GenericXMLConfig` keys (`record_path`, `text_paths`,
  /// `id_path`, `label_paths`, `title_path`, `namespaces`).
  /// - Throws: `KDError.usage` for an unknown name or a bad option.
  public static func reader(named name: String, options: [String: Any]) throws -> StructuredReader {
    switch name.lowercased() {
    case "pubmed", "medline": return PubMedReader()
    case "jats", "pmc", "nxml":
      return JATSReader(
        includeTables: try bool(options, "include_tables", reader: "jats") ?? false,
        includeFigures: try bool(options, "include_figures", reader: "jats") ?? false,
        includeReferences: try bool(options, "include_references", reader: "jats") ?? false)
    case "uslm": return USLMReader()
    case "akn", "akomantoso", "akoma_ntoso", "akoma-ntoso": return AkomaNtosoReader()
    case "edgar", "sec", "sec-edgar": return EDGARReader()
    case "generic", "xml":
      return try GenericXMLReader(config: GenericXMLConfig(options: options))
    default:
      throw KDError(.usage, "unknown reader '\(name)'; known readers: \(names.joined(separator: ", "))", field: "reader")
    }
  }

  private static func bool(_ options: [String: Any], _ key: String, reader: String) throws -> Bool? {
    guard let value = options[key] else { return nil }
    if let b = value as? Bool { return b }
    if let s = value as? String {
      switch s.lowercased() {
      case "true", "yes", "1": return true
      case "false", "no", "0": return false
      default: break
      }
    }
    throw KDError(.usage, "option '\(key)' of reader '\(reader)' must be true or false, got '\(value)'", field: key)
  }

  /// Inflates as much of a gzip prefix as it can (a truncated stream is fine).
  static func gunzipPrefix(_ bytes: [UInt8], limit: Int = 16 << 10) -> [UInt8]? {
    var stream = z_stream()
    guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
    defer { inflateEnd(&stream) }
    var input = bytes
    var output = [UInt8](repeating: 0, count: limit)
    let produced: Int = input.withUnsafeMutableBufferPointer { inBuf in
      output.withUnsafeMutableBufferPointer { outBuf in
        stream.next_in = inBuf.baseAddress
        stream.avail_in = UInt32(inBuf.count)
        stream.next_out = outBuf.baseAddress
        stream.avail_out = UInt32(outBuf.count)
        _ = inflate(&stream, Z_SYNC_FLUSH)
        return outBuf.count - Int(stream.avail_out)
      }
    }
    return Array(output[0..<produced])
  }
}

/// A lightweight look at the start of a markup file: root element name, its
/// namespace, the DOCTYPE, and EDGAR markers. Works on bytes, never parses fully.
struct XMLSniff {
  let bytes: [UInt8]
  private(set) var rootName: String?
  private(set) var rootNamespace: String?
  private(set) var doctype: String = ""

  init(_ bytes: [UInt8]) {
    var start = 0
    if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { start = 3 }
    self.bytes = Array(bytes[start...])
    scan()
  }

  func contains(_ needle: String) -> Bool { XMLSniff.find(Array(needle.utf8), in: bytes, caseInsensitive: false) }
  func containsIgnoringCase(_ needle: String) -> Bool {
    XMLSniff.find(Array(needle.lowercased().utf8), in: bytes, caseInsensitive: true)
  }
  func doctypeMentions(_ words: [String]) -> Bool { words.contains { doctype.contains($0) } }

  /// EDGAR filing markers: SGML `<DOCUMENT>` wrapper, SEC header, or an HTML
  /// page with inline XBRL / SEC cover-page wording.
  var looksLikeEDGAR: Bool {
    let trimmed = bytes.drop(while: { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 })
    if trimmed.starts(with: Array("<DOCUMENT>".utf8)) || trimmed.starts(with: Array("<SEC-DOCUMENT>".utf8)) { return true }
    let isHTML = (rootName?.lowercased() == "html") || containsIgnoringCase("<html")
    guard isHTML else { return false }
    return contains("http://www.xbrl.org/2013/inlineXBRL") || contains("xbrl.sec.gov") || contains("www.sec.gov")
      || containsIgnoringCase("securities and exchange commission")
  }

  private mutating func scan() {
    var i = 0
    let n = bytes.count
    func starts(_ s: String, at j: Int) -> Bool {
      let u = Array(s.utf8)
      return j + u.count <= n && Array(bytes[j..<j + u.count]) == u
    }
    while i < n {
      guard bytes[i] == UInt8(ascii: "<") else { i += 1; continue }
      if starts("<?", at: i) {
        i = XMLSniff.index(of: Array("?>".utf8), in: bytes, from: i) ?? n
      } else if starts("<!--", at: i) {
        i = XMLSniff.index(of: Array("-->".utf8), in: bytes, from: i) ?? n
      } else if starts("<!", at: i) {
        // DOCTYPE, possibly with an internal subset in brackets.
        var j = i + 2
        var bracket = 0
        while j < n {
          if bytes[j] == UInt8(ascii: "[") { bracket += 1 }
          if bytes[j] == UInt8(ascii: "]") { bracket -= 1 }
          if bytes[j] == UInt8(ascii: ">") && bracket <= 0 { break }
          j += 1
        }
        doctype = String(decoding: bytes[i..<min(j, n)], as: UTF8.self)
        i = j
      } else {
        // The root start tag.
        var j = i + 1
        while j < n, !XMLSniff.isSpace(bytes[j]), bytes[j] != UInt8(ascii: ">"), bytes[j] != UInt8(ascii: "/") { j += 1 }
        let name = String(decoding: bytes[(i + 1)..<j], as: UTF8.self)
        rootName = name
        let end = XMLSniff.index(of: [UInt8(ascii: ">")], in: bytes, from: j) ?? n
        let tag = String(decoding: bytes[j..<end], as: UTF8.self)
        let prefix = name.contains(":") ? String(name.split(separator: ":")[0]) : nil
        let attribute = prefix.map { "xmlns:\($0)" } ?? "xmlns"
        rootNamespace = XMLSniff.attributeValue(attribute, in: tag)
        return
      }
      i += 1
    }
  }

  static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

  static func attributeValue(_ name: String, in tag: String) -> String? {
    var search = tag[...]
    while let r = search.range(of: name) {
      var rest = search[r.upperBound...].drop(while: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
      let before = r.lowerBound == tag.startIndex ? " " : tag[tag.index(before: r.lowerBound)]
      if rest.first == "=" && (before == " " || before == "\n" || before == "\t" || before == "\r") {
        rest = rest.dropFirst().drop(while: { $0 == " " })
        guard let quote = rest.first, quote == "\"" || quote == "'" else { return nil }
        let value = rest.dropFirst().prefix(while: { $0 != quote })
        return String(value)
      }
      search = search[r.upperBound...]
    }
    return nil
  }

  static func index(of needle: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
    guard !needle.isEmpty, bytes.count >= needle.count else { return nil }
    var i = from
    while i + needle.count <= bytes.count {
      if bytes[i] == needle[0] && Array(bytes[i..<i + needle.count]) == needle { return i + needle.count - 1 }
      i += 1
    }
    return nil
  }

  static func find(_ needle: [UInt8], in bytes: [UInt8], caseInsensitive: Bool) -> Bool {
    guard !needle.isEmpty, bytes.count >= needle.count else { return false }
    let last = bytes.count - needle.count
    var i = 0
    while i <= last {
      var k = 0
      while k < needle.count {
        var b = bytes[i + k]
        if caseInsensitive && b >= 0x41 && b <= 0x5A { b += 0x20 }
        if b != needle[k] { break }
        k += 1
      }
      if k == needle.count { return true }
      i += 1
    }
    return false
  }
}
