import CLibXML2
import Foundation
import KDCore

/// Reads SEC EDGAR filing documents: HTML or XHTML with inline XBRL, also
/// when wrapped in EDGAR's SGML `<DOCUMENT><TYPE>...<TEXT>` envelope.
///
/// Streams the file through libxml2's HTML push parser (recovering from bad
/// markup) and keeps only visible text: `script`, `style`, `head`, `ix:header`
/// and anything styled `display:none` are dropped. The form type comes from the
/// inline-XBRL `dei:DocumentType` fact, else the SGML `<TYPE>`, else the cover
/// page ("FORM 10-K"), else the file name.
///
/// 10-K, 10-Q, 20-F and 8-K documents are split into Items: a section per
/// Item with the heading as written ("Item 1A. Risk Factors") and the label
/// `1A` (10-K, 20-F), `I-2` / `II-1A` (10-Q: part and item) or `2.02` (8-K);
/// table-of-contents entries are told apart from the real headings by the
/// amount of text that follows them. Text before the first Item (the cover
/// page) is a section without label. Other documents (exhibits, press
/// releases) are one section. Labels: `form`. Metadata: `form`, `filename`.
public struct EDGARReader: StructuredReader {
  public var format: String { "edgar" }

  public init() {}

  public func read(path: String, emit: (ReaderEvent) throws -> Void) throws {
    XMLSafety.install()
    let input = try CompressedFileInput(path: path)
    let collector = EDGARCollector()
    var sax = htmlSAXHandler()
    sax.initialized = XML_SAX2_MAGIC
    sax.startElement = { context, name, attributes in
      guard let context, let name else { return }
      Unmanaged<EDGARCollector>.fromOpaque(context).takeUnretainedValue().start(name, attributes)
    }
    sax.endElement = { context, _ in
      guard let context else { return }
      Unmanaged<EDGARCollector>.fromOpaque(context).takeUnretainedValue().end()
    }
    sax.characters = { context, text, count in
      guard let context, let text else { return }
      Unmanaged<EDGARCollector>.fromOpaque(context).takeUnretainedValue().characters(text, Int(count))
    }
    sax.serror = { _, _ in }

    let chunkSize = 1 << 18
    var chunk = [UInt8](repeating: 0, count: chunkSize)
    var filled = 0
    func fill() -> Int32 {
      chunk.withUnsafeMutableBytes { raw in input.read(into: raw.baseAddress!, count: chunkSize) }
    }
    let first = fill()
    if first < 0 { throw KDError(.input, "cannot read: \(input.errorMessage ?? "read error")", file: path) }
    filled = Int(first)
    if filled == 0 { throw KDError(.input, "empty file", file: path) }
    // Strip an SGML envelope header, keeping its TYPE and FILENAME.
    var start = 0
    var envelopeType: String?
    if let envelope = SGMLEnvelope(chunk[0..<filled]) {
      start = envelope.textStart
      envelopeType = envelope.type
      if let name = envelope.filename { collector.metadata["filename"] = name }
    }
    let isUTF8 = String(validating: chunk[start..<filled].prefix(64 << 10).dropLast(4), as: UTF8.self) != nil
    let encoding = isUTF8 ? XML_CHAR_ENCODING_UTF8 : XML_CHAR_ENCODING_NONE
    let context = Unmanaged.passUnretained(collector).toOpaque()
    guard let parser = htmlCreatePushParserCtxt(&sax, context, nil, 0, path, encoding) else {
      throw KDError(.io, "cannot create an HTML parser", file: path)
    }
    defer { htmlFreeParserCtxt(parser) }
    htmlCtxtUseOptions(parser, Int32(
      HTML_PARSE_NONET.rawValue | HTML_PARSE_NOERROR.rawValue | HTML_PARSE_NOWARNING.rawValue | HTML_PARSE_RECOVER.rawValue))
    var offset = start
    while true {
      if filled > offset {
        _ = chunk.withUnsafeBufferPointer { buffer in
          buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: filled) { p in
            htmlParseChunk(parser, p + offset, Int32(filled - offset), 0)
          }
        }
      }
      let n = fill()
      if n < 0 { throw KDError(.input, "cannot decompress: \(input.errorMessage ?? "read error")", file: path) }
      if n == 0 { break }
      filled = Int(n)
      offset = 0
    }
    htmlParseChunk(parser, nil, 0, 1)
    collector.flush()

