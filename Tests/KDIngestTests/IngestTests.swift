import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing

@testable import KDIngest

/// Ingest into a fresh store and return the summary.
func ingest(_ corpus: String, db: String, manifest: String? = nil, prune: Bool = false, configure: (inout IngestOptions) -> Void = { _ in }) throws -> IngestSummary {
  var o = IngestOptions(corpus: corpus, database: db)
  o.manifest = manifest
  o.prune = prune
  o.lockTimeout = 5
  configure(&o)
  return try Ingestor(options: o).run()
}

func count(_ db: String, _ sql: String) throws -> Int {
  let s = try Store.open(path: db)
  return Int(try s.db.scalarInt(sql) ?? -1)
}

@Suite struct IngestFormatTests {
  @Test func csvWithQuotesNewlinesAndEmptyLabels() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/medical/topics/a.csv", "id,text,label\n1,\"Chest pain, with ST elevation.\",cardio\n2,Tumour growth,onco\n3,\"He said \"\"ok\"\"\nand left\",\n")
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite"))
    #expect(s.filesNew == 1)
    #expect(s.examplesAdded == 3)
    #expect(s.rowErrors == 0)
    let store = try Store.open(path: dir.file("d.sqlite"))
    #expect(try store.db.scalarText("SELECT text FROM examples WHERE position = 0 AND document_id = (SELECT id FROM documents WHERE external_id = '3')") == "He said \"ok\"\nand left")
    // Empty label = unlabeled, but kept.
    #expect(try count(dir.file("d.sqlite"), "SELECT COUNT(*) FROM examples e WHERE NOT EXISTS (SELECT 1 FROM example_labels l WHERE l.example_id = e.id)") == 1)
    let task = try #require(try store.task(named: "topics"))
    #expect(task.labels == ["cardio", "onco"])
  }

  @Test func tsvAndGzipJSONLines() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/financial/intents/q.tsv", "text\tlabel\nlost my card\tcard_lost\nwhere is my card\t\n")
    let jsonl = "{\"id\": 7, \"text\": \"refund please\", \"labels\": [\"refund\", \"complaint\"]}\n{\"text\": \"hello\", \"label\": null}\n"
    try dir.write("c/financial/intents/more.jsonl.gz", try gzip(Array(jsonl.utf8)))
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite"))
    #expect(s.filesNew == 2)
    #expect(s.examplesAdded == 4)
    let store = try Store.open(path: dir.file("d.sqlite"))
    let task = try #require(try store.task(named: "intents"))
    #expect(task.multiLabel)
    #expect(Set(task.labels) == ["card_lost", "refund", "complaint"])
  }

  @Test func plainTextDocumentsLinesAndSentences() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/legal/notes/a.txt", "First sentence here. Second one, by Dr. Smith, follows! Third?\n")
    try dir.write("c/kd-corpus.yaml", "files:\n  - path: \"legal/notes/*.txt\"\n    segment: sentences\n")
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite"))
    #expect(s.examplesAdded == 3)
    let store = try Store.open(path: dir.file("d.sqlite"))
    let st = try store.db.prepare("SELECT text, char_start, char_end FROM examples ORDER BY position")
    var got: [String] = []
    while try st.step() { got.append(st.text(0)) }
    #expect(got == ["First sentence here.", "Second one, by Dr. Smith, follows!", "Third?"])
  }

  @Test func parallelLabelFilesWithRules() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/legal/tos/sentences/A.txt", "We may end your account.\nYou own your data.\nDisputes go to our courts.\n")
    try dir.write("c/legal/tos/tags/A.txt", "ter2\n\nj1 law1\n")
    try dir.write("c/legal/kd-corpus.yaml", """
      files:
        - path: "tos/sentences/*.txt"
          format: lines
          task: fairness
          labels_from: "tos/tags/{name}"
          label_separator: " "
          label_rules: [{match: "[23]$", label: unfair}]
          default_label: fair
      """)
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite"))
    #expect(s.filesNew == 1, "the tags file is not a corpus file of its own")
    #expect(s.skipped.contains { $0.hasPrefix("legal/tos/tags/A.txt") })
    let store = try Store.open(path: dir.file("d.sqlite"))
    let st = try store.db.prepare("SELECT e.text, l.name FROM examples e JOIN example_labels x ON x.example_id = e.id JOIN labels l ON l.id = x.label_id ORDER BY e.position")
    var got: [String] = []
    while try st.step() { got.append(st.text(1)) }
    #expect(got == ["unfair", "fair", "fair"])
  }

  @Test func parallelFilesMustPair() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/legal/tos/sentences/A.txt", "one\ntwo\n")
    try dir.write("c/legal/tos/tags/A.txt", "x\n")
    try dir.write("c/legal/kd-corpus.yaml", "files:\n  - path: \"tos/sentences/*.txt\"\n    format: lines\n    labels_from: \"tos/tags/{name}\"\n")
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite"))
    #expect(s.filesFailed == 1)
    #expect(s.errors.first?.message.contains("1 lines but the text file has 2") == true)
  }

  @Test func manifestMapsColumnsAndLabelNames() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/medical/mt/data.csv", "cls,abstract\n1,Tumour found\n2,Gastric ulcer\n")
    try dir.write("c/medical/mt/names.csv", "id,name\n1,neoplasms\n2,digestive\n")
    try dir.write("c/manifest.yaml", """
      files:
        - path: "medical/mt/names.csv"
          skip: true
        - path: "medical/mt/data.csv"
          text: abstract
          label: cls
          label_names: names.csv
      """)
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite"), manifest: dir.file("c/manifest.yaml"))
    #expect(s.examplesAdded == 2)
    let store = try Store.open(path: dir.file("d.sqlite"))
    #expect(try store.task(named: "mt")?.labels == ["neoplasms", "digestive"])
  }

  @Test func splitsAreDeterministicAndHonoured() throws {
    let dir = try TemporaryDirectory()
    var csv = "id,text,label,split\n"
    for i in 0..<300 { csv += "\(i),text number \(i),l\(i % 3),\n" }
    csv += "900,explicit test row,l0,test\n"
    try dir.write("c/d/t/train.csv", "text,label\n" + (0..<200).map { "train text \($0),a" }.joined(separator: "\n") + "\n")
    try dir.write("c/d/u/rows.csv", csv)
    _ = try ingest(dir.file("c"), db: dir.file("a.sqlite"))
    _ = try ingest(dir.file("c"), db: dir.file("b.sqlite"))
    let q = "SELECT group_concat(split, '') FROM (SELECT split FROM examples ORDER BY text)"
    let a = try Store.open(path: dir.file("a.sqlite")).db.scalarText(q)
    let b = try Store.open(path: dir.file("b.sqlite")).db.scalarText(q)
    #expect(a == b, "same corpus, same splits")
    let store = try Store.open(path: dir.file("a.sqlite"))
    #expect(try store.db.scalarText("SELECT split FROM examples WHERE text = 'explicit test row'") == "test")
    // A file named train.csv keeps train, with a deterministic share for validation and no test.
    let trainFile = "(SELECT e.id FROM examples e JOIN documents d ON d.id = e.document_id JOIN sources s ON s.id = d.source_id WHERE s.path = 'd/t/train.csv')"
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM examples WHERE split = 'test' AND id IN \(trainFile)") == 0)
    let val = try store.db.scalarInt("SELECT COUNT(*) FROM examples WHERE split = 'validation' AND id IN \(trainFile)") ?? 0
    #expect(val > 5 && val < 40)
    // Hash split spreads ~80/10/10.
    let rowsFile = "(SELECT e.id FROM examples e JOIN documents d ON d.id = e.document_id JOIN sources s ON s.id = d.source_id WHERE s.path = 'd/u/rows.csv')"
    let train = try store.db.scalarInt("SELECT COUNT(*) FROM examples WHERE split = 'train' AND id IN \(rowsFile)") ?? 0
    #expect(train > 210 && train < 270)
  }

  @Test func duplicatesNeverCrossSplits() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/d/t/train.csv", "text,label\nsame text,a\nother,b\n")
    try dir.write("c/d/t/test.csv", "text,label\nsame text,a\nfresh,b\n")
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite"))
    #expect(s.duplicates == 1)
    #expect(s.duplicatesAcrossSplits == 1)
    let store = try Store.open(path: dir.file("d.sqlite"))
    // The loaders' view (duplicate_of IS NULL) holds the text once.
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM examples WHERE text = 'same text' AND duplicate_of IS NULL") == 1)
  }
}

