import CLibXML2
import Foundation
import KDCore

/// Reads PubMed Central / JATS (NLM Archiving and Publishing DTDs, `.nxml`),
/// a single `article` or a `pmc-articleset` of many, one article at a time.
///
/// Per article: `externalID` is the PMC id (`PMC1234`), else the PMID, else the
/// DOI; `title` the article-title. Sections, in order: the abstract (one
/// section per abstract `sec` when structured, labelled like PubMed:
/// `BACKGROUND`, `OBJECTIVE`, `METHODS`, `RESULTS`, `CONCLUSIONS`; otherwise one
/// section labelled `ABSTRACT`), then each top-level body `sec` with its title
/// as heading, a label from its `sec-type` or title (`INTRODUCTION`, `METHODS`,
/// `RESULTS`, `DISCUSSION`, `CONCLUSIONS`, or nil) and its `id` as identifier;
/// nested sections stay inside their parent's text. Tables, figures, formulas
/// and the reference list are left out unless enabled.
/// Labels: `article_type`, `subject` (article categories), `keywords`.
/// Metadata: `journal`, `year`, `pmid`, `pmc`, `doi`.
public struct JATSReader: StructuredReader {
  public var format: String { "jats" }
  public var includeTables: Bool
  public var includeFigures: Bool
  public var includeReferences: Bool

  public init(includeTables: Bool = false, includeFigures: Bool = false, includeReferences: Bool = false) {
    self.includeTables = includeTables
    self.includeFigures = includeFigures
    self.includeReferences = includeReferences
  }

  public func read(path: String, emit: (ReaderEvent) throws -> Void) throws {
    let reader = try XMLStreamReader(path: path)
    guard try reader.moveToRoot() else { throw KDError(.input, "empty XML document", file: path) }
    let root = reader.name
    guard root == "article" || root == "pmc-articleset" else {
      throw KDError(.input, "not JATS: root element is <\(root)>, expected <article> or <pmc-articleset>", file: path, line: reader.line)
    }
    if root == "article" {
      try emit(.document(try document(try reader.expand(), path: path, line: reader.nodeLine)))
      return
    }
    var more = try reader.read()
    while more {
      if reader.isElement && reader.depth == 1 {
        if reader.name == "article" {
          let line = reader.nodeLine
          try emit(.document(try document(try reader.expand(), path: path, line: line)))
        }
        more = try reader.skipToNext()
      } else {
        more = try reader.read()
      }
    }
  }

  func document(_ article: xmlNodePtr, path: String, line: Int) throws -> ReaderDocument {
    var labels: [String: [String]] = [:]
    var metadata: [String: String] = [:]
    if let type = article.attribute("article-type") { labels["article_type"] = [type] }
    let front = article.child("front")
    let meta = front?.child("article-meta")
    if let journal = front?.child("journal-meta") {
      metadata["journal"] = journal.path("journal-title-group", "journal-title")?.nonEmptyText ?? journal.child("journal-title")?.nonEmptyText
    }
    var title: String?
    var sections: [DocumentSection] = []
    if let meta {
      for id in meta.elements where id.named("article-id") {
        guard let value = id.nonEmptyText, let type = id.attribute("pub-id-type") else { continue }
        switch type {
        case "pmc", "pmcid": metadata["pmc"] = value.hasPrefix("PMC") ? value : "PMC" + value
        case "pmid": metadata["pmid"] = value
        case "doi": metadata["doi"] = value
        default: break
        }
      }
      title = meta.path("title-group", "article-title")?.nonEmptyText
      if let categories = meta.child("article-categories") {
        var subjects: [xmlNodePtr] = []
        categories.descendants("subject", into: &subjects)
        let names = subjects.compactMap { $0.nonEmptyText }
        if !names.isEmpty { labels["subject"] = names }
      }
      var keywords: [xmlNodePtr] = []
      for group in meta.elements where group.named("kwd-group") { group.descendants("kwd", into: &keywords) }
      if !keywords.isEmpty { labels["keywords"] = keywords.compactMap { $0.nonEmptyText } }
      for date in meta.elements where date.named("pub-date") {
        if metadata["year"] == nil, let year = date.child("year")?.nonEmptyText { metadata["year"] = year }
      }
      let abstracts = meta.elements.filter { $0.named("abstract") }
      let main = abstracts.first(where: { $0.attribute("abstract-type") == nil }) ?? abstracts.first(where: {
        !["graphical", "teaser", "toc", "editor", "author-highlights"].contains($0.attribute("abstract-type") ?? "")
      })
      if let main { sections += abstractSections(main) }
    }
    if let body = article.child("body") { sections += bodySections(body) }
    if includeReferences, let refs = article.child("back")?.child("ref-list") {
      var text = TextBuilder()
      for ref in refs.elements where ref.named("ref") {
        text.paragraph()
        text.appendText(of: ref, role: { $0.named("label") ? .skip : .spaced })
      }
      if !text.isEmpty { sections.append(DocumentSection(heading: "References", label: "REFERENCES", text: text.string)) }
    }
    let externalID = metadata["pmc"] ?? metadata["pmid"] ?? metadata["doi"]
    return ReaderDocument(externalID: externalID, title: title, sections: sections, labels: labels, metadata: metadata)
  }

