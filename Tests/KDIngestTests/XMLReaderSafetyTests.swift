import Foundation
import KDCore
import Testing

@testable import KDIngest

// Error and safety behaviour of the structured readers: every bad file gives a
// KDError naming the file (and line where libxml2 knows it); nothing is ever
// fetched; entity expansion stays bounded.

private func citation(_ pmid: String, _ abstract: String) -> String {
  "<MedlineCitation Owner=\"NLM\" Status=\"MEDLINE\"><PMID Version=\"1\">\(pmid)</PMID><Article>"
    + "<ArticleTitle>Title \(pmid)</ArticleTitle><Abstract><AbstractText Label=\"RESULTS\" NlmCategory=\"RESULTS\">"
    + "\(abstract)</AbstractText></Abstract><Language>eng</Language></Article></MedlineCitation>"
}

private func medline(_ records: [(String, String)], doctype: String = "") -> String {
  let body = records.map { citation($0.0, $0.1) }.joined(separator: "\n")
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\(doctype)\n<MedlineCitationSet>\n\(body)\n</MedlineCitationSet>\n"
}

struct XMLReaderSafetyTests {
  @Test func malformedXMLNamesFileAndLine() throws {
    let dir = try ReaderFixtures.temporaryDirectory()
    let text = medline([("1", "fine")]).replacingOccurrences(of: "</ArticleTitle>", with: "</ArticleTitl>")
    let path = try ReaderFixtures.write(text, "broken.xml", in: dir)
    let error = try #require(readError(PubMedReader(), path))
    #expect(error.kind == .input)
    #expect(error.file == path)
    #expect(error.line == 4)
    #expect(error.description.contains("broken.xml:4"))
    #expect(error.message.contains("malformed XML"))
  }

