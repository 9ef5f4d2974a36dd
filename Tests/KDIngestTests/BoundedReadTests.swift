import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing

@testable import KDIngest

// Issue 16: a line longer than the limit is skipped unread (memory stays
// bounded for any input line), and an element with very many attributes is
// parsed in linear time.

@Suite struct BoundedLineTests {
  /// A 3 MB line (gzip, one member) between good rows, with a 1 MB limit:
  /// reported with its line number, never buffered; the other rows are kept.
  @Test func longLinesAreSkippedUnreadInEveryLineFormat() throws {
    let dir = try TemporaryDirectory()
    let long = String(repeating: "a", count: 3 << 20)
    try dir.write("c/m/t/rows.jsonl.gz", try gzip(Array(("{\"text\": \"good one\"}\n{\"text\": \"\(long)\"}\r\n{\"text\": \"good two\"}\n").utf8)))
    try dir.write("c/m/t/rows.csv", "text,label\ngood three,x\n\"\(long)\",y\ngood four,x\n")
    try dir.write("c/m/t/quoted.csv", "text,label\n\"first\n\(long)\nlast\",x\ngood five,y\n")
    try dir.write("c/m/lines/l.txt", "good six\n\(long)\ngood seven\n")
    try dir.write("c/kd-corpus.yaml", "files:\n  - path: \"m/lines/*.txt\"\n    format: lines\n")
    let db = dir.file("d.sqlite")
    // The record limit of CSV and JSON lines is 2 × --max-example-mb + 1 MB = 3 MB here.
    let s = try ingest(dir.file("c"), db: db) { $0.maxExampleBytes = 1 << 20 }
    #expect(s.filesFailed == 0, "\(s.errors)")
    func error(_ file: String) -> IngestSummary.FileError? { s.errors.first { $0.file == file } }
    #expect(error("m/t/rows.jsonl.gz")?.line == 2)
    #expect(error("m/t/rows.jsonl.gz")?.message.contains("skipped unread") == true)
    #expect(error("m/t/rows.csv")?.line == 3)
    #expect(error("m/t/rows.csv")?.message.contains("skipped unread") == true)
    #expect(error("m/t/quoted.csv")?.line == 2, "a record spanning lines is reported at its first line")
    #expect(error("m/lines/l.txt")?.line == 2)
    #expect(error("m/lines/l.txt")?.message.contains("over the 1 MB limit") == true)
    #expect(try count(db, "SELECT COUNT(*) FROM examples WHERE text LIKE 'good %'") == 7)
    #expect(try count(db, "SELECT COUNT(*) FROM examples WHERE text LIKE 'last%' OR text LIKE 'first%'") == 0)
  }

  @Test func lineStreamSplitsLFAndCRLFWithOffsets() throws {
    let dir = try TemporaryDirectory()
    let path = try dir.write("t.txt", [0xEF, 0xBB, 0xBF] + Array("é one\r\ntwo\n\nthree".utf8))
    let stream = try TextLineStream(path: path, display: "t.txt", latin1: false)
    var lines: [(String, Int, Bool)] = []
    try stream.forEachLine(limit: 100) { lines.append((try stream.decode($0.bytes, line: $0.number, byteOffset: $0.byteOffset), $0.scalarOffset, $0.crlf)) }
    #expect(lines.map(\.0) == ["é one", "two", "", "three"])
    #expect(lines.map(\.1) == [0, 7, 11, 12], "scalar offsets count the CR, as the decoded text does")
    #expect(lines.map(\.2) == [true, false, false, false])
  }

