import Foundation
@testable import KDStore
import KDTestSupport
import KDTokenizers
import Testing

@testable import KDIngest

/// Ingest with a tokenizer: ids stored per example, windows that never drop text.
@Suite struct TokenizedIngestTests {
  let tokenizerPath = TestPaths.packageRoot + "/Tests/KDTokenizersTests/Resources/wordpiece-cased.json"

  func run(_ dir: TemporaryDirectory, segment: String? = nil, maxTokens: Int = 32, stride: Int = 8,
           tokenizer: String? = nil) throws -> IngestSummary {
    var o = IngestOptions(corpus: dir.file("c"), database: dir.file("d.sqlite"))
    o.segment = segment
    o.maxTokens = maxTokens
    o.stride = stride
    o.lockTimeout = 5
    let ingestor = Ingestor(options: o)
    try TokenizerSetup.configure(ingestor, path: tokenizer ?? tokenizerPath, log: { _ in })
    return try ingestor.run()
  }

  /// How many stored tokenizations differ from the encoding of their example's own text.
  func storedIDsNotMatchingTheirText(_ store: Store, _ tokenizer: Tokenizer) throws -> Int {
    let st = try store.db.prepare("SELECT e.text, t.width, t.ids FROM examples e JOIN tokenizations t ON t.example_id = e.id")
    var mismatches = 0
    while try st.step() {
      var ids: [Int32] = []
      st.withBlob(2) { TokenBlob.decode($0, width: st.int(1), into: &ids) }
      if ids != tokenizer.encode(st.text(0)).ids { mismatches += 1 }
    }
    return mismatches
  }

  @Test func tokenIdsAreStoredAndMatchTheTokenizer() throws {
    let dir = try TemporaryDirectory()
    try dir.write("c/m/t/a.csv", "text,label\nThe patient reported chest pain.,x\nNo acute distress.,y\n")
    let s = try run(dir)
    #expect(s.examplesTokenized == 2)
    let tokenizer = try Tokenizer.load(path: tokenizerPath)
    let store = try Store.open(path: dir.file("d.sqlite"))
    let st = try store.db.prepare("SELECT e.text, t.width, t.ids, t.length FROM examples e JOIN tokenizations t ON t.example_id = e.id")
    var n = 0
    while try st.step() {
      var ids: [Int32] = []
      st.withBlob(2) { TokenBlob.decode($0, width: st.int(1), into: &ids) }
      #expect(ids == tokenizer.encode(st.text(0)).ids)
      #expect(ids.count == st.int(3))
      n += 1
    }
    #expect(n == 2)
    #expect(try store.db.scalarText("SELECT content_hash FROM tokenizers") == tokenizer.contentHash)
    // Rerun: nothing to tokenize again.
    let again = try run(dir)
    #expect(again.examplesTokenized == 0)
  }

