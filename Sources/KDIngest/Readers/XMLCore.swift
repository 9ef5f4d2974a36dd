import CLibXML2
import CZlib
import Foundation
import KDCore

// Shared machinery for the libxml2-based readers: a gzip-transparent byte
// source, a safe streaming `xmlTextReader` wrapper, helpers over expanded
// DOM subtrees, and a whitespace-normalising text builder.

/// Process-wide libxml2 hardening: initialises the library once and installs
/// an external-entity loader that refuses every request, so neither DTDs nor
/// external entities are ever read from disk or the network.
enum XMLSafety {
  private static let installed: Bool = {
    xmlInitParser()
    xmlSetExternalEntityLoader { _, _, _ in nil }
    return true
  }()

  /// Makes sure the hardening is in place (idempotent, thread-safe).
  static func install() { _ = installed }

  /// Parser options used by every XML reader: no network, no DTD loading,
  /// no entity substitution (entities stay references and are expanded by
  /// the readers under a byte budget), CDATA merged into text.
  static let readerOptions: Int32 = Int32(
    XML_PARSE_NONET.rawValue | XML_PARSE_NOCDATA.rawValue | XML_PARSE_COMPACT.rawValue
      | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)

  /// The most bytes of text one document may draw from expanding internal
  /// entities (billion-laughs guard on top of libxml2's own amplification check).
  static let entityExpansionBudget = 1 << 20
}

/// A file opened through zlib: reads gzip-compressed and plain files alike.
final class CompressedFileInput {
  let path: String
  private let handle: gzFile
  /// The zlib error seen by the last failed read, if any.
  private(set) var errorMessage: String?
  private(set) var bytesRead: Int = 0

  /// Opens `path` for reading.
  /// - Throws: `KDError.io` when the file cannot be opened.
  init(path: String) throws {
    self.path = path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw KDError(.io, "file not found", file: path)
    }
    if isDirectory.boolValue { throw KDError(.io, "is a directory, not a file", file: path) }
    guard let handle = gzopen(path, "rb") else {
      throw KDError(.io, "cannot open: \(String(cString: strerror(errno)))", file: path)
    }
    self.handle = handle
    gzbuffer(handle, 1 << 17)
  }

  deinit { gzclose(handle) }

  /// Reads up to `count` decompressed bytes; returns 0 at the end, -1 on error.
  func read(into buffer: UnsafeMutableRawPointer, count: Int) -> Int32 {
    let n = gzread(handle, buffer, UInt32(max(0, count)))
    if n < 0 {
      var code: Int32 = 0
      let message = gzerror(handle, &code).map { String(cString: $0) } ?? "read error"
      errorMessage = code == Z_ERRNO ? String(cString: strerror(errno)) : message
    } else {
      bytesRead += Int(n)
    }
    return n
  }

  /// Leaves out attributes past the 10,000th of one element (libxml2 adds
  /// them in quadratic time); set by `XMLStreamReader`.
  var attributeCap: XMLAttributeCap?

  /// Reads for the XML parser: like `read`, through `attributeCap` when set.
  func readForParser(into buffer: UnsafeMutableRawPointer, count: Int) -> Int32 {
    guard attributeCap != nil else { return read(into: buffer, count: count) }
    let bytes = buffer.assumingMemoryBound(to: UInt8.self)
    while true {
      let n = read(into: buffer, count: count)
      if n <= 0 { return n }
      let kept = attributeCap!.filter(bytes, count: Int(n))
      if kept > 0 { return Int32(kept) }
    }
  }

  /// Reads the first `count` decompressed bytes of a file (for format sniffing).
  static func prefix(path: String, count: Int) throws -> [UInt8] {
    let input = try CompressedFileInput(path: path)
    var bytes = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
      let n = bytes.withUnsafeMutableBytes { raw in
        input.read(into: raw.baseAddress! + filled, count: count - filled)
      }
      if n <= 0 { break }
      filled += Int(n)
    }
    return Array(bytes[0..<filled])
  }
}

