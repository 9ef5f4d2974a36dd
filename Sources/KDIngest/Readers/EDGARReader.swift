import CLibXML2
import Foundation
import KDCore

/// Reads SEC EDGAR filing documents: HTML or XHTML with inline XBRL, also
/// when wrapped in EDGAR's SGML `<DOCUMENT><TYPE>...<TEXT>` envelope, and full
/// submission `.txt` files (one document per `<DOCUMENT>` that holds prose;
/// images, PDFs, archives and XBRL data documents are skipped; plain-text
/// documents of older filings are split into blocks at blank lines).
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
/// releases) are one section. Labels: `form`. Metadata: `form`, `company`,
/// `cik`, `period` (inline-XBRL `dei:` facts or the SEC header), `filename`,
/// `description`, `accession`, `submission_type`.
public struct EDGARReader: StructuredReader {
  public var format: String { "edgar" }

  /// Bytes read per step (small values exercise chunk boundaries in tests).
  var chunkSize = 1 << 18

  public init() {}

  public func read(path: String, emit: (ReaderEvent) throws -> Void) throws {
    XMLSafety.install()
    let input = try CompressedFileInput(path: path)
    let chunkSize = max(16, self.chunkSize)
    var chunk = [UInt8](repeating: 0, count: chunkSize)
    func fill() throws -> Int {
      let n = chunk.withUnsafeMutableBytes { raw in input.read(into: raw.baseAddress!, count: chunkSize) }
      if n < 0 { throw KDError(.input, "cannot read: \(input.errorMessage ?? "read error")", file: path) }
      return Int(n)
    }
    var filled = try fill()
    if filled == 0 { throw KDError(.input, "empty file", file: path) }
    let start = chunk[0..<filled].firstIndex(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) ?? 0
    let envelope = ["<SEC-DOCUMENT>", "<DOCUMENT>", "<SEC-HEADER>", "<IMS-DOCUMENT>"].contains {
      chunk[start..<filled].starts(with: Array($0.utf8))
    }
    if !envelope {
      // A plain HTML document: stream it whole.
      let parser = EDGARDocumentParser(path: path)
      while filled > 0 {
        chunk.withUnsafeBufferPointer { parser.feed(UnsafeBufferPointer(rebasing: $0[0..<filled])) }
        filled = try fill()
      }
      try emit(.document(try Self.document(parser.finish(), envelope: nil, submission: [:], path: path)))
      return
    }
    // An SGML submission: one document per <DOCUMENT>...</DOCUMENT> with prose.
    var splitter = EDGARSubmissionSplitter(path: path)
    var emitted = 0
    while filled > 0 {
      let submission = splitter.submission
      try chunk.withUnsafeBufferPointer { buffer in
        try splitter.feed(UnsafeBufferPointer(rebasing: buffer[0..<filled])) { parser, header, facts in
          try emit(.document(try Self.document(parser.finish(), envelope: header, submission: facts, path: path)))
          emitted += 1
        }
      }
      _ = submission
      filled = try fill()
    }
    try splitter.finish { parser, header, facts in
      try emit(.document(try Self.document(parser.finish(), envelope: header, submission: facts, path: path)))
      emitted += 1
    }
    if emitted == 0 { throw KDError(.input, "EDGAR submission without a text document", file: path) }
  }

