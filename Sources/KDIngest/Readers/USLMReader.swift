import CLibXML2
import Foundation
import KDCore

/// Reads United States Legislative Markup (USLM 1.x/2.x): public and private
/// laws (`pLaw`), bills, resolutions, US Code titles (`uscDoc`) and CFR/other
/// `lawDoc`s, namespaced (GPO `http://schemas.gpo.gov/xml/uslm`, House
/// `http://xml.house.gov/schemas/uslm/1.0`) or not.
///
/// One document per file; one section per outermost `section` element (a
/// section quoted inside an amendment stays part of its enclosing section's
/// text). `DocumentSection.heading` is the number and heading as written
/// ("Sec. 2. Definitions"), `identifier` the USLM `identifier` attribute or,
/// when absent, one built from the enclosing levels' numbers (`/tI/s101`).
/// Labels: `doctype` (root element: `pLaw`, `bill`, `resolution`, `uscDoc`...).
/// Metadata: `type` (dc:type, e.g. "House Bill"), `congress`, `session`,
/// `docNumber`, `publicPrivate`, `citableAs`. A document without sections
/// gets one section with the text of its `main` element.
public struct USLMReader: StructuredReader {
  /// The GPO namespace (USLM 2.x: laws, bills, CFR).
  public static let namespace = "http://schemas.gpo.gov/xml/uslm"
  /// The House namespace of USLM 1.0 (the US Code).
  public static let houseNamespace = "http://xml.house.gov/schemas/uslm/1.0"

  /// True for the USLM namespaces (GPO and House, any version).
  public static func isUSLMNamespace(_ uri: String) -> Bool {
    uri.hasPrefix(namespace) || uri.hasPrefix("http://xml.house.gov/schemas/uslm")
  }
  public var format: String { "uslm" }

  public init() {}

  /// Levels above sections and the prefix each gets in a built identifier.
  static let levelPrefixes: [String: String] = [
    "division": "d", "subdivision": "sd", "title": "t", "subtitle": "st", "chapter": "ch",
    "subchapter": "sch", "part": "pt", "subpart": "spt", "article": "a",
  ]
  static let quoted: Set<String> = ["quotedContent", "quotedText", "toc", "layout"]

  public func read(path: String, emit: (ReaderEvent) throws -> Void) throws {
    let reader = try XMLStreamReader(path: path)
    guard try reader.moveToRoot() else { throw KDError(.input, "empty XML document", file: path) }
    let doctype = reader.name
    if let ns = reader.namespaceURI, !Self.isUSLMNamespace(ns) {
      throw KDError(.input, "not USLM: root <\(doctype)> is in namespace \(ns)", file: path, line: reader.line)
    }
    var metadata: [String: String] = [:]
    var title: String?
    var officialTitle: String?
    var externalID = reader.attribute("identifier")
    var sections: [DocumentSection] = []
    // Enclosing levels: (depth, element name, number).
    var levels: [(depth: Int, name: String, num: String?)] = []

    var more = try reader.read()
    while more {
      guard reader.isElement else { more = try reader.read(); continue }
      let depth = reader.depth
      while let last = levels.last, last.depth >= depth { levels.removeLast() }
      let name = reader.name
      if name == "meta" && depth == 1 {
        let node = try reader.expand()
        for field in node.elements {
          guard let value = field.nonEmptyText else { continue }
          switch field.localName {
          case "title": title = value
          case "type": metadata["type"] = value
          case "docNumber", "congress", "session", "publicPrivate", "citableAs", "docStage", "currentChamber":
            metadata[field.localName] = value
          default: break
          }
        }
        more = try reader.skipToNext()
      } else if name == "officialTitle" && officialTitle == nil {
        officialTitle = try reader.expand().nonEmptyText
        more = try reader.skipToNext()
      } else if name == "section" {
        let node = try reader.expand()
        sections.append(Self.section(node, levels: levels))
        more = try reader.skipToNext()
      } else if Self.quoted.contains(name) {
        more = try reader.skipToNext()
      } else if name == "num", let last = levels.last, last.depth == depth - 1 {
        let node = try reader.expand()
        levels[levels.count - 1].num = node.attribute("value") ?? node.nonEmptyText
        more = try reader.skipToNext()
      } else {
        if Self.levelPrefixes[name] != nil { levels.append((depth, name, nil)) }
        more = try reader.read()
      }
    }
    if sections.isEmpty, let mainText = try Self.mainText(path: path), !mainText.isEmpty {
      sections = [DocumentSection(heading: nil, label: nil, identifier: nil, text: mainText)]
    }
    if externalID == nil, let title, let colon = title.firstIndex(of: ":"), title.distance(from: title.startIndex, to: colon) <= 40 {
      externalID = String(title[..<colon])
    }
    if externalID == nil, let number = metadata["docNumber"] {
      externalID = [metadata["type"], metadata["congress"], number].compactMap { $0 }.joined(separator: " ")
    }
    let document = ReaderDocument(
      externalID: externalID, title: officialTitle ?? title, sections: sections,
      labels: ["doctype": [doctype]], metadata: metadata)
    try emit(.document(document))
  }