/// Collects the first error libxml2 reports for a document.
final class XMLErrorSink {
  var message: String?
  var line: Int?
  /// Errors below this level are ignored. Readers keep only fatal errors:
  /// recoverable ones (an undeclared entity under an external DTD, a
  /// namespace warning) do not stop a document.
  let minimumLevel: xmlErrorLevel

  init(minimumLevel: xmlErrorLevel = XML_ERR_FATAL) { self.minimumLevel = minimumLevel }

  func record(_ error: UnsafePointer<xmlError>) {
    guard error.pointee.level.rawValue >= minimumLevel.rawValue, message == nil else { return }
    var text = error.pointee.message.map { String(cString: $0) } ?? "XML error \(error.pointee.code)"
    text = text.trimmingCharacters(in: .whitespacesAndNewlines)
    message = text
    line = error.pointee.line > 0 ? Int(error.pointee.line) : nil
  }
}

/// Runs `body` with libxml2's thread-wide errors (XPath compilation and
/// evaluation) sent to `sink` instead of stderr.
func withThreadErrors<T>(into sink: XMLErrorSink, _ body: () throws -> T) rethrows -> T {
  let context = Unmanaged.passUnretained(sink).toOpaque()
  xmlSetStructuredErrorFunc(context) { arg, error in
    guard let arg, let error else { return }
    Unmanaged<XMLErrorSink>.fromOpaque(arg).takeUnretainedValue().record(error)
  }
  defer { xmlSetStructuredErrorFunc(nil, nil) }
  return try body()
}

/// A streaming pull parser over one file (`xmlTextReader`), hardened against
/// XXE and entity expansion, that reads gzip transparently.
///
/// Typical loop: read to an element, `expand()` it, handle the subtree, then
/// `skipToNext()` so that libxml2 frees it: memory stays flat.
final class XMLStreamReader {
  let path: String
  private let input: CompressedFileInput
  private let errors = XMLErrorSink()
  private var reader: xmlTextReaderPtr
  /// Opens `path` for streaming.
  /// - Throws: `KDError.io` when the file cannot be opened.
  init(path: String) throws {
    XMLSafety.install()
    self.path = path
    input = try CompressedFileInput(path: path)
    input.attributeCap = XMLAttributeCap()
    let context = Unmanaged.passUnretained(input).toOpaque()
    let readCallback: xmlInputReadCallback = { context, buffer, length in
      guard let context, let buffer else { return -1 }
      let input = Unmanaged<CompressedFileInput>.fromOpaque(context).takeUnretainedValue()
      return input.readForParser(into: buffer, count: Int(length))
    }
    guard let reader = xmlReaderForIO(readCallback, nil, context, path, nil, XMLSafety.readerOptions) else {
      throw KDError(.io, "cannot create an XML reader", file: path)
    }
    self.reader = reader
    let sink = Unmanaged.passUnretained(errors).toOpaque()
    xmlTextReaderSetStructuredErrorHandler(reader, { arg, error in
      guard let arg, let error else { return }
      Unmanaged<XMLErrorSink>.fromOpaque(arg).takeUnretainedValue().record(error)
    }, sink)
  }

  deinit { xmlFreeTextReader(reader) }

  /// Decompressed bytes consumed so far.
  var bytesRead: Int { input.bytesRead }
  /// Attributes left out because one element had more than 10,000 (see `XMLAttributeCap`).
  var droppedAttributes: Int { input.attributeCap?.dropped ?? 0 }

  /// Moves to the next node; false at the end of the document.
  /// - Throws: `KDError.input` naming the file and line on malformed XML or a bad gzip stream.
  func read() throws -> Bool { try check(xmlTextReaderRead(reader)) }

  /// Skips the current node's subtree and moves to the node after it; false at the end.
  /// - Throws: `KDError.input` as `read()`.
  func skipToNext() throws -> Bool { try check(xmlTextReaderNext(reader)) }