    let form = collector.documentType.flatMap(Self.normalizedForm) ?? envelopeType.flatMap(Self.normalizedForm)
      ?? Self.formFromCover(collector.blocks) ?? Self.formFromFilename(path)
    var metadata = collector.metadata
    let facts = collector.facts
    if let company = facts["EntityRegistrantName"] { metadata["company"] = company }
    if let cik = facts["EntityCentralIndexKey"] { metadata["cik"] = cik }
    if let period = facts["DocumentPeriodEndDate"] { metadata["period"] = period }
    let title = [facts["EntityRegistrantName"], form].compactMap { $0 }.joined(separator: " ")
    var labels: [String: [String]] = [:]
    if let form {
      metadata["form"] = form
      labels["form"] = [form]
    }
    let sections = Self.sections(blocks: collector.blocks, form: form)
    if sections.isEmpty { throw KDError(.input, "no visible text in HTML document", file: path) }
    let externalID = collector.metadata["filename"] ?? URL(fileURLWithPath: path).lastPathComponent
    try emit(.document(ReaderDocument(externalID: externalID, title: title.isEmpty ? nil : title, sections: sections, labels: labels, metadata: metadata)))
  }

  /// "10-K", "10-K/A", "8-K", "EX-99.1"... from free text; nil when it is not a form type.
  static func normalizedForm(_ raw: String) -> String? {
    let s = raw.trimmingCharacters(in: .whitespacesAndNewlines).uppercased()
    guard !s.isEmpty, s.count <= 20, s.first?.isLetter == true || s.first?.isNumber == true else { return nil }
    return s
  }

  static func formFromCover(_ blocks: [String]) -> String? {
    for block in blocks.prefix(80) {
      let upper = block.uppercased()
      guard let range = upper.range(of: "FORM ") else { continue }
      let rest = upper[range.upperBound...].prefix(12)
      let token = rest.prefix(while: { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "/" })
      if ["10-K", "10-Q", "8-K", "20-F", "6-K", "10-K/A", "10-Q/A", "8-K/A", "S-1", "40-F", "10-KT"].contains(String(token)) {
        return String(token)
      }
    }
    return nil
  }

  static func formFromFilename(_ path: String) -> String? {
    let name = URL(fileURLWithPath: path).lastPathComponent.uppercased()
    for form in ["10-K", "10-Q", "8-K", "20-F", "6-K"] where name.contains(form) { return form }
    return nil
  }

  /// An Item heading found at the start of a block.
  struct ItemHeading {
    var block: Int
    var label: String
    var heading: String
  }

  /// Splits blocks into Item sections for forms that have Items.
  static func sections(blocks: [String], form: String?) -> [DocumentSection] {
    let kind = form.map { f -> String in
      if f.hasPrefix("10-K") { return "10-K" }
      if f.hasPrefix("10-Q") { return "10-Q" }
      if f.hasPrefix("8-K") { return "8-K" }
      if f.hasPrefix("20-F") { return "20-F" }
      return ""
    } ?? ""
    let whole = { () -> [DocumentSection] in
      let text = blocks.joined(separator: "\n\n")
      return text.isEmpty ? [] : [DocumentSection(text: text)]
    }
    guard !kind.isEmpty else { return whole() }

    var candidates: [ItemHeading] = []
    var part: String?
    for (i, block) in blocks.enumerated() {
      if let p = partNumber(block) { part = p }
      guard var item = itemLabel(block) else { continue }
      if kind == "8-K" && !item.contains(".") { continue }
      if kind != "8-K" && item.contains(".") { continue }
      if kind == "10-Q", let part { item = "\(part)-\(item)" }
      var heading = block
      if heading.count < 16, i + 1 < blocks.count, blocks[i + 1].count < 160 { heading += " " + blocks[i + 1] }
      candidates.append(ItemHeading(block: i, label: item, heading: String(heading.prefix(200))))
    }
    guard !candidates.isEmpty else { return whole() }
    // Text that follows each candidate up to the next one.
    var blockLengths = [Int](repeating: 0, count: blocks.count + 1)
    for (i, block) in blocks.enumerated() { blockLengths[i + 1] = blockLengths[i] + block.utf8.count }
    let spans = candidates.indices.map { k -> Int in
      let end = k + 1 < candidates.count ? candidates[k + 1].block : blocks.count
      return blockLengths[end] - blockLengths[candidates[k].block + 1]
    }
    // Candidates in increasing Item order form runs: a table of contents is one
    // run with little text, the body another with most of it. Take the run with
    // the most text, then fill in Items it lacks with their longest occurrence.
    var runs: [[Int]] = []
    for k in candidates.indices {
      if let last = runs.last?.last, itemOrder(candidates[k].label).lexicographicallyPrecedes(itemOrder(candidates[last].label)) == false,
        itemOrder(candidates[k].label) != itemOrder(candidates[last].label)
      {
        runs[runs.count - 1].append(k)
      } else {
        runs.append([k])
      }
    }
    let bestRun = runs.max { a, b in a.reduce(0) { $0 + spans[$1] } < b.reduce(0) { $0 + spans[$1] } } ?? []
    var chosenIndices = Set(bestRun)
    var labels = Set(bestRun.map { candidates[$0].label })
    for k in candidates.indices.sorted(by: { spans[$0] > spans[$1] }) where !labels.contains(candidates[k].label) {
      labels.insert(candidates[k].label)
      chosenIndices.insert(k)
    }
    let chosen = chosenIndices.sorted().map { candidates[$0] }
    var sections: [DocumentSection] = []
    if let first = chosen.first, first.block > 0 {
      sections.append(DocumentSection(text: blocks[0..<first.block].joined(separator: "\n\n")))
    }
    for (k, item) in chosen.enumerated() {
      let end = k + 1 < chosen.count ? chosen[k + 1].block : blocks.count
      let text = blocks[(item.block + 1)..<end].joined(separator: "\n\n")
      sections.append(DocumentSection(heading: item.heading, label: item.label, identifier: "item-\(item.label)", text: text))
    }
    return sections
  }

  /// A sort key for Item labels: "II-1A" → [2, 1, 1], "7A" → [0, 7, 1], "2.02" → [0, 2, 2].
  static func itemOrder(_ label: String) -> [Int] {
    var part = 0
    var item = Substring(label)
    if let dash = label.firstIndex(of: "-") {
      let roman = label[..<dash]
      part = ["I": 1, "II": 2, "III": 3, "IV": 4][String(roman)] ?? 0
      item = label[label.index(after: dash)...]
    }
    let number = Int(item.prefix(while: { $0.isNumber })) ?? 0
    let rest = item.drop(while: { $0.isNumber })
    var minor = 0
    if rest.first == "." { minor = Int(rest.dropFirst()) ?? 0 } else if let letter = rest.first?.asciiValue { minor = Int(letter) - 64 }
    return [part, number, minor]
  }

  /// "PART II" at the start of a block → "II".
  static func partNumber(_ block: String) -> String? {
    let u = block.utf8
    guard u.count < 120, let first = u.first, first | 0x20 == UInt8(ascii: "p"), block.prefix(5).uppercased() == "PART " else {
      return nil
    }
    let rest = block.dropFirst(5).prefix(while: { $0 == "I" || $0 == "V" || $0 == "i" || $0 == "v" })
    guard !rest.isEmpty else { return nil }
    let after = block.dropFirst(5 + rest.count).first
    if let after, after.isLetter { return nil }
    return rest.uppercased()
  }

  /// "Item 1A. Risk Factors" → "1A"; "ITEM 2.02" → "2.02"; nil otherwise.
  static func itemLabel(_ block: String) -> String? {
    guard let first = block.utf8.first, first | 0x20 == UInt8(ascii: "i") || first | 0x20 == UInt8(ascii: "p") else { return nil }
    var s = Substring(block)
    if let p = partNumber(block) {
      s = s.dropFirst(5 + p.count).drop(while: { !$0.isLetter })
    }
    guard s.prefix(4).uppercased() == "ITEM" else { return nil }
    s = s.dropFirst(4)
    guard let space = s.first, space.isWhitespace || space.isNumber else { return nil }
    s = s.drop(while: { $0.isWhitespace })
    var digits = String(s.prefix(while: { $0.isASCII && $0.isNumber }))
    guard !digits.isEmpty, digits.count <= 2 else { return nil }
    s = s.dropFirst(digits.count)
    if s.first == ".", s.dropFirst().prefix(2).allSatisfy({ $0.isASCII && $0.isNumber }), s.dropFirst().prefix(2).count == 2 {
      digits += "." + s.dropFirst().prefix(2)
      s = s.dropFirst(3)
    } else if let letter = s.first, "ABCDabcd".contains(letter) {
      let next = s.dropFirst().first
      if next == nil || !(next!.isLetter) {
        digits += letter.uppercased()
        s = s.dropFirst()
      }
    }
    if let next = s.first, next.isLetter || next.isNumber { return nil }
    return digits
  }
}