  @Test func everyExampleIsTokenizedAfterFilesChange() throws {
    let dir = try TemporaryDirectory()
    for f in 0..<6 {
      try dir.write("c/m/t/f\(f).csv", "text,label\n" + (0..<300).map { "file \(f) row \($0) text,x" }.joined(separator: "\n") + "\n")
    }
    _ = try run(dir)
    // Replace the last file: its new rows may reuse ids the tokenizer already passed.
    try dir.write("c/m/t/f5.csv", "text,label\n" + (0..<400).map { "changed row \($0),y" }.joined(separator: "\n") + "\n")
    let s = try run(dir)
    #expect(s.examplesTokenized == 400)
    let store = try Store.open(path: dir.file("d.sqlite"))
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM examples") == 1900)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM examples e WHERE NOT EXISTS (SELECT 1 FROM tokenizations t WHERE t.example_id = e.id)") == 0)
  }

  @Test func untokenizedStoreCatchesUpWithEveryIDMatchingItsOwnText() throws {
    // A store ingested without a tokenizer, then rerun with one while a file
    // changes: the changed file's new rows reuse the ids of its deleted rows,
    // and every example must end up with the ids of its own text, once.
    let dir = try TemporaryDirectory()
    for f in 0..<4 {
      try dir.write("c/m/t/f\(f).csv", "text,label\n" + (0..<300).map { "file \(f) row \($0) text,x" }.joined(separator: "\n") + "\n")
    }
    let first = try run(dir, tokenizer: "none")
    #expect(first.examplesTokenized == 0)
    try dir.write("c/m/t/f3.csv", "text,label\n" + (0..<350).map { "changed row \($0) words,y" }.joined(separator: "\n") + "\n")
    let s = try run(dir)
    #expect(s.examplesTokenized == 1250)
    let tokenizer = try Tokenizer.load(path: tokenizerPath)
    let store = try Store.open(path: dir.file("d.sqlite"))
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM tokenizations") == 1250)
    #expect(try storedIDsNotMatchingTheirText(store, tokenizer) == 0)
    #expect(try run(dir).examplesTokenized == 0)
  }

  @Test func pubmedUpdateDeletingEarlierRowsInTheSameRunKeepsIDsAndDuplicatesRight() throws {
    // base.xml (bigger, ingested first) and update.xml in one run: the update's
    // DeleteCitation removes base's last citations, whose ids the update's new
    // rows may then reuse, and the first copy of a duplicated abstract.
    let dir = try TemporaryDirectory()
    func citation(_ pmid: Int, _ text: String) -> String {
      "<MedlineCitation><PMID>\(pmid)</PMID><Article><ArticleTitle>Title \(pmid)</ArticleTitle><Abstract><AbstractText>\(text)</AbstractText></Abstract></Article></MedlineCitation>"
    }
    var base = (1...40).map { citation($0, "Result number \($0) of the trial.") }
    base[4] = citation(5, "The same abstract twice.")
    base[5] = citation(6, "The same abstract twice.")
    try dir.write("c/medical/pm/base.xml", "<?xml version=\"1.0\"?><MedlineCitationSet>" + base.joined() + "</MedlineCitationSet>")
    try dir.write("c/medical/pm/update.xml", "<?xml version=\"1.0\"?><MedlineCitationSet>"
      + citation(41, "A newer abstract.") + citation(42, "Another newer abstract.")
      + "<DeleteCitation><PMID>5</PMID><PMID>39</PMID><PMID>40</PMID></DeleteCitation></MedlineCitationSet>")
    let s = try run(dir)
    #expect(s.documentsDeleted == 3)
    let store = try Store.open(path: dir.file("d.sqlite"))
    let examples = try store.db.scalarInt("SELECT COUNT(*) FROM examples") ?? -1
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM tokenizations") == examples)
    let tokenizer = try Tokenizer.load(path: tokenizerPath)
    #expect(try storedIDsNotMatchingTheirText(store, tokenizer) == 0)
    // PMID 6's abstract lost its first copy (PMID 5): it is no duplicate any more.
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM examples WHERE duplicate_of IS NOT NULL") == 0)
    #expect(try store.db.scalarInt(
      "SELECT COUNT(*) FROM examples e WHERE e.duplicate_of IS NOT NULL AND NOT EXISTS (SELECT 1 FROM examples f WHERE f.id = e.duplicate_of)") == 0)
  }

  @Test func windowsCoverTheWholeDocumentWithOverlap() throws {
    let dir = try TemporaryDirectory()
    let words = (0..<300).map { "word\($0)" }
    let text = words.joined(separator: " ")
    try dir.write("c/m/t/long.txt", text)
    _ = try run(dir, segment: "window", maxTokens: 32, stride: 8)
    let store = try Store.open(path: dir.file("d.sqlite"))
    let st = try store.db.prepare("SELECT e.text, e.char_start, e.char_end, t.length FROM examples e JOIN tokenizations t ON t.example_id = e.id ORDER BY e.position")
    var spans: [(Int, Int)] = []
    while try st.step() {
      #expect(st.int(3) <= 32, "a window fits max-tokens, specials included")
      let start = st.int(1), end = st.int(2)
      let scalars = Array(text.unicodeScalars)
      var sub = String.UnicodeScalarView()
      sub.append(contentsOf: scalars[start..<end])
      #expect(st.text(0) == String(sub), "the example text is its span of the document")
      spans.append((start, end))
    }
    #expect(spans.count > 5)
    #expect(spans.first?.0 == 0)
    #expect(spans.last?.1 == text.unicodeScalars.count, "the last window reaches the end: nothing is truncated")
    for (a, b) in zip(spans, spans.dropFirst()) {
      #expect(b.0 < a.1, "consecutive windows overlap (stride)")
      #expect(b.0 > a.0)
    }
  }
}