  private func check(_ status: Int32) throws -> Bool {
    // libxml2 parses ahead of the node it returns: an error it has already met
    // further on surfaces only when the reader gets there (status -1), so that
    // every complete record before it is still delivered.
    if status == 1 { return true }
    if status == 0 && errors.message == nil && input.errorMessage == nil { return false }
    if let gz = input.errorMessage {
      throw KDError(.input, "cannot decompress: \(gz)", file: path, line: errors.line)
    }
    if let message = errors.message {
      throw KDError(.input, "malformed XML: \(message)", file: path, line: errors.line ?? line)
    }
    if status < 0 { throw KDError(.input, "malformed XML", file: path, line: line) }
    return false
  }

  /// The current line of the parser (1-based), for error messages.
  var line: Int { Int(xmlTextReaderGetParserLineNumber(reader)) }
  /// The line where the current node starts (the parser itself may be further on).
  var nodeLine: Int {
    guard let node = xmlTextReaderCurrentNode(reader) else { return line }
    let n = Int(xmlGetLineNo(node))
    return n > 0 ? n : line
  }
  var nodeType: Int32 { xmlTextReaderNodeType(reader) }
  var isElement: Bool { nodeType == Int32(XML_READER_TYPE_ELEMENT.rawValue) }
  var depth: Int { Int(xmlTextReaderDepth(reader)) }
  /// The local name of the current node (owned by libxml2's dictionary).
  var localName: UnsafePointer<UInt8>? { xmlTextReaderConstLocalName(reader) }
  var namespaceURI: String? { xmlTextReaderConstNamespaceUri(reader).map { String(cString: $0) } }
  /// The local name of the current node as a Swift string.
  var name: String { localName.map { String(cString: $0) } ?? "" }

  /// Builds the current element's subtree in memory and returns it. The
  /// subtree is valid until the reader moves past it.
  func expand() throws -> xmlNodePtr {
    // When the parser failed further ahead, the subtree is still complete if a
    // sibling follows it (its end tag was parsed); the error surfaces on the next read.
    guard let node = xmlTextReaderExpand(reader) ?? completedCurrentNode() else {
      _ = try check(-1)
      throw KDError(.input, "malformed XML inside <\(name)>", file: path, line: line)
    }
    // A returned subtree is complete even when the parser has already seen an
    // error further ahead: that error surfaces on the next read.
    return node
  }

  private func completedCurrentNode() -> xmlNodePtr? {
    guard let node = xmlTextReaderCurrentNode(reader), node.pointee.next != nil else { return nil }
    return node
  }

  /// Reads forward to the first element (the root) and returns it unexpanded.
  func moveToRoot() throws -> Bool {
    while try read() {
      if isElement { return true }
    }
    return false
  }

  /// The value of an attribute of the current element.
  func attribute(_ name: String) -> String? {
    guard let value = xmlTextReaderGetAttribute(reader, name) else { return nil }
    defer { kd_xml_free(value) }
    return String(cString: value)
  }
}

// MARK: - Expanded-tree helpers

/// True when a libxml2 name equals `name` (bytes, no allocation).
@inline(__always)
func nameEquals(_ pointer: UnsafePointer<UInt8>?, _ name: StaticString) -> Bool {
  guard let pointer else { return false }
  let n = name.utf8CodeUnitCount
  return pointer.withMemoryRebound(to: CChar.self, capacity: n + 1) { p in
    name.utf8Start.withMemoryRebound(to: CChar.self, capacity: n) { q in
      strncmp(p, q, n) == 0 && p[n] == 0
    }
  }
}

extension UnsafeMutablePointer where Pointee == xmlNode {
  var isElement: Bool { pointee.type == XML_ELEMENT_NODE }
  /// The element's local name.
  var localName: String { pointee.name.map { String(cString: $0) } ?? "" }
  func named(_ name: StaticString) -> Bool { pointee.type == XML_ELEMENT_NODE && nameEquals(pointee.name, name) }