  /// Builds the document from a finished collector.
  static func document(
    _ collector: EDGARCollector, envelope: SGMLEnvelope?, submission: [String: String], path: String
  ) throws -> ReaderDocument {
    let facts = collector.facts
    let form = facts["DocumentType"].flatMap(normalizedForm) ?? envelope?.type.flatMap(normalizedForm)
      ?? formFromCover(collector.blocks) ?? formFromFilename(path)
    var metadata = submission
    if let name = envelope?.filename { metadata["filename"] = name }
    if let description = envelope?.description { metadata["description"] = description }
    if let company = facts["EntityRegistrantName"] { metadata["company"] = company }
    if let cik = facts["EntityCentralIndexKey"] { metadata["cik"] = cik }
    if let period = facts["DocumentPeriodEndDate"] { metadata["period"] = period }
    var labels: [String: [String]] = [:]
    if let form {
      metadata["form"] = form
      labels["form"] = [form]
    }
    let title = [metadata["company"], form].compactMap { $0 }.joined(separator: " ")
    let sections = Self.sections(blocks: collector.blocks, form: form)
    let name = envelope?.filename ?? envelope?.sequence.map { "document \($0)" } ?? "document"
    if sections.isEmpty { throw KDError(.input, "no visible text in \(name)", file: path) }
    var externalID = URL(fileURLWithPath: path).lastPathComponent
    if let envelope {
      externalID = [metadata["accession"], envelope.filename ?? envelope.sequence ?? externalID].compactMap { $0 }
        .joined(separator: "/")
    }
    return ReaderDocument(
      externalID: externalID, title: title.isEmpty ? nil : title, sections: sections, labels: labels, metadata: metadata)
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

/// The header of one `<DOCUMENT>` in an EDGAR submission
/// (`<TYPE>10-K`, `<SEQUENCE>1`, `<FILENAME>...`, `<DESCRIPTION>...`).
struct SGMLEnvelope {
  var type: String?
  var sequence: String?
  var filename: String?
  var description: String?

  init(header: String) {
    func field(_ tag: String) -> String? {
      guard let r = header.range(of: "<\(tag)>") else { return nil }
      let value = header[r.upperBound...].prefix(while: { !$0.isNewline && $0 != "<" })
      let v = value.trimmingCharacters(in: .whitespaces)
      return v.isEmpty ? nil : v
    }
    type = field("TYPE")
    sequence = field("SEQUENCE")
    filename = field("FILENAME")
    description = field("DESCRIPTION")
  }

  /// Documents that hold no prose: images, archives, spreadsheets, XBRL and schemas.
  var isBinaryOrData: Bool {
    let t = (type ?? "").uppercased()
    if ["GRAPHIC", "ZIP", "EXCEL", "PDF", "XML", "JSON"].contains(t) || t.hasPrefix("EX-101") { return true }
    let f = (filename ?? "").lowercased()
    return [".jpg", ".jpeg", ".gif", ".png", ".pdf", ".zip", ".xlsx", ".xls", ".xsd", ".xml", ".json", ".js", ".css"]
      .contains { f.hasSuffix($0) }
  }
}

/// Splits an EDGAR SGML submission (a full `.txt` or one wrapped document)
/// into its `<DOCUMENT>`s while streaming, parsing the text of each.
struct EDGARSubmissionSplitter {
  let path: String
  /// Submission-level facts from `<SEC-HEADER>`: `accession`, `company`, `cik`, `submission_type`, `period`.
  private(set) var submission: [String: String] = [:]
  private var pending: [UInt8] = []
  private var state = State.seeking
  private var header: SGMLEnvelope?
  private var parser: EDGARDocumentParser?
  private var sawHeader = false

  private enum State { case seeking, header, body, skipping }
  private static let documentStart = Array("<DOCUMENT>".utf8)
  private static let documentEnd = Array("</DOCUMENT>".utf8)
  private static let textStart = Array("<TEXT>".utf8)
  private static let textEnd = Array("</TEXT>".utf8)
  private static let headerLimit = 1 << 20

  init(path: String) { self.path = path }

  /// Consumes bytes; calls `done` for every document completed in them.
  mutating func feed(
    _ bytes: UnsafeBufferPointer<UInt8>, done: (EDGARDocumentParser, SGMLEnvelope?, [String: String]) throws -> Void
  ) throws {
    pending.append(contentsOf: bytes)
    var progress = true
    while progress {
      progress = false
      switch state {
      case .seeking:
        if let i = Self.find(Self.documentStart, in: pending) {
          if !sawHeader { readSECHeader(pending[0..<i]) }
          sawHeader = true
          pending.removeFirst(i + Self.documentStart.count)
          state = .header
          progress = true
        } else if !sawHeader {
          if pending.count > Self.headerLimit {
            throw KDError(.input, "EDGAR submission header longer than 1 MB without <DOCUMENT>", file: path)
          }
        } else {
          pending.removeFirst(max(0, pending.count - Self.documentStart.count))
        }
      case .header:
        if let i = Self.find(Self.textStart, in: pending) {
          let envelope = SGMLEnvelope(header: String(decoding: pending[0..<i], as: UTF8.self))
          pending.removeFirst(i + Self.textStart.count)
          header = envelope
          if envelope.isBinaryOrData {
            state = .skipping
          } else {
            parser = EDGARDocumentParser(path: path)
            state = .body
          }
          progress = true
        } else if pending.count > Self.headerLimit {
          throw KDError(.input, "<DOCUMENT> header without <TEXT>", file: path)
        }
      case .body:
        guard let parser else {
          state = .seeking
          progress = true
          break
        }
        if let i = Self.find(Self.textEnd, in: pending) {
          pending.withUnsafeBufferPointer { parser.feed(UnsafeBufferPointer(rebasing: $0[0..<i])) }
          pending.removeFirst(i + Self.textEnd.count)
          self.parser = nil
          state = .skipping
          try done(parser, header, submission)
          progress = true
        } else if pending.count >= Self.textEnd.count {
          // Keep a tail that may hold the start of </TEXT>.
          let cut = pending.count - (Self.textEnd.count - 1)
          pending.withUnsafeBufferPointer { parser.feed(UnsafeBufferPointer(rebasing: $0[0..<cut])) }
          pending.removeFirst(cut)
        }
      case .skipping:
        if let i = Self.find(Self.documentEnd, in: pending) {
          pending.removeFirst(i + Self.documentEnd.count)
          state = .seeking
          progress = true
        } else {
          pending.removeFirst(max(0, pending.count - Self.documentEnd.count))
        }
      }
    }
  }

  /// Ends the stream; a document left open (no `</TEXT>`) is still delivered.
  mutating func finish(done: (EDGARDocumentParser, SGMLEnvelope?, [String: String]) throws -> Void) throws {
    if state == .body, let parser {
      pending.withUnsafeBufferPointer { parser.feed($0) }
      pending.removeAll()
      self.parser = nil
      try done(parser, header, submission)
    } else if state == .header {
      throw KDError(.input, "truncated EDGAR submission: <DOCUMENT> header without <TEXT>", file: path)
    }
  }

  private mutating func readSECHeader(_ bytes: ArraySlice<UInt8>) {
    let text = String(decoding: bytes, as: UTF8.self)
    for line in text.split(whereSeparator: { $0.isNewline }) {
      let parts = line.split(separator: ":", maxSplits: 1)
      guard parts.count == 2 else { continue }
      let key = parts[0].trimmingCharacters(in: .whitespaces).uppercased()
      let value = parts[1].trimmingCharacters(in: .whitespaces)
      guard !value.isEmpty else { continue }
      switch key {
      case "ACCESSION NUMBER": submission["accession"] = value
      case "CONFORMED SUBMISSION TYPE": submission["submission_type"] = value
      case "COMPANY CONFORMED NAME": if submission["company"] == nil { submission["company"] = value }
      case "CENTRAL INDEX KEY": if submission["cik"] == nil { submission["cik"] = value }
      case "CONFORMED PERIOD OF REPORT": submission["period"] = value
      default: break
      }
    }
  }

  /// The index of `needle` in `haystack` (memchr for the first byte, then memcmp), or nil.
  static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
    haystack.withUnsafeBytes { h in
      needle.withUnsafeBytes { n in
        guard let base = h.baseAddress, let first = n.first, h.count >= n.count else { return nil }
        var offset = 0
        let last = h.count - n.count
        while offset <= last {
          guard let hit = memchr(base + offset, Int32(first), last - offset + 1) else { return nil }
          let index = base.distance(to: UnsafeRawPointer(hit))
          if memcmp(hit, n.baseAddress!, n.count) == 0 { return index }
          offset = index + 1
        }
        return nil
      }
    }
  }
}

/// Parses the text of one EDGAR document: HTML through libxml2's push parser,
/// or plain text (older filings), where blank lines separate blocks.
final class EDGARDocumentParser {
  let path: String
  let collector = EDGARCollector()
  private var sax = htmlSAXHandler()
  private var parser: htmlParserCtxtPtr?
  private var line = TextBuilder()
  /// The first bytes, held until there are enough to tell HTML from plain text.
  private var head: [UInt8]? = []
  private static let sniffSize = 8192