@Suite struct IngestIncrementalTests {
  @Test func rerunAddsNothingThenReplacesAndPrunes() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/m/t/a.csv", "text,label\none,x\ntwo,y\n")
    try dir.write("c/m/t/b.csv", "text,label\nthree,x\n")
    let db = dir.file("d.sqlite")
    let first = try ingest(dir.file("c"), db: db)
    #expect(first.filesNew == 2 && first.examplesAdded == 3)
    let second = try ingest(dir.file("c"), db: db)
    #expect(second.filesUnchanged == 2 && second.examplesAdded == 0 && !second.changedAnything)
    #expect(IngestReport.text(second).contains("nothing to do"))
    try dir.write("c/m/t/a.csv", "text,label\none,x\ntwo,y\nfour,z\n")
    try FileManager.default.removeItem(atPath: dir.file("c/m/t/b.csv"))
    try dir.write("c/m/t/c.csv", "text,label\nfive,x\n")
    let dry = try ingest(dir.file("c"), db: db, prune: true) { $0.dryRun = true }
    #expect(dry.plan["changed"] == ["m/t/a.csv"] && dry.plan["new"] == ["m/t/c.csv"] && dry.plan["pruned"] == ["m/t/b.csv"])
    #expect(try count(db, "SELECT COUNT(*) FROM examples") == 3, "a dry run writes nothing")
    let third = try ingest(dir.file("c"), db: db, prune: true)
    #expect(third.filesChanged == 1 && third.filesNew == 1 && third.filesPruned == 1)
    #expect(try count(db, "SELECT COUNT(*) FROM examples") == 4)
    #expect(try count(db, "SELECT COUNT(*) FROM documents") == 4)
    #expect(try count(db, "SELECT COUNT(*) FROM runs WHERE stage = 'ingest' AND status IN ('ok','partial')") == 3)
  }

  @Test func aChangedFileThatBreaksKeepsItsOldRows() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("d.sqlite")
    try dir.write("c/m/t/a.csv", "text,label\none,x\ntwo,y\n")
    _ = try ingest(dir.file("c"), db: db)
    try dir.write("c/m/t/a.csv", [0x74, 0x65, 0x78, 0x74, 0x0a, 0xff, 0xfe, 0x0a])
    let s = try ingest(dir.file("c"), db: db)
    #expect(s.filesFailed == 1)
    #expect(try count(db, "SELECT COUNT(*) FROM examples") == 2, "stored rows survive a bad update")
    let store = try Store.open(path: db)
    #expect(try store.db.scalarText("SELECT status FROM sources") == "error")
    #expect(try store.db.scalarText("SELECT error FROM sources")?.contains("m/t/a.csv:2: invalid UTF-8") == true)
  }
}