  /// Second pass for documents without sections: the text of `main`.
  static func mainText(path: String) throws -> String? {
    let reader = try XMLStreamReader(path: path)
    var more = try reader.read()
    while more {
      if reader.isElement && reader.depth == 1 && reader.name == "main" {
        return text(of: try reader.expand())
      }
      more = try reader.isElement && reader.depth == 1 ? reader.skipToNext() : reader.read()
    }
    return nil
  }

  static func section(_ node: xmlNodePtr, levels: [(depth: Int, name: String, num: String?)]) -> DocumentSection {
    let numNode = node.child("num")
    let headingNode = node.child("heading")
    var heading = TextBuilder()
    if let numNode { heading.appendText(of: numNode, role: role) }
    if let headingNode { heading.space(); heading.appendText(of: headingNode, role: role) }
    var identifier = node.attribute("identifier")
    if identifier == nil {
      var parts = levels.compactMap { level in level.num.map { "\(levelPrefixes[level.name] ?? level.name)\(trimNumber($0))" } }
      if let num = numNode.flatMap({ $0.attribute("value") ?? $0.nonEmptyText }) { parts.append("s\(trimNumber(num))") }
      identifier = parts.isEmpty ? nil : "/" + parts.joined(separator: "/")
    }
    var body = TextBuilder()
    body.appendText(of: node) { child in
      if child == numNode || child == headingNode { return .skip }
      return role(child)
    }
    return DocumentSection(
      heading: heading.isEmpty ? nil : heading.string, label: nil, identifier: identifier, text: body.string)
  }

  static func text(of node: xmlNodePtr) -> String {
    var body = TextBuilder()
    body.appendText(of: node, role: role)
    return body.string
  }

  static let blocks: Set<String> = [
    "p", "subsection", "paragraph", "subparagraph", "clause", "subclause", "item", "subitem", "subsubitem",
    "chapeau", "continuation", "content", "quotedContent", "tr", "longTitle", "enactingFormula",
    "resolvingClause", "section", "level", "proviso", "note", "table", "block", "list", "listItem",
  ]

  static func role(_ node: xmlNodePtr) -> TextRole {
    let name = node.localName
    if name == "page" || name == "toc" || name == "sidenote" || name == "footnote" { return .skip }
    if name == "num" || name == "heading" { return .label }
    if name == "td" || name == "th" { return .spaced }
    return blocks.contains(name) ? .block : .inline
  }

  /// "Sec. 101." / "(a)" / "I" → "101" / "a" / "I".
  static func trimNumber(_ raw: String) -> String {
    var s = raw
    for prefix in ["SECTION", "SEC.", "Sec.", "Section", "TITLE", "Title", "CHAPTER", "Chapter", "PART", "Part", "DIVISION", "Division"] {
      if s.hasPrefix(prefix) { s = String(s.dropFirst(prefix.count)) }
    }
    return s.trimmingCharacters(in: .init(charactersIn: " ().—-§"))
  }
}