  init(path: String) { self.path = path }

  /// Chooses HTML or plain text from the first bytes, and the encoding
  /// (UTF-8 when they are valid UTF-8, else the HTML default), then parses them.
  private func start() {
    guard let bytes = head else { return }
    head = nil
    let text = String(decoding: bytes.prefix(Self.sniffSize), as: UTF8.self).lowercased()
    let isHTML = ["<html", "<body", "<div", "<p>", "<p ", "<table", "<font", "<br", "<?xml"].contains { text.contains($0) }
    if isHTML {
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
      let isUTF8 = String(validating: bytes.prefix(64 << 10).dropLast(4), as: UTF8.self) != nil
      let encoding = isUTF8 ? XML_CHAR_ENCODING_UTF8 : XML_CHAR_ENCODING_NONE
      let context = Unmanaged.passUnretained(collector).toOpaque()
      parser = htmlCreatePushParserCtxt(&sax, context, nil, 0, path, encoding)
      if let parser {
        htmlCtxtUseOptions(
          parser,
          Int32(HTML_PARSE_NONET.rawValue | HTML_PARSE_NOERROR.rawValue | HTML_PARSE_NOWARNING.rawValue
            | HTML_PARSE_RECOVER.rawValue))
      }
    }
    bytes.withUnsafeBufferPointer { parse($0) }
  }