/// EDGAR's SGML document envelope (`<DOCUMENT><TYPE>10-K<SEQUENCE>1<FILENAME>...<TEXT>`).
struct SGMLEnvelope {
  var type: String?
  var filename: String?
  var textStart: Int

  init?(_ bytes: ArraySlice<UInt8>) {
    let head = String(decoding: bytes.prefix(8192), as: UTF8.self)
    let trimmed = head.drop(while: { $0.isWhitespace })
    guard trimmed.hasPrefix("<DOCUMENT>") || trimmed.hasPrefix("<SEC-DOCUMENT>") else { return nil }
    guard let text = head.range(of: "<TEXT>") else { return nil }
    func field(_ tag: String) -> String? {
      guard let r = head.range(of: "<\(tag)>"), r.lowerBound < text.lowerBound else { return nil }
      let value = head[r.upperBound...].prefix(while: { $0 != "\n" && $0 != "\r" && $0 != "<" })
      let v = value.trimmingCharacters(in: .whitespaces)
      return v.isEmpty ? nil : v
    }
    type = field("TYPE")
    filename = field("FILENAME")
    textStart = bytes.startIndex + head.utf8.distance(from: head.utf8.startIndex, to: text.upperBound.samePosition(in: head.utf8) ?? head.utf8.startIndex)
  }
}

