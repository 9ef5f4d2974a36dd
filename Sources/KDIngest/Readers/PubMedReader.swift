import CLibXML2
import KDCore

/// Reads PubMed/MEDLINE XML (`MedlineCitationSet`, `PubmedArticleSet`), plain
/// or gzip-compressed, one citation at a time.
///
/// Each `MedlineCitation` / `PubmedArticle` / `PubmedBookArticle` becomes one
/// document: `externalID` is the PMID, `title` the ArticleTitle, and every
/// `AbstractText` a section whose `label` is its NlmCategory (or, when that is
/// missing or `UNASSIGNED`, its Label), upper-cased (`UNLABELLED` → nil): `BACKGROUND`, `OBJECTIVE`,
/// `METHODS`, `RESULTS`, `CONCLUSIONS`. A citation without an abstract has no
/// sections. Labels: `mesh` (descriptor names), `mesh_major` (major-topic
/// descriptors), `pubtype` (publication types), `language`. Metadata: `journal`,
/// `year`, `language`, `doi`, `pmc`, `status`. `DeleteCitation` entries emit
/// `.delete(externalID:)` per PMID.
public struct PubMedReader: StructuredReader {
  public var format: String { "pubmed" }

  public init() {}

  public func read(path: String, emit: (ReaderEvent) throws -> Void) throws {
    let reader = try XMLStreamReader(path: path)
    guard try reader.moveToRoot() else { throw KDError(.input, "empty XML document", file: path) }
    let root = reader.name
    guard root == "MedlineCitationSet" || root == "PubmedArticleSet" else {
      throw KDError(.input, "not PubMed XML: root element is <\(root)>, expected <PubmedArticleSet> or <MedlineCitationSet>", file: path, line: reader.line)
    }
    var atRecord = try reader.read()
    while atRecord {
      guard reader.isElement, reader.depth == 1 else {
        atRecord = try reader.read()
        continue
      }
      let line = reader.nodeLine
      let node = try reader.expand()
      if node.named("MedlineCitation") {
        try emit(.document(try Self.document(citation: node, article: nil, path: path, line: line)))
      } else if node.named("PubmedArticle") {
        guard let citation = node.child("MedlineCitation") else {
          throw KDError(.input, "<PubmedArticle> without <MedlineCitation>", file: path, line: line)
        }
        try emit(.document(try Self.document(citation: citation, article: node, path: path, line: line)))
      } else if node.named("PubmedBookArticle") {
        try emit(.document(try Self.bookDocument(node, path: path, line: line)))
      } else if node.named("DeleteCitation") {
        for pmid in node.elements where pmid.named("PMID") {
          if let id = pmid.nonEmptyText { try emit(.delete(externalID: id)) }
        }
      }
      atRecord = try reader.skipToNext()
    }
  }