  deinit { if let parser { htmlFreeParserCtxt(parser) } }

  /// Parses the next bytes of the document.
  func feed(_ bytes: UnsafeBufferPointer<UInt8>) {
    if head != nil {
      head?.append(contentsOf: bytes)
      if (head?.count ?? 0) >= Self.sniffSize { start() }
      return
    }
    parse(bytes)
  }

  private func parse(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
    if let parser {
      base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { p in
        _ = htmlParseChunk(parser, p, Int32(bytes.count), 0)
      }
      return
    }
    // Plain text: a blank line ends a block.
    var start = 0
    for i in 0..<bytes.count where bytes[i] == 0x0A {
      line.append(base + start, count: i - start)
      endLine()
      start = i + 1
    }
    line.append(base + start, count: bytes.count - start)
  }

  private func endLine() {
    if line.isEmpty {
      collector.flush()
    } else {
      collector.appendPlain(line)
      line = TextBuilder()
    }
  }

  /// Ends the document and returns what was collected.
  func finish() -> EDGARCollector {
    start()
    if let parser {
      htmlParseChunk(parser, nil, 0, 1)
    } else {
      endLine()
    }
    collector.flush()
    return collector
  }
}

/// SAX state for one EDGAR HTML document: visible text split into blocks.
final class EDGARCollector {
  var blocks: [String] = []
  /// Inline-XBRL `dei:` facts seen (hidden ones included): DocumentType, EntityRegistrantName...
  var facts: [String: String] = [:]
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

  /// Adds one line of plain text to the current block.
  func appendPlain(_ line: TextBuilder) {
    current.space()
    current.append(line.string)
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