  @Test func csvRecordsAcrossLinesAndChunks() throws {
    let dir = try TemporaryDirectory()
    let text = "a,b\r\n\"x\"\"y\",\"multi\r\nline\"\n\"bad\"z,1\nlast,\"\"\n"
    let path = try dir.write("t.csv", text)
    var streamed: [[String]] = [], lines: [Int] = [], errors: [Int] = []
    // A tiny read chunk puts every boundary inside a record somewhere.
    let stream = try TextLineStream(path: path, display: "t.csv", latin1: false, chunk: 3)
    try CSVReader().parse(stream: stream, limit: 1000, onRecord: { streamed.append($0.fields); lines.append($0.line) },
                          onError: { l, _ in errors.append(l) })
    var whole: [[String]] = []
    CSVReader().parse(Array(text.utf8), onRecord: { whole.append($0.fields) }, onError: { _, _ in })
    #expect(streamed == whole)
    #expect(streamed == [["a", "b"], ["x\"y", "multi\r\nline"], ["last", ""]])
    #expect(lines == [1, 2, 5])
    #expect(errors == [4])
  }
}

@Suite struct XMLAttributeCapTests {
  func filtered(_ text: String, cap: Int, chunk: Int) -> String {
    var filter = XMLAttributeCap(cap: cap)
    var bytes = Array(text.utf8)
    var out: [UInt8] = []
    var start = 0
    while start < bytes.count {
      let n = min(chunk, bytes.count - start)
      let kept = bytes.withUnsafeMutableBufferPointer { filter.filter($0.baseAddress! + start, count: n) }
      out += bytes[start..<start + kept]
      start += n
    }
    bytes = out
    return String(decoding: bytes, as: UTF8.self)
  }

  @Test func attributesPastTheCapAreLeftOutAndMarkupIsRespected() {
    let doc = """
      <?xml version="1.0"?>
      <!DOCTYPE r [ <!ENTITY e "<x a='1' b='2' c='3'>"> <!-- it's a "comment" with ]> --> <!ATTLIST r a CDATA "]"> ]>
      <r a="1" b='2' c="3" d="4"><!-- <x a b c d> --><![CDATA[<y a="1" b="2" c="3">]]><?pi a="1" b="2" c="3"?>
      <e a="x>y" b="2" c="3"/><f  a = "1"  b="2"   c="3" >t</f></r>
      """
    let expected = """
      <?xml version="1.0"?>
      <!DOCTYPE r [ <!ENTITY e "<x a='1' b='2' c='3'>"> <!-- it's a "comment" with ]> --> <!ATTLIST r a CDATA "]"> ]>
      <r a="1" b='2' ><!-- <x a b c d> --><![CDATA[<y a="1" b="2" c="3">]]><?pi a="1" b="2" c="3"?>
      <e a="x>y" b="2" /><f  a = "1"  b="2"   >t</f></r>
      """
    for chunk in [1, 2, 3, 7, 4096] {
      #expect(filtered(doc, cap: 2, chunk: chunk) == expected, "chunk \(chunk)")
      #expect(filtered(doc, cap: 3, chunk: chunk) == doc.replacingOccurrences(of: " d=\"4\"", with: " "), "chunk \(chunk)")
    }
  }

  @Test(.enabled(if: ReaderFixtures.corporaPresent, "../shared/corpora is absent"))
  func realFilesPassUnchanged() throws {
    let root = ReaderFixtures.corpus("")
    let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String }
      .filter { $0.hasSuffix(".xml") || $0.hasSuffix(".nxml") || $0.hasSuffix(".XML") } ?? []
    #expect(files.count >= 20)
    for file in files {
      let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
      #expect(filtered(text, cap: XMLAttributeCap.defaultCap, chunk: 65536) == text, "\(file)")
    }
  }

  /// 200k attributes on one element: libxml2 alone takes minutes (quadratic);
  /// with the cap the file reads like any other and the section is kept.
  @Test func anElementWith200kAttributesIsRead() throws {
    let dir = try TemporaryDirectory()
    var doc = #"<?xml version="1.0"?><pLaw xmlns="http://schemas.gpo.gov/xml/uslm"><main><section identifier="/s1""#
    doc.reserveCapacity(2_400_000)
    for i in 0..<200_000 { doc += " a\(i)=\"v\"" }
    doc += #"><num value="1">SEC. 1.</num><heading>Title.</heading><content>Some text here.</content></section></main></pLaw>"#
    let path = try dir.write("c/legal/laws/attrs.xml", doc)
    let reader = try XMLStreamReader(path: path)
    while try reader.read() {}
    #expect(reader.droppedAttributes == 190_001, "200,001 attributes (with `identifier`), 10,000 kept")
    let s = try ingest(dir.file("c"), db: dir.file("d.sqlite"))
    #expect(s.filesFailed == 0 && s.examplesAdded == 1, "\(s.errors)")
    #expect(try count(dir.file("d.sqlite"), "SELECT COUNT(*) FROM examples WHERE text LIKE '%Some text here.'") == 1)
  }
}