@Suite struct IngestBadInputTests {
  @Test func eachBadFileIsReportedAndTheOthersGoOn() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/m/t/good.csv", "text,label\nfine,x\n")
    try dir.write("c/m/t/latin1.txt", [0x63, 0x61, 0x66, 0xe9, 0x0a])          // "café" in Latin-1
    try dir.write("c/m/t/bom.csv", [0xEF, 0xBB, 0xBF] + Array("text,label\nwith bom,x\n".utf8))
    try dir.write("c/m/t/empty.txt", "")
    try dir.write("c/m/t/binary.txt", [0x00, 0x01, 0x02, 0x03, 0x00])
    try dir.write("c/m/t/badquote.csv", "text,label\n\"never closed,x\n")
    try dir.write("c/m/t/ragged.csv", "text,label\nok,x\ntoo,many,fields\n")
    let gz = try gzip(Array("text,label\nzipped,x\n".utf8))
    try dir.write("c/m/t/truncated.csv.gz", Array(gz.prefix(gz.count - 12)))
    try dir.write("c/m/t/notes.bin", "ignored")
    FileManager.default.createFile(atPath: dir.file("c/m/t/huge.txt"), contents: Data(repeating: 0x61, count: 3 << 20))
    // A dangling symlink: an unreadable file.
    try FileManager.default.createSymbolicLink(atPath: dir.file("c/m/t/gone.txt"), withDestinationPath: dir.file("nowhere.txt"))
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite")) { $0.maxExampleBytes = 1 << 20 }
    func err(_ f: String) -> String? { s.errors.first { $0.file == "m/t/\(f)" }?.message }
    #expect(err("latin1.txt")?.contains("invalid UTF-8") == true)
    #expect(s.errors.first { $0.file == "m/t/latin1.txt" }?.line == 1)
    #expect(err("bom.csv") == nil, "a BOM is stripped, not an error")
    #expect(err("empty.txt") == "empty file")
    #expect(err("binary.txt")?.contains("binary file") == true)
    #expect(err("badquote.csv")?.contains("never closed") == true)
    #expect(err("ragged.csv")?.contains("3 fields") == true)
    #expect(s.errors.first { $0.file == "m/t/ragged.csv" }?.line == 3)
    #expect(err("truncated.csv.gz")?.contains("truncated gzip") == true)
    #expect(err("huge.txt")?.contains("over the 1 MB limit") == true)
    #expect(err("gone.txt")?.contains("cannot read") == true)
    #expect(s.skipped.contains { $0.hasPrefix("m/t/notes.bin") })
    let store = try Store.open(path: dir.file("d.sqlite"))
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM examples WHERE text IN ('fine', 'with bom', 'ok')") == 3)
    #expect(try store.db.scalarText("SELECT text FROM examples WHERE text LIKE 'with%'") == "with bom")
    // Recorded on the source rows.
    // Whole-file problems fail the file; row-level problems keep the good rows.
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM sources WHERE status = 'error'") == 5)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM sources WHERE status = 'partial'") == 3)
    #expect(try store.db.scalarText("SELECT status FROM sources WHERE path = 'm/t/ragged.csv'") == "partial")
  }

  @Test func latin1IsReadWhenTheManifestSaysSo() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/m/t/latin1.txt", [0x63, 0x61, 0x66, 0xe9, 0x0a])
    try dir.write("c/kd-corpus.yaml", "files:\n  - path: \"**/latin1.txt\"\n    encoding: latin-1\n")
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite"))
    #expect(s.filesFailed == 0)
    #expect(try Store.open(path: dir.file("d.sqlite")).db.scalarText("SELECT text FROM examples") == "café\n")
  }

  @Test func badManifestsNameTheField() throws {
    let dir = try TemporaryDirectory()
    try dir.write("m.yaml", "files:\n  - path: \"*.csv\"\n    segment: paragraphs\n")
    #expect(throws: KDError.self) { try CorpusManifest.load(path: dir.file("m.yaml")) }
    do { _ = try CorpusManifest.load(path: dir.file("m.yaml")) } catch let e as KDError {
      #expect(e.field == "files[0].segment")
      #expect(e.file == dir.file("m.yaml"))
    }
    try dir.write("n.yaml", "files:\n  - segment: lines\n")
    do { _ = try CorpusManifest.load(path: dir.file("n.yaml")); Issue.record("expected an error") } catch let e as KDError {
      #expect(e.message.contains("path"))
    }
  }

  @Test func missingCorpusFolderIsAUsageError() throws {
    let dir = try TemporaryDirectory()
    #expect(throws: KDError.self) { try ingest(dir.file("nope"), db: dir.file("d.sqlite")) }
  }
}

