import CLibXML2
import Foundation
import KDCore

/// Reads Akoma Ntoso (3.0 and its working drafts, any namespace or none):
/// acts, bills, debates, judgments, portions and document collections.
///
/// One document per file. Sections: each outermost `article` or `section`
/// (not inside a quoted structure or an amendment `mod`); for a debate each
/// child of `debateBody`, for a judgment each child of `judgmentBody`
/// (`introduction`, `background`, `motivation`, `decision`... which become the
/// section `label`). Documents with none of these get one section with their
/// body text. `identifier` is the `eId` (or legacy `id`).
/// Labels: `doctype` (`act`, `bill`, `debate`, `judgment`...), `jurisdiction`
/// (FRBRcountry). Metadata: `name`, `date`, `language`, `uri`.
public struct AkomaNtosoReader: StructuredReader {
  public var format: String { "akn" }

  public init() {}

  static let units: Set<String> = ["article", "section"]
  static let partitionedBodies: Set<String> = ["debateBody", "judgmentBody"]
  static let bodies: Set<String> = [
    "body", "mainBody", "debateBody", "judgmentBody", "portionBody", "amendmentBody", "collectionBody",
  ]
  static let opaque: Set<String> = ["quotedStructure", "quotedText", "mod", "embeddedStructure", "authorialNote", "toc"]

  public func read(path: String, emit: (ReaderEvent) throws -> Void) throws {
    let reader = try XMLStreamReader(path: path)
    guard try reader.moveToRoot() else { throw KDError(.input, "empty XML document", file: path) }
    guard reader.name == "akomaNtoso" else {
      throw KDError(.input, "not Akoma Ntoso: root element is <\(reader.name)>", file: path, line: reader.line)
    }
    var doctype: String?
    var labels: [String: [String]] = [:]
    var metadata: [String: String] = [:]
    var externalID: String?
    var title: String?
    var sections: [DocumentSection] = []
    // Names of the open elements by depth (index = depth).
    var stack: [String] = []

    var more = try reader.read()
    while more {
      guard reader.isElement else { more = try reader.read(); continue }
      let depth = reader.depth
      let name = reader.name
      if stack.count > depth { stack.removeLast(stack.count - depth) }
      let parent = stack.last ?? ""
      if depth == 1 && doctype == nil {
        doctype = name
        if let n = reader.attribute("name") { metadata["name"] = n }
      }
      if name == "meta" && depth == 2 && externalID == nil {
        Self.readMeta(try reader.expand(), labels: &labels, metadata: &metadata, externalID: &externalID)
        more = try reader.skipToNext()
      } else if (name == "docTitle" || name == "longTitle") && title == nil {
        title = try reader.expand().nonEmptyText
        more = try reader.skipToNext()
      } else if Self.opaque.contains(name) && !stack.contains(where: Self.units.contains) {
        more = try reader.skipToNext()
      } else if Self.units.contains(name) || Self.partitionedBodies.contains(parent) {
        let node = try reader.expand()
        let section = Self.section(node, labelled: Self.partitionedBodies.contains(parent) && parent == "judgmentBody")
        if !section.text.isEmpty || section.heading != nil { sections.append(section) }
        more = try reader.skipToNext()
      } else {
        stack.append(name)
        more = try reader.read()
      }
    }
    if sections.isEmpty, let text = try Self.bodyText(path: path), !text.isEmpty {
      sections = [DocumentSection(text: text)]
    }
    if let doctype { labels["doctype"] = [doctype] }
    try emit(.document(ReaderDocument(externalID: externalID, title: title, sections: sections, labels: labels, metadata: metadata)))
  }

  static func readMeta(_ meta: xmlNodePtr, labels: inout [String: [String]], metadata: inout [String: String], externalID: inout String?) {
    guard let identification = meta.child("identification") else { return }
    if let work = identification.child("FRBRWork") {
      externalID = work.child("FRBRuri")?.attribute("value") ?? work.child("FRBRthis")?.attribute("value")
      if let uri = externalID { metadata["uri"] = uri }
      if let country = work.child("FRBRcountry")?.attribute("value") { labels["jurisdiction"] = [country] }
      if let date = work.child("FRBRdate")?.attribute("date") { metadata["date"] = date }
    }
    if let language = identification.path("FRBRExpression", "FRBRlanguage")?.attribute("language") {
      metadata["language"] = language
    }
  }

  static func section(_ node: xmlNodePtr, labelled: Bool) -> DocumentSection {
    let numNode = node.child("num")
    let headingNode = node.child("heading")
    var heading = TextBuilder()
    if let numNode { heading.appendText(of: numNode) }
    if let headingNode { heading.space(); heading.appendText(of: headingNode) }
    var body = TextBuilder()
    body.appendText(of: node) { child in
      if child == numNode || child == headingNode { return .skip }
      return role(child)
    }
    let identifier = node.attribute("eId") ?? node.attribute("id") ?? node.attribute("wId")
    return DocumentSection(
      heading: heading.isEmpty ? nil : heading.string,
      label: labelled ? normalizedLabel(node.localName) : nil,
      identifier: identifier, text: body.string)
  }

  /// Second pass for documents without units: the text of the first body.
  static func bodyText(path: String) throws -> String? {
    let reader = try XMLStreamReader(path: path)
    var more = try reader.read()
    while more {
      if reader.isElement && bodies.contains(reader.name) {
        var text = TextBuilder()
        text.appendText(of: try reader.expand(), role: role)
        return text.string
      }
      more = try reader.read()
    }
    return nil
  }

  static let blocks: Set<String> = [
    "p", "paragraph", "subparagraph", "clause", "subclause", "point", "list", "item", "intro", "wrapUp",
    "content", "blockList", "listIntroduction", "listWrapUp", "tr", "speech", "question", "answer",
    "hcontainer", "subsection", "article", "section", "chapter", "part", "title", "tblock", "block",
    "heading", "subheading", "blockContainer", "alinea", "indent", "crossHeading", "from", "narrative",
  ]

  static func role(_ node: xmlNodePtr) -> TextRole {
    let name = node.localName
    if name == "authorialNote" || name == "toc" || name == "meta" || name == "img" { return .skip }
    if name == "num" { return .label }
    if name == "td" || name == "th" { return .spaced }
    return blocks.contains(name) ? .block : .inline
  }
}