  /// Child elements in document order.
  var elements: XMLElementChildren { XMLElementChildren(first: pointee.children) }

  /// The first child element called `name`.
  func child(_ name: StaticString) -> xmlNodePtr? {
    var c = pointee.children
    while let n = c {
      if n.named(name) { return n }
      c = n.pointee.next
    }
    return nil
  }

  /// Follows a path of child element names.
  func path(_ names: StaticString...) -> xmlNodePtr? {
    var node: xmlNodePtr? = self
    for name in names { node = node?.child(name) }
    return node
  }

  /// All descendant elements called `name`, in document order, not looking inside matches.
  func descendants(_ name: StaticString, into result: inout [xmlNodePtr]) {
    var c = pointee.children
    while let n = c {
      if n.isElement {
        if nameEquals(n.pointee.name, name) { result.append(n) } else { n.descendants(name, into: &result) }
      }
      c = n.pointee.next
    }
  }

  /// The value of an attribute (by local name), without allocating on a miss.
  func attribute(_ name: StaticString) -> String? {
    var a = pointee.properties
    while let attr = a {
      if nameEquals(attr.pointee.name, name) {
        var text = TextBuilder()
        var c = attr.pointee.children
        while let n = c {
          if let content = n.pointee.content { text.append(content) }
          c = n.pointee.next
        }
        return text.string
      }
      a = attr.pointee.next
    }
    return nil
  }

  /// The element's text, whitespace-normalised, inline markup flattened.
  var text: String {
    var builder = TextBuilder()
    builder.appendText(of: self)
    return builder.string
  }

  /// The element's text or nil when it is empty.
  var nonEmptyText: String? {
    let t = text
    return t.isEmpty ? nil : t
  }
}

/// Child elements of a node, as a sequence.
struct XMLElementChildren: Sequence, IteratorProtocol {
  var current: xmlNodePtr?
  init(first: xmlNodePtr?) { current = first }
  mutating func next() -> xmlNodePtr? {
    while let n = current {
      current = n.pointee.next
      if n.isElement { return n }
    }
    return nil
  }
}

/// How a reader treats an element while collecting text.
enum TextRole {
  /// Flows into the surrounding text (emphasis, links, sub/superscripts).
  case inline
  /// Starts a new paragraph.
  case block
  /// Set off by spaces (table cells).
  case spaced
  /// A number or label that leads the text after it ("(1)", "Sec. 2."):
  /// no paragraph break between it and what follows.
  case label
  /// Left out with its content.
  case skip
}

/// Accumulates text as UTF-8 bytes, collapsing whitespace runs (including
/// no-break spaces) to one space and separating blocks with a blank line.
struct TextBuilder {
  private(set) var bytes: [UInt8] = []
  private var pendingSpace = false
  private var pendingBreak = false
  /// Set after a label: the next paragraph break is dropped.
  private var holdBreak = false
  /// Bytes drawn from entity expansions so far (billion-laughs guard).
  var entityBytes = 0

  init() { bytes.reserveCapacity(256) }

  var isEmpty: Bool { bytes.isEmpty }
  var string: String { String(decoding: bytes, as: UTF8.self) }

  /// Marks a paragraph boundary: the next text starts after a blank line.
  mutating func paragraph() { if !bytes.isEmpty && !holdBreak { pendingBreak = true } }
  /// Marks a word boundary.
  mutating func space() { if !bytes.isEmpty { pendingSpace = true } }

  /// Appends a NUL-terminated UTF-8 string.
  mutating func append(_ text: UnsafePointer<UInt8>) {
    var p = text
    while true {
      let b = p.pointee
      if b == 0 { return }
      if b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D {
        if !bytes.isEmpty { pendingSpace = true }
      } else if b == 0xC2 && p[1] == 0xA0 {
        if !bytes.isEmpty { pendingSpace = true }
        p += 1
      } else if b == 0xE2 && p[1] != 0 && Self.isUnicodeSpace(p[1], p[2]) {
        if !bytes.isEmpty { pendingSpace = true }
        p += 2
      } else {
        flushPending()
        bytes.append(b)
      }
      p += 1
    }
  }