/// SAX state for one EDGAR HTML document: visible text split into blocks.
final class EDGARCollector {
  var blocks: [String] = []
  var metadata: [String: String] = [:]
  /// Inline-XBRL `dei:` facts seen (hidden ones included): DocumentType, EntityRegistrantName...
  var facts: [String: String] = [:]
  var documentType: String? { facts["DocumentType"] }
  private var current = TextBuilder()
  /// Per open element: did it hide its content, is it a block, does it capture the form type?
  private var open: [(hides: Bool, block: Bool, captures: Bool)] = []
  private var hidden = 0
  private var capture: TextBuilder?
  private var captureName = ""
  private static let captured: Set<String> = [
    "dei:DocumentType", "dei:EntityRegistrantName", "dei:DocumentPeriodEndDate", "dei:EntityCentralIndexKey",
  ]

  private static let hiddenTags: Set<String> = ["script", "style", "head", "title", "noscript", "ix:header", "template", "object"]
  private static let blockTags: Set<String> = [
    "p", "div", "br", "tr", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section",
    "center", "blockquote", "hr", "dt", "dd", "dl", "pre", "body", "html", "article", "header", "footer",
  ]

  func start(_ rawName: UnsafePointer<UInt8>, _ attributes: UnsafeMutablePointer<UnsafePointer<UInt8>?>?) {
    // The HTML parser reports names in lower case.
    let name = String(cString: rawName)
    var hides = Self.hiddenTags.contains(name)
    var captures = false
    if let attributes {
      var i = 0
      while let key = attributes[i] {
        let value = attributes[i + 1]
        i += 2
        guard let value else { continue }
        if nameEquals(key, "style") {
          if Self.styleHides(value) { hides = true }
        } else if nameEquals(key, "name") && name.hasPrefix("ix:") && capture == nil {
          let fact = String(cString: value)
          if Self.captured.contains(fact), facts[String(fact.dropFirst(4))] == nil {
            captures = true
            captureName = String(fact.dropFirst(4))
          }
        }
      }
    }
    let block = Self.blockTags.contains(name)
    if block { flush() }
    if name == "td" || name == "th" { current.space() }
    if hides { hidden += 1 }
    if captures { capture = TextBuilder() }
    open.append((hides, block, captures))
  }

  /// True when a CSS declaration list contains `display: none` (any case, any spacing).
  static func styleHides(_ style: UnsafePointer<UInt8>) -> Bool {
    let display = Array("display".utf8)
    var p = style
    while p.pointee != 0 {
      var k = 0
      while k < display.count, p[k] != 0, p[k] | 0x20 == display[k] { k += 1 }
      if k == display.count {
        var q = p + k
        while q.pointee == 0x20 || q.pointee == 0x09 { q += 1 }
        if q.pointee == UInt8(ascii: ":") {
          q += 1
          while q.pointee == 0x20 || q.pointee == 0x09 { q += 1 }
          if q[0] | 0x20 == UInt8(ascii: "n"), q[1] | 0x20 == UInt8(ascii: "o"), q[2] | 0x20 == UInt8(ascii: "n"),
            q[3] | 0x20 == UInt8(ascii: "e")
          {
            return true
          }
        }
      }
      p += 1
    }
    return false
  }

  func end() {
    guard let last = open.popLast() else { return }
    if last.hides { hidden -= 1 }
    if last.block { flush() }
    if last.captures, let text = capture?.string {
      if !text.isEmpty { facts[captureName] = text }
      capture = nil
    }
  }

  func characters(_ text: UnsafePointer<UInt8>, _ count: Int) {
    if capture != nil { capture?.append(text, count: count) }
    if hidden == 0 { current.append(text, count: count) }
  }

  func flush() {
    if !current.isEmpty {
      blocks.append(current.string)
      current = TextBuilder()
    }
  }
}
