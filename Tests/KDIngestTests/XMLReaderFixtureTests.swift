import Foundation
import KDCore
import Testing
import Yams

@testable import KDIngest

// Readers on the small committed fixtures: variants the corpora lack
// (un-namespaced USLM, Akoma Ntoso 2.0, a 10-Q in an SGML envelope) and the
// generic reader's configuration.

struct XMLReaderFixtureTests {
  @Test func unnamespacedUSLM() throws {
    let path = ReaderFixtures.fixture("uslm-unnamespaced.xml")
    let prefix = Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4096))
    #expect(ReaderRegistry.detectName(path: path, prefix: prefix) == "uslm")
    let doc = try #require(try readAll(USLMReader(), path).documents.first)
    #expect(doc.externalID == "Public Law 999–1")
    #expect(doc.title == "To test readers of un-namespaced USLM.")
    #expect(doc.labels["doctype"] == ["pLaw"])
    #expect(doc.sections.map(\.heading) == ["Sec. 101. Short title.", "Sec. 102. Amendment."])
    #expect(doc.sections.map(\.identifier) == ["/tI/s101", "/tI/s102"])
    #expect(doc.sections[0].text == "This Act may be cited as the Reader Test Act.")
    // The quoted section stays inside section 102.
    #expect(doc.sections[1].text.contains("Quoted text."))
  }

  @Test func usCodeInTheHouseNamespace() throws {
    let path = ReaderFixtures.fixture("uscode-house.xml")
    let prefix = Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4096))
    #expect(ReaderRegistry.detectName(path: path, prefix: prefix) == "uslm")
    let doc = try #require(try readAll(USLMReader(), path).documents.first)
    #expect(doc.externalID == "/us/usc/t99")
    #expect(doc.labels["doctype"] == ["uscDoc"])
    #expect(doc.sections.map(\.identifier) == ["/us/usc/t99/s1", "/us/usc/t99/s2"])
    #expect(doc.sections.map(\.heading) == ["§ 1. Definitions", "§ 2. Scope"])
    #expect(doc.sections[0].text == "In this title—\n\n(1) the term “reader” means a program.\n\n(Pub. L. 999–1, § 1.)")
  }

  @Test func akomaNtoso2Namespace() throws {
    let path = ReaderFixtures.fixture("akn2-act.xml")
    let prefix = Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4096))
    #expect(ReaderRegistry.detectName(path: path, prefix: prefix) == "akn")
    let doc = try #require(try readAll(AkomaNtosoReader(), path).documents.first)
    #expect(doc.externalID == "/ke/act/2010/1")
    #expect(doc.title == "The Test Act, 2010")
    #expect(doc.labels["doctype"] == ["act"])
    #expect(doc.labels["jurisdiction"] == ["ke"])
    #expect(doc.sections.map(\.identifier) == ["sec1", "sec2"])
    #expect(doc.sections.map(\.heading) == ["1. Short title", "2. Interpretation"])
    #expect(doc.sections[1].text == "(1) In this Act court means the High Court.")
  }

  @Test func tenQInAnSGMLEnvelope() throws {
    let path = ReaderFixtures.fixture("edgar-10q.html")
    let prefix = Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4096))
    #expect(ReaderRegistry.detectName(path: path, prefix: prefix) == "edgar")
    let doc = try #require(try readAll(EDGARReader(), path).documents.first)
    #expect(doc.labels["form"] == ["10-Q"])
    #expect(doc.externalID == "test-10q.htm")
    #expect(doc.sections.compactMap(\.label) == ["I-1", "I-2", "II-1A", "II-6"])
    let mdna = try #require(doc.sections.first { $0.label == "I-2" })
    #expect(mdna.heading == "Item 2. Management’s Discussion and Analysis")
    #expect(mdna.text.hasPrefix("Our results improved"))
    let text = doc.sections.map(\.text).joined(separator: " ")
    #expect(!text.contains("SCRIPT TEXT"))
    #expect(!text.contains("HIDDEN HEADER TEXT"))
    #expect(!text.contains("color: red"))
    #expect(!text.contains("<TYPE>"))
    #expect(!text.contains("test-10q.htm"))
  }

  @Test func fullSubmissionGivesOneDocumentPerTextDocument() throws {
    let path = ReaderFixtures.fixture("edgar-submission.txt")
    let prefix = Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4096))
    #expect(ReaderRegistry.detectName(path: path, prefix: prefix) == "edgar")
    let result = try readAll(EDGARReader(), path)
    // The GRAPHIC and the XBRL instance are skipped.
    #expect(result.documents.map(\.externalID) == ["0000950123-99-000001/k10.txt", "0000950123-99-000001/ex21.htm"])
    #expect(result.documents.map { $0.labels["form"] ?? [] } == [["10-K"], ["EX-21"]])
    let annual = result.documents[0]
    #expect(annual.metadata["company"] == "EXAMPLE WIDGETS INC")
    #expect(annual.metadata["cik"] == "0000999999")
    #expect(annual.metadata["submission_type"] == "10-K")
    // A plain-text 10-K: blank lines separate blocks; the table of contents is not taken for the Items.
    #expect(annual.sections.compactMap(\.label) == ["1", "7"])
    #expect(annual.sections[1].heading == "ITEM 1. BUSINESS")
    #expect(annual.sections[1].text == "Example Widgets Inc. designs and sells widgets to industrial customers in North America and Europe.\n\nSales grew in every region during the year.")
    #expect(result.documents[1].sections.map(\.text) == ["Subsidiaries of the registrant:\n\nWidgets GmbH Germany"])
    let all = result.allText
    #expect(!all.contains("begin 644"))
    #expect(!all.contains("XBRL INSTANCE TEXT"))

    // Chunk boundaries inside <DOCUMENT>, <TEXT> and </TEXT> change nothing.
    for size in [16, 17, 23, 64] {
      var reader = EDGARReader()
      reader.chunkSize = size
      let small = try readAll(reader, path)
      #expect(small.documents == result.documents, "chunk size \(size)")
    }
    var reader = EDGARReader()
    reader.chunkSize = 16
    #expect(try readAll(reader, ReaderFixtures.fixture("edgar-10q.html")).documents == (try readAll(EDGARReader(), ReaderFixtures.fixture("edgar-10q.html")).documents))
  }

  @Test func textIsWhitespaceNormalised() {
    var text = TextBuilder()
    text.append("  Hello\u{A0}\u{2009}world \n\t again ")
    text.paragraph()
    text.append("Next\u{202F}paragraph.")
    text.paragraph()
    text.paragraph()
    #expect(text.string == "Hello world again\n\nNext paragraph.")
    var empty = TextBuilder()
    empty.paragraph()
    empty.append(" \n ")
    #expect(empty.isEmpty)
  }

  @Test func everyNamedReaderExists() throws {
    for name in ReaderRegistry.names where name != "generic" {
      #expect(try ReaderRegistry.reader(named: name, options: [:]).format == (name == "akn" ? "akn" : name))
    }
    #expect(try ReaderRegistry.reader(named: "MEDLINE", options: [:]).format == "pubmed")
    #expect(try ReaderRegistry.reader(named: "akoma-ntoso", options: [:]).format == "akn")
  }

  @Test func itemLabelsParse() {
    #expect(EDGARReader.itemLabel("Item 1A. Risk Factors") == "1A")
    #expect(EDGARReader.itemLabel("ITEM 7A") == "7A")
    #expect(EDGARReader.itemLabel("Item\u{2009}5.07 Submission") == "5.07")
    #expect(EDGARReader.itemLabel("Item 9.01(d). Exhibits") == "9.01")
    #expect(EDGARReader.itemLabel("PART II — Item 1A.") == "1A")
    #expect(EDGARReader.itemLabel("Item 1Business") == nil)
    #expect(EDGARReader.itemLabel("Items 1 and 2") == nil)
    #expect(EDGARReader.itemLabel("Itemized deductions") == nil)
    #expect(EDGARReader.itemLabel("Item 123") == nil)
  }

  @Test func genericReaderOnANamespacedFeed() throws {
    let yaml = """
      record_path: //a:entry
      text_paths: [a:summary, a:content]
      id_path: a:id
      title_path: a:title
      label_paths: {topic: "a:category/@term"}
      namespaces: {a: "http://www.w3.org/2005/Atom"}
      """
    let config = try YAMLDecoder().decode(GenericXMLConfig.self, from: yaml)
    #expect(config.textPaths == ["a:summary", "a:content"])
    let result = try readAll(try GenericXMLReader(config: config), ReaderFixtures.fixture("atom-feed.xml"))
    #expect(result.documents.map(\.externalID) == ["urn:entry:1", "urn:entry:2", "urn:entry:3"])
    #expect(result.documents.map(\.title) == ["First & foremost", "Second", "Third, without text"])
    #expect(result.documents[0].labels["topic"] == ["finance", "markets"])
    #expect(result.documents[1].labels["topic"] == ["health"])
    #expect(result.documents[2].labels["topic"] == nil)
    #expect(result.documents[0].sections.map(\.text) == ["Stocks rose on Monday.", "Paragraph one.\n\nParagraph two."])
    #expect(result.documents[2].sections.isEmpty)
    // An XPath with an undeclared prefix fails on the first record, naming file and line.
    let undeclared = try GenericXMLReader(config: GenericXMLConfig(recordPath: "//a:entry", textPaths: ["zz:summary"], namespaces: config.namespaces))
    let xpathError = try #require(readError(undeclared, ReaderFixtures.fixture("atom-feed.xml")))
    #expect(xpathError.message.contains("XPath 'zz:summary' failed"))
    #expect(xpathError.line == 4)
    // Without the prefix the default-namespace elements do not match: a clear error.
    let unprefixed = try GenericXMLReader(config: GenericXMLConfig(recordPath: "//entry", textPaths: ["summary"]))
    let error = try #require(readError(unprefixed, ReaderFixtures.fixture("atom-feed.xml")))
    #expect(error.message.contains("no element matches record_path '//entry'"))
  }

  @Test func genericConfigFromManifestOptions() throws {
    let reader = try ReaderRegistry.reader(
      named: "generic",
      options: ["record_path": "/feed/*", "text_paths": ["summary"], "label_paths": ["topic": "category/@term"]])
    #expect(reader.format == "generic")
    let config = try #require((reader as? GenericXMLReader)?.config)
    #expect(config.recordPath == "/feed/*")
    #expect(config.labelPaths == ["topic": "category/@term"])

    let missing = #expect(throws: KDError.self) { try ReaderRegistry.reader(named: "generic", options: ["text_paths": ["x"]]) }
    #expect(missing?.field == "record_path")
    let predicate = #expect(throws: KDError.self) {
      try GenericXMLReader(config: GenericXMLConfig(recordPath: "//item[@x='1']", textPaths: ["."]))
    }
    #expect(predicate?.message.contains("name steps") == true)
    let prefix = #expect(throws: KDError.self) {
      try GenericXMLReader(config: GenericXMLConfig(recordPath: "//q:item", textPaths: ["."]))
    }
    #expect(prefix?.message.contains("prefix 'q'") == true)
    let xpath = #expect(throws: KDError.self) {
      try GenericXMLReader(config: GenericXMLConfig(recordPath: "//item", textPaths: ["foo[["]))
    }
    #expect(xpath?.message.contains("invalid XPath 'foo[['") == true)
    let unknown = #expect(throws: KDError.self) { try ReaderRegistry.reader(named: "docx", options: [:]) }
    #expect(unknown?.message.contains("unknown reader 'docx'") == true)
    let badOption = #expect(throws: KDError.self) {
      try ReaderRegistry.reader(named: "jats", options: ["include_tables": "maybe"])
    }
    #expect(badOption?.field == "include_tables")
    let jats = try ReaderRegistry.reader(named: "jats", options: ["include_tables": true])
    #expect((jats as? JATSReader)?.includeTables == true)
  }

  @Test func detectionFromPrefixes() {
    func name(_ text: String, path: String = "x.xml") -> String? {
      ReaderRegistry.detectName(path: path, prefix: Array(text.utf8))
    }
    #expect(name("<?xml version=\"1.0\"?>\n<!-- c -->\n<!DOCTYPE PubmedArticleSet PUBLIC \"x\" \"y\">\n<PubmedArticleSet>") == "pubmed")
    #expect(name("<MedlineCitationSet>") == "pubmed")
    #expect(name("<article xmlns:xlink=\"x\" dtd-version=\"1.3\"><front>") == "jats")
    #expect(name("<article>", path: "a.nxml") == "jats")
    #expect(name("<article><p>blog</p></article>") == nil)
    #expect(name("<bill xmlns=\"http://schemas.gpo.gov/xml/uslm\">") == "uslm")
    #expect(name("<uslm:lawDoc xmlns:uslm=\"http://schemas.gpo.gov/xml/uslm\">") == "uslm")
    #expect(name("<akomaNtoso xmlns=\"http://docs.oasis-open.org/legaldocml/ns/akn/3.0\">") == "akn")
    #expect(name("<html xmlns:ix=\"http://www.xbrl.org/2013/inlineXBRL\"><body>") == "edgar")
    #expect(name("<DOCUMENT>\n<TYPE>8-K\n") == "edgar")
    #expect(name("<html><body>blog</body></html>") == nil)
    #expect(name("<rss version=\"2.0\"><channel>") == nil)
    #expect(name("id,text\n1,hello\n") == nil)
    #expect(name("") == nil)
    // Gzip-compressed prefixes are inflated first, even when truncated.
    #expect(ReaderRegistry.detectName(path: "x.xml.gz", prefix: [0x1F, 0x8B, 0x08]) == nil)
  }
}