  @Test func truncatedXMLIsAnErrorAfterTheCompleteRecords() throws {
    let dir = try ReaderFixtures.temporaryDirectory()
    let full = medline([("1", "one"), ("2", "two"), ("3", "three")])
    let cut = String(full.prefix(full.count - 200))
    let path = try ReaderFixtures.write(cut, "truncated.xml", in: dir)
    var seen: [String] = []
    #expect(throws: KDError.self) {
      try PubMedReader().read(path: path) { event in
        if case .document(let doc) = event { seen.append(doc.externalID ?? "") }
      }
    }
    #expect(seen == ["1", "2"])
  }

  @Test func truncatedGzipIsAClearError() throws {
    let dir = try ReaderFixtures.temporaryDirectory()
    // Compress a generated MEDLINE file with gzip, then cut it in half.
    let plain = try ReaderFixtures.write(medline((1...400).map { ("\($0)", String(repeating: "text \($0) ", count: 20)) }), "big.xml", in: dir)
    let gzip = Process()
    gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
    gzip.arguments = ["-k", plain]
    try gzip.run()
    gzip.waitUntilExit()
    let compressed = try Data(contentsOf: URL(fileURLWithPath: plain + ".gz"))
    let path = try ReaderFixtures.write([UInt8](compressed.prefix(compressed.count / 2)), "cut.xml.gz", in: dir)
    let error = try #require(readError(PubMedReader(), path))
    #expect(error.kind == .input)
    #expect(error.file == path)
    // The complete file reads fine.
    #expect(try readAll(PubMedReader(), plain + ".gz").documents.count == 400)
  }

  @Test func wrongDeclaredEncodingIsAnError() throws {
    let dir = try ReaderFixtures.temporaryDirectory()
    // Declared UTF-8, but "é" written as a single Latin-1 byte.
    var bytes = Array(medline([("1", "caf_")]).utf8)
    if let i = bytes.firstIndex(of: UInt8(ascii: "_")) { bytes[i] = 0xE9 }
    let path = try ReaderFixtures.write(bytes, "latin1-as-utf8.xml", in: dir)
    let error = try #require(readError(PubMedReader(), path))
    #expect(error.kind == .input)
    #expect(error.message.contains("UTF-8") || error.message.lowercased().contains("encoding"))
    #expect(error.line == 4)

    // The same bytes declared as ISO-8859-1 decode correctly.
    var declared = Array(medline([("1", "caf_")]).replacingOccurrences(of: "UTF-8", with: "ISO-8859-1").utf8)
    if let i = declared.firstIndex(of: UInt8(ascii: "_")) { declared[i] = 0xE9 }
    let latin1 = try ReaderFixtures.write(declared, "latin1.xml", in: dir)
    #expect(try readAll(PubMedReader(), latin1).documents.first?.sections.first?.text == "café")

    // An encoding libxml2 does not know.
    let unknown = try ReaderFixtures.write(medline([("1", "x")]).replacingOccurrences(of: "UTF-8", with: "X-NO-SUCH"), "unknown.xml", in: dir)
    let unknownError = try #require(readError(PubMedReader(), unknown))
    #expect(unknownError.message.contains("X-NO-SUCH") || unknownError.message.lowercased().contains("encoding"))
  }

  @Test func utf8ByteOrderMarkIsAccepted() throws {
    let dir = try ReaderFixtures.temporaryDirectory()
    let path = try ReaderFixtures.write([0xEF, 0xBB, 0xBF] + Array(medline([("7", "bom")]).utf8), "bom.xml", in: dir)
    #expect(try readAll(PubMedReader(), path).documents.map(\.externalID) == ["7"])
    let prefix = Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4096))
    #expect(ReaderRegistry.detectName(path: path, prefix: prefix) == "pubmed")
  }

  @Test func namespacedVariantsReadLikePlainOnes() throws {
    let dir = try ReaderFixtures.temporaryDirectory()
    let plain = medline([("11", "alpha"), ("12", "beta")])
    let defaulted = plain.replacingOccurrences(of: "<MedlineCitationSet>", with: "<MedlineCitationSet xmlns=\"urn:example:pubmed\">")
    var prefixed = plain.replacingOccurrences(of: "<MedlineCitationSet>", with: "<p:MedlineCitationSet xmlns:p=\"urn:example:pubmed\">")
    prefixed = prefixed.replacingOccurrences(of: "</MedlineCitationSet>", with: "</p:MedlineCitationSet>")
    prefixed = prefixed.replacingOccurrences(of: "<MedlineCitation ", with: "<p:MedlineCitation ")
    prefixed = prefixed.replacingOccurrences(of: "</MedlineCitation>", with: "</p:MedlineCitation>")
    let expected = try readAll(PubMedReader(), try ReaderFixtures.write(plain, "plain.xml", in: dir)).documents
    #expect(expected.count == 2)
    for (name, text) in [("default.xml", defaulted), ("prefixed.xml", prefixed)] {
      let path = try ReaderFixtures.write(text, name, in: dir)
      #expect(try readAll(PubMedReader(), path).documents == expected, "\(name)")
      let prefix = Array(text.utf8.prefix(4096))
      #expect(ReaderRegistry.detectName(path: path, prefix: prefix) == "pubmed", "\(name)")
    }
  }

  @Test func externalEntitiesAreNeverRead() throws {
    let dir = try ReaderFixtures.temporaryDirectory()
    let secret = try ReaderFixtures.write("TOP-SECRET-MARKER", "secret.txt", in: dir)
    let dtd = try ReaderFixtures.write("<!ENTITY marker \"DTD-MARKER\">", "local.dtd", in: dir)
    let cases = [
      // Classic XXE: an external general entity.
      "<!DOCTYPE MedlineCitationSet [<!ENTITY xxe SYSTEM \"file://\(secret)\">]>",
      // An external parameter entity.
      "<!DOCTYPE MedlineCitationSet [<!ENTITY % p SYSTEM \"file://\(secret)\"> %p;]>",
      // An external DTD that would declare the entity.
      "<!DOCTYPE MedlineCitationSet SYSTEM \"file://\(dtd)\">",
      // A network DTD: never fetched (no network, no DTD loading).
      "<!DOCTYPE MedlineCitationSet PUBLIC \"-//NLM//DTD X//EN\" \"http://127.0.0.1:9/x.dtd\">",
    ]
    for (i, doctype) in cases.enumerated() {
      let text = medline([("1", "before &xxe; &marker; after")], doctype: doctype)
      let path = try ReaderFixtures.write(text, "xxe\(i).xml", in: dir)
      var output = ""
      do {
        let result = try readAll(PubMedReader(), path)
        output = result.allText
        #expect(result.documents.count == 1, "case \(i)")
      } catch let error as KDError {
        output = error.description
      }
      #expect(!output.contains("TOP-SECRET-MARKER"), "case \(i)")
      #expect(!output.contains("DTD-MARKER"), "case \(i)")
    }
  }

  @Test func entityExpansionIsBounded() throws {
    let dir = try ReaderFixtures.temporaryDirectory()
    var laughs = "<!DOCTYPE MedlineCitationSet [<!ENTITY lol \"lol\">"
    laughs += "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
    for level in 2...9 {
      laughs += "<!ENTITY lol\(level) \"" + String(repeating: "&lol\(level - 1);", count: 10) + "\">"
    }
    laughs += "]>"
    let billion = try ReaderFixtures.write(medline([("1", "&lol9;")], doctype: laughs), "laughs.xml", in: dir)
    // Quadratic blowup: one 100 KB entity referenced 20,000 times.
    let big = String(repeating: "a", count: 100_000)
    let quadratic = try ReaderFixtures.write(
      medline([("2", String(repeating: "&big;", count: 20_000))], doctype: "<!DOCTYPE MedlineCitationSet [<!ENTITY big \"\(big)\">]>"),
      "quadratic.xml", in: dir)
    for path in [billion, quadratic] {
      do {
        let result = try readAll(PubMedReader(), path)
        #expect(result.allText.utf8.count < 2 * XMLSafety.entityExpansionBudget, "\(path)")
      } catch let error as KDError {
        #expect(error.kind == .input)
        #expect(error.file == path)
      }
    }
  }

  @Test func aCitationWithoutPMIDNamesItsLine() throws {
    let dir = try ReaderFixtures.temporaryDirectory()
    let text = medline([("1", "a"), ("", "b")])
    let path = try ReaderFixtures.write(text, "nopmid.xml", in: dir)
    var ids: [String] = []
    let error = #expect(throws: KDError.self) {
      try PubMedReader().read(path: path) { if case .document(let d) = $0 { ids.append(d.externalID ?? "") } }
    }
    #expect(ids == ["1"])
    #expect(error?.field == "PMID")
    #expect(error?.line == 5)
    #expect(error?.description.hasPrefix("\(path):5: PMID: citation without PMID") == true)
  }

  @Test func deeplyNestedMarkupIsAnErrorNotACrash() throws {
    let dir = try ReaderFixtures.temporaryDirectory()
    let deep = String(repeating: "<i>", count: 5000) + "x" + String(repeating: "</i>", count: 5000)
    let path = try ReaderFixtures.write(medline([("1", deep)]), "deep.xml", in: dir)
    let error = try #require(readError(PubMedReader(), path))
    #expect(error.message.contains("depth"))
    // Nesting within libxml2's limit reads, flattening the markup.
    let nested = String(repeating: "<i>", count: 200) + "deep text" + String(repeating: "</i>", count: 200)
    let fine = try ReaderFixtures.write(medline([("2", nested)]), "nested.xml", in: dir)
    #expect(try readAll(PubMedReader(), fine).documents.first?.sections.first?.text == "deep text")
  }

  @Test func emptyAndMissingFilesAreErrors() throws {
    let dir = try ReaderFixtures.temporaryDirectory()
    let empty = try ReaderFixtures.write("", "empty.xml", in: dir)
    for reader in [PubMedReader(), JATSReader(), USLMReader(), AkomaNtosoReader(), EDGARReader()] as [StructuredReader] {
      let error = try #require(readError(reader, empty))
      #expect(error.file == empty, "\(reader.format)")
      let missing = try #require(readError(reader, dir.appendingPathComponent("nope.xml").path))
      #expect(missing.kind == .io, "\(reader.format)")
      #expect(missing.message.contains("not found"))
    }
  }

  @Test func aReaderGivenTheWrongFormatSaysSo() throws {
    let uslm = ReaderFixtures.fixture("uslm-unnamespaced.xml")
    let pubmed = try #require(readError(PubMedReader(), uslm))
    #expect(pubmed.message.contains("not PubMed XML"))
    #expect(pubmed.message.contains("<pLaw>"))
    let jats = try #require(readError(JATSReader(), uslm))
    #expect(jats.message.contains("not JATS"))
    let akn = try #require(readError(AkomaNtosoReader(), uslm))
    #expect(akn.message.contains("not Akoma Ntoso"))
    let atom = try #require(readError(USLMReader(), ReaderFixtures.fixture("atom-feed.xml")))
    #expect(atom.message.contains("not USLM"))
  }

  @Test func oneBadFileDoesNotStopTheNext() throws {
    let dir = try ReaderFixtures.temporaryDirectory()
    let good1 = try ReaderFixtures.write(medline([("1", "a")]), "a.xml", in: dir)
    let bad = try ReaderFixtures.write("<MedlineCitationSet><MedlineCitation>", "b.xml", in: dir)
    let good2 = try ReaderFixtures.write(medline([("3", "c")]), "c.xml", in: dir)
    let reader = PubMedReader()
    var ids: [String] = []
    var errors: [String] = []
    for path in [good1, bad, good2] {
      do {
        try reader.read(path: path) { if case .document(let d) = $0 { ids.append(d.externalID ?? "") } }
      } catch let error as KDError {
        errors.append(error.file ?? "")
      }
    }
    #expect(ids == ["1", "3"])
    #expect(errors == [bad])
  }
}