  static func document(citation: xmlNodePtr, article wrapper: xmlNodePtr?, path: String, line: Int) throws -> ReaderDocument {
    guard let pmid = citation.child("PMID")?.nonEmptyText else {
      throw KDError(.input, "citation without PMID", file: path, line: line, field: "PMID")
    }
    var metadata: [String: String] = [:]
    var labels: [String: [String]] = [:]
    var title: String?
    var sections: [DocumentSection] = []
    if let status = citation.attribute("Status") { metadata["status"] = status }
    if let article = citation.child("Article") {
      title = article.child("ArticleTitle")?.nonEmptyText ?? article.child("VernacularTitle")?.nonEmptyText
      if let abstract = article.child("Abstract") { sections = abstractSections(abstract) }
      if let journal = article.child("Journal") {
        if let name = journal.child("Title")?.nonEmptyText { metadata["journal"] = name }
        if let date = journal.path("JournalIssue", "PubDate") {
          if let year = date.child("Year")?.nonEmptyText {
            metadata["year"] = year
          } else if let medline = date.child("MedlineDate")?.text, let year = firstYear(in: medline) {
            metadata["year"] = year
          }
        }
      }
      let languages = article.elements.filter { $0.named("Language") }.compactMap { $0.nonEmptyText }
      if !languages.isEmpty {
        labels["language"] = languages
        metadata["language"] = languages.joined(separator: ",")
      }
      if let types = article.child("PublicationTypeList") {
        let names = types.elements.filter { $0.named("PublicationType") }.compactMap { $0.nonEmptyText }
        if !names.isEmpty { labels["pubtype"] = names }
      }
      if metadata["doi"] == nil {
        for location in article.elements where location.named("ELocationID") && location.attribute("EIdType") == "doi" {
          metadata["doi"] = location.nonEmptyText
        }
      }
    }
    if let mesh = citation.child("MeshHeadingList") {
      var all: [String] = []
      var major: [String] = []
      for heading in mesh.elements where heading.named("MeshHeading") {
        guard let descriptor = heading.child("DescriptorName"), let name = descriptor.nonEmptyText else { continue }
        all.append(name)
        if descriptor.attribute("MajorTopicYN") == "Y"
          || heading.elements.contains(where: { $0.named("QualifierName") && $0.attribute("MajorTopicYN") == "Y" })
        {
          major.append(name)
        }
      }
      if !all.isEmpty { labels["mesh"] = all }
      if !major.isEmpty { labels["mesh_major"] = major }
    }
    if let ids = wrapper?.path("PubmedData", "ArticleIdList") {
      for id in ids.elements where id.named("ArticleId") {
        switch id.attribute("IdType") {
        case "doi": metadata["doi"] = id.nonEmptyText
        case "pmc": metadata["pmc"] = id.nonEmptyText
        default: break
        }
      }
    }
    return ReaderDocument(externalID: pmid, title: title, sections: sections, labels: labels, metadata: metadata)
  }

  /// A `PubmedBookArticle` (NCBI Bookshelf chapter): PMID, title, abstract.
  static func bookDocument(_ node: xmlNodePtr, path: String, line: Int) throws -> ReaderDocument {
    guard let book = node.child("BookDocument"), let pmid = book.child("PMID")?.nonEmptyText else {
      throw KDError(.input, "book article without PMID", file: path, line: line, field: "PMID")
    }
    let title = book.child("ArticleTitle")?.nonEmptyText ?? book.path("Book", "BookTitle")?.nonEmptyText
    let sections = book.child("Abstract").map(abstractSections) ?? []
    var labels: [String: [String]] = [:]
    let languages = book.elements.filter { $0.named("Language") }.compactMap { $0.nonEmptyText }
    if !languages.isEmpty { labels["language"] = languages }
    if let types = book.child("PublicationType")?.nonEmptyText { labels["pubtype"] = [types] }
    var metadata: [String: String] = ["kind": "book"]
    if let year = book.path("Book", "PubDate", "Year")?.nonEmptyText { metadata["year"] = year }
    return ReaderDocument(externalID: pmid, title: title, sections: sections, labels: labels, metadata: metadata)
  }

  /// One section per non-empty `AbstractText`, labelled by NlmCategory or Label.
  static func abstractSections(_ abstract: xmlNodePtr) -> [DocumentSection] {
    var sections: [DocumentSection] = []
    for part in abstract.elements where part.named("AbstractText") {
      let text = part.text
      if text.isEmpty { continue }
      let heading = part.attribute("Label")
      var label = normalizedLabel(part.attribute("NlmCategory"))
      if label == nil || label == "UNASSIGNED" { label = normalizedLabel(heading) }
      if label == "UNASSIGNED" || label == "UNLABELLED" { label = nil }
      sections.append(DocumentSection(heading: heading, label: label, text: text))
    }
    return sections
  }

  /// The first four-digit year in a free-text MedlineDate ("1998 Dec-1999 Jan").
  static func firstYear(in text: String) -> String? {
    let scalars = Array(text.utf8)
    var i = 0
    while i + 4 <= scalars.count {
      if scalars[i..<i + 4].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
        return String(decoding: scalars[i..<i + 4], as: UTF8.self)
      }
      i += 1
    }
    return nil
  }
}