@Suite struct CSVReaderTests {
  @Test func rfc4180() {
    var recs: [[String]] = []
    var lines: [Int] = []
    CSVReader().parse(Array("a,b\r\n\"x,1\",\"y\"\"z\"\r\n\"multi\nline\",2\nlast,\n".utf8), onRecord: { recs.append($0.fields); lines.append($0.line) }, onError: { _, _ in })
    #expect(recs == [["a", "b"], ["x,1", "y\"z"], ["multi\nline", "2"], ["last", ""]])
    #expect(lines == [1, 2, 3, 5])
  }
}

@Suite struct SentenceSplitterTests {
  @Test func abbreviationsAndNumbers() {
    let t = "Patients (n = 12) were seen by Dr. Lee et al. in 2019. Results improved 3.5 fold. U.S. law applies."
    let s = SentenceSplitter.split(t).map { String(t[$0]) }
    #expect(s == ["Patients (n = 12) were seen by Dr. Lee et al. in 2019.", "Results improved 3.5 fold.", "U.S. law applies."])
  }
}

/// gzip-compresses bytes with the system gzip (test helper).
func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
  let dir = try TemporaryDirectory()
  let p = try dir.write("x", bytes)
  let r = try runCommand("/bin/gzip", ["-kn", p])
  guard r.status == 0 else { throw KDError(.io, "gzip failed: \(r.stderr)") }
  return [UInt8](FileManager.default.contents(atPath: p + ".gz") ?? Data())
}