private let slowTestsEnabled = ProcessInfo.processInfo.environment["KD_SLOW_TESTS"] == "1"

/// Peak memory of `kd-ingest` on generated hostile files, measured with
/// /usr/bin/time (KD_SLOW_TESTS=1; about a minute in a debug build).
@Suite(.enabled(if: slowTestsEnabled, "set KD_SLOW_TESTS=1 to run the long-line memory test"),
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/time"), "/usr/bin/time is absent"))
struct BoundedReadMemoryTests {
  /// Runs kd-ingest under /usr/bin/time; returns (peak RSS in MB, CPU seconds, status).
  func measure(_ arguments: [String]) throws -> (mb: Double, cpu: Double, status: Int32, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/time")
    p.arguments = ["-f", "KDTIME %M %U %S", TestPaths.binaries + "/kd-ingest"] + arguments
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    let data = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    let fields = text.split(separator: "\n").last { $0.hasPrefix("KDTIME ") }?.split(separator: " ") ?? []
    guard fields.count == 4, let kb = Double(fields[1]), let u = Double(fields[2]), let s = Double(fields[3]) else {
      Issue.record("no /usr/bin/time line in: \(text)")
      return (0, 0, -1, text)
    }
    return (kb / 1024, u + s, p.terminationStatus, text)
  }

  /// The tester's file: a ~400 KB `.jsonl.gz` holding one 400 MB line (peak
  /// 1.67 GB before). Also plain, and as CSV and a `lines` file.
  @Test func a400MBLineStaysInBoundedMemory() throws {
    let dir = try TemporaryDirectory()
    let line = Array("{\"text\": \"".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 400 << 20) + Array("\"}\n".utf8)
    try dir.write("c/m/t/huge.jsonl.gz", try gzip(Array("{\"text\": \"fine\"}\n".utf8) + line))
    try dir.write("d/m/t/huge.jsonl", Array("{\"text\": \"fine\"}\n".utf8) + line)
    try dir.write("e/m/lines/huge.txt", Array("fine\n".utf8) + [UInt8](repeating: UInt8(ascii: "b"), count: 400 << 20))
    try dir.write("e/kd-corpus.yaml", "files:\n  - path: \"m/lines/*.txt\"\n    format: lines\n")
    for corpus in ["c", "d", "e"] {
      let r = try measure([dir.file(corpus), "--db", dir.file("\(corpus).sqlite"), "--tokenizer", "none"])
      #expect(r.status == 3, "row error, exit code 3: \(r.stderr)")
      #expect(r.stderr.contains("skipped unread"), "\(r.stderr)")
      #expect(r.mb < 150, "\(corpus): peak RSS \(r.mb) MB (a 400 MB line must not be buffered)")
    }
  }

  /// 200k attributes on one element of a 2.3 MB file: 55–80 s before (quadratic).
  @Test func twoHundredThousandAttributesTakeLinearTime() throws {
    let dir = try TemporaryDirectory()
    var doc = #"<?xml version="1.0"?><pLaw xmlns="http://schemas.gpo.gov/xml/uslm"><main><section identifier="/s1""#
    for i in 0..<200_000 { doc += " a\(i)=\"v\"" }
    doc += #"><content>Some text here.</content></section></main></pLaw>"#
    try dir.write("c/legal/laws/attrs.xml", doc)
    let r = try measure([dir.file("c"), "--db", dir.file("d.sqlite"), "--tokenizer", "none"])
    #expect(r.status == 0, "\(r.stderr)")
    // A regression guard, not a benchmark (BENCHMARKS.md has the numbers): minutes before the fix.
    #expect(r.cpu < 20, "CPU \(r.cpu) s")
  }
}