  func abstractSections(_ abstract: xmlNodePtr) -> [DocumentSection] {
    let secs = abstract.elements.filter { $0.named("sec") }
    if secs.isEmpty {
      let text = self.text(abstract, skipping: abstract.child("title"))
      return text.isEmpty ? [] : [DocumentSection(heading: "Abstract", label: "ABSTRACT", text: text)]
    }
    return secs.compactMap { sec in
      let heading = sec.child("title")?.nonEmptyText
      let text = self.text(sec, skipping: sec.child("title"))
      guard !text.isEmpty else { return nil }
      return DocumentSection(
        heading: heading, label: Self.category(secType: sec.attribute("sec-type"), title: heading, abstract: true) ?? normalizedLabel(heading),
        identifier: sec.attribute("id"), text: text)
    }
  }

  func bodySections(_ body: xmlNodePtr) -> [DocumentSection] {
    var sections: [DocumentSection] = []
    var loose = TextBuilder()
    for child in body.elements {
      if child.named("sec") {
        if !loose.isEmpty {
          sections.append(DocumentSection(text: loose.string))
          loose = TextBuilder()
        }
        let heading = child.child("title")?.nonEmptyText
        let text = self.text(child, skipping: child.child("title"))
        if text.isEmpty { continue }
        sections.append(DocumentSection(
          heading: heading, label: Self.category(secType: child.attribute("sec-type"), title: heading, abstract: false),
          identifier: child.attribute("id"), text: text))
      } else if role(child) != .skip {
        loose.paragraph()
        loose.appendText(of: child, role: role)
      }
    }
    if !loose.isEmpty { sections.append(DocumentSection(text: loose.string)) }
    return sections
  }

  func text(_ node: xmlNodePtr, skipping title: xmlNodePtr?) -> String {
    var builder = TextBuilder()
    builder.appendText(of: node) { child in child == title ? .skip : role(child) }
    return builder.string
  }

  static let blocks: Set<String> = [
    "p", "sec", "title", "list-item", "list", "caption", "def-item", "disp-quote", "boxed-text", "statement",
    "speech", "verse-line", "label", "table-wrap", "fig", "tr", "disp-formula", "preformat", "fn",
  ]

  func role(_ node: xmlNodePtr) -> TextRole {
    guard let name = node.pointee.name else { return .inline }
    if nameEquals(name, "table-wrap") || nameEquals(name, "table-wrap-group") || nameEquals(name, "table") {
      return includeTables ? .block : .skip
    }
    if nameEquals(name, "fig") || nameEquals(name, "fig-group") { return includeFigures ? .block : .skip }
    if nameEquals(name, "td") || nameEquals(name, "th") { return .spaced }
    if nameEquals(name, "ref-list") || nameEquals(name, "graphic") || nameEquals(name, "media")
      || nameEquals(name, "supplementary-material") || nameEquals(name, "disp-formula") || nameEquals(name, "tex-math")
      || nameEquals(name, "math") || nameEquals(name, "alternatives") || nameEquals(name, "inline-graphic")
    {
      return .skip
    }
    return Self.blocks.contains(String(cString: name)) ? .block : .inline
  }

  /// The section kind from a JATS `sec-type` or a heading, in PubMed's vocabulary.
  static func category(secType: String?, title: String?, abstract: Bool) -> String? {
    for raw in [secType, title] {
      guard let value = raw?.lowercased(), !value.isEmpty else { continue }
      if value.hasPrefix("intro") || value.contains("introduction") || value.hasPrefix("background") {
        return abstract ? "BACKGROUND" : "INTRODUCTION"
      }
      if value.hasPrefix("objective") || value.hasPrefix("aim") || value.hasPrefix("purpose") { return "OBJECTIVE" }
      if value.contains("method") || value.hasPrefix("materials") || value.hasPrefix("patients and") || value.hasPrefix("design") || value.hasPrefix("experimental") {
        return "METHODS"
      }
      if value.hasPrefix("result") || value.hasPrefix("finding") { return "RESULTS" }
      if value.hasPrefix("discussion") { return "DISCUSSION" }
      if value.hasPrefix("conclusion") || value.hasPrefix("interpretation") || value.hasPrefix("summary") { return "CONCLUSIONS" }
    }
    return nil
  }
}