@Suite struct StructuredIngestTests {
  @Test func genericXMLThroughTheManifest() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/news/feed/items.xml", """
      <?xml version="1.0"?>
      <rss><channel>
        <item><guid>a1</guid><title>Rates rise</title><description>The bank raised rates.</description><category>macro</category></item>
        <item><guid>a2</guid><title>Card fees</title><description>New fees &amp; charges.</description><category>retail</category></item>
      </channel></rss>
      """)
    try dir.write("c/kd-corpus.yaml", """
      files:
        - path: "news/feed/*.xml"
          format: xml
          segment: document
          xml:
            record_path: /rss/channel/item
            text_paths: [description]
            id_path: guid
            title_path: title
            label_paths: {feed: category}
      """)
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite"))
    #expect(s.filesFailed == 0, "\(s.errors)")
    let store = try Store.open(path: dir.file("d.sqlite"))
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM documents WHERE external_id IN ('a1', 'a2')") == 2)
    #expect(try store.db.scalarText("SELECT text FROM examples e JOIN documents d ON d.id = e.document_id WHERE d.external_id = 'a2'") == "Card fees\n\nNew fees & charges.")
    #expect(try store.task(named: "feed")?.labels == ["macro", "retail"])
  }

  @Test func unknownXMLIsAClearPerFileError() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/d/t/odd.xml", "<?xml version=\"1.0\"?><catalog><book>x</book></catalog>")
    try dir.write("c/d/t/ok.csv", "text,label\nfine,x\n")
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite"))
    #expect(s.filesFailed == 1)
    #expect(s.errors.first?.message.contains("unknown XML format") == true)
    #expect(s.examplesAdded == 1)
  }

  @Test func runAfterAnUnfinishedRunRecomputesEveryDuplicate() throws {
    // A run that replaced a file and died before recomputing duplicates leaves
    // stale `duplicate_of` values; the next run, even with nothing to add, fixes them.
    let dir = try TemporaryDirectory()
    try dir.write("c/m/t/a.csv", "text,label\nsame text,x\nsame text,y\nother text,x\n")
    let db = dir.file("d.sqlite")
    _ = try ingest(dir.file("c"), db: db)
    #expect(try count(db, "SELECT COUNT(*) FROM examples WHERE duplicate_of IS NOT NULL") == 1)
    do {
      let store = try Store.open(path: db)
      try store.db.execute("UPDATE examples SET duplicate_of = 424242 WHERE text = 'other text'")
      try store.db.execute("UPDATE runs SET status = 'interrupted' WHERE id = (SELECT MAX(id) FROM runs WHERE stage = 'ingest')")
    }
    let s = try ingest(dir.file("c"), db: db)
    #expect(s.duplicates == 1)
    #expect(try count(db, "SELECT COUNT(*) FROM examples WHERE duplicate_of = 424242") == 0)
  }

  @Test func pubmedDeleteCitationRemovesEarlierDocuments() throws {
    let dir = try TemporaryDirectory()
    func citation(_ pmid: String, _ title: String) -> String {
      "<MedlineCitation><PMID>\(pmid)</PMID><Article><ArticleTitle>\(title)</ArticleTitle><Abstract><AbstractText Label=\"RESULTS\" NlmCategory=\"RESULTS\">Result of \(pmid).</AbstractText></Abstract></Article></MedlineCitation>"
    }
    try dir.write("c/medical/pm/base.xml", "<?xml version=\"1.0\"?><MedlineCitationSet>\(citation("11", "One"))\(citation("12", "Two"))</MedlineCitationSet>")
    let db = dir.file("d.sqlite")
    _ = try ingest(dir.file("c"), db: db)
    #expect(try count(db, "SELECT COUNT(*) FROM documents") == 2)
    try dir.write("c/medical/pm/update.xml", "<?xml version=\"1.0\"?><MedlineCitationSet>\(citation("13", "Three"))<DeleteCitation><PMID>11</PMID></DeleteCitation></MedlineCitationSet>")
    let s = try ingest(dir.file("c"), db: db)
    #expect(s.documentsDeleted == 1)
    #expect(try count(db, "SELECT COUNT(*) FROM documents WHERE external_id = '11'") == 0)
    #expect(try count(db, "SELECT COUNT(*) FROM documents") == 2)
    let store = try Store.open(path: db)
    #expect(try store.task(named: "pm")?.labels == ["RESULTS"], "section labels are the task's classes")
  }
}