  /// Appends `count` UTF-8 bytes (not NUL-terminated).
  mutating func append(_ text: UnsafePointer<UInt8>, count: Int) {
    var i = 0
    while i < count {
      let b = text[i]
      if b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D {
        if !bytes.isEmpty { pendingSpace = true }
      } else if b == 0xC2 && i + 1 < count && text[i + 1] == 0xA0 {
        if !bytes.isEmpty { pendingSpace = true }
        i += 1
      } else if b == 0xE2 && i + 2 < count && Self.isUnicodeSpace(text[i + 1], text[i + 2]) {
        if !bytes.isEmpty { pendingSpace = true }
        i += 2
      } else {
        flushPending()
        bytes.append(b)
      }
      i += 1
    }
  }

  /// Appends a Swift string.
  mutating func append(_ text: String) {
    var copy = text
    copy.withUTF8 { buffer in
      if let base = buffer.baseAddress { append(base, count: buffer.count) }
    }
  }

  /// U+2000–U+200A (en/em/thin/hair spaces), U+202F and U+205F, after a 0xE2 lead byte.
  @inline(__always)
  static func isUnicodeSpace(_ b1: UInt8, _ b2: UInt8) -> Bool {
    (b1 == 0x80 && (b2 >= 0x80 && b2 <= 0x8A || b2 == 0xAF)) || (b1 == 0x81 && b2 == 0x9F)
  }

  @inline(__always)
  private mutating func flushPending() {
    if pendingBreak {
      bytes.append(0x0A)
      bytes.append(0x0A)
    } else if pendingSpace {
      bytes.append(0x20)
    }
    pendingBreak = false
    pendingSpace = false
    holdBreak = false
  }

  /// Appends the text under `node`; `role` decides per element whether it is
  /// inline, a block or skipped (default: everything inline).
  mutating func appendText(of node: xmlNodePtr, role: ((xmlNodePtr) -> TextRole)? = nil) {
    var c = node.pointee.children
    while let n = c {
      switch n.pointee.type {
      case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
        if let content = n.pointee.content { append(content) }
      case XML_ELEMENT_NODE:
        let r = role?(n) ?? .inline
        switch r {
        case .skip: break
        case .inline: appendText(of: n, role: role)
        case .spaced:
          space()
          appendText(of: n, role: role)
          space()
        case .label:
          paragraph()
          appendText(of: n, role: role)
          space()
          holdBreak = true
        case .block:
          paragraph()
          appendText(of: n, role: role)
          paragraph()
        }
      case XML_ENTITY_REF_NODE:
        appendEntity(n, role: role)
      default:
        break
      }
      c = n.pointee.next
    }
  }

  /// Expands an internal entity reference under the byte budget; entities
  /// that are undeclared or external contribute nothing.
  private mutating func appendEntity(_ node: xmlNodePtr, role: ((xmlNodePtr) -> TextRole)?) {
    guard let entity = UnsafeMutableRawPointer(node.pointee.children)?.assumingMemoryBound(to: xmlEntity.self)
    else { return }
    guard entity.pointee.type == XML_ENTITY_DECL,
      entity.pointee.etype == XML_INTERNAL_GENERAL_ENTITY
    else { return }
    let before = bytes.count
    if entityBytes > XMLSafety.entityExpansionBudget { return }
    if let content = entity.pointee.content { append(content) }
    entityBytes += bytes.count - before
  }
}

/// Normalises a section label: upper case, inner whitespace collapsed.
func normalizedLabel(_ raw: String?) -> String? {
  guard let raw else { return nil }
  let words = raw.uppercased().split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
  let label = words.joined(separator: " ").trimmingCharacters(in: CharacterSet(charactersIn: ":. "))
  return label.isEmpty ? nil : label
}
