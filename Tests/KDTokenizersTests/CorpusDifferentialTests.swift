import Foundation
import Testing
@testable import KDTokenizers

/// Every text line of ../shared/corpora must tokenize exactly as HF `tokenizers` does (ids and
/// offsets), for each test tokenizer. HF results are committed as per-chunk digests
/// (tools/tokenizers/make_goldens.py); `tools/tokenizers/diff_corpora.py` shows the exact lines of a
/// failing chunk.
@Suite struct CorpusDifferentialTests {
  static var sampleEvery: Int {
    if ProcessInfo.processInfo.environment["KD_SLOW_TESTS"] == "1" { return 1 }
    #if DEBUG
      return 16
    #else
      return 1
    #endif
  }

  @Test(arguments: Fixtures.goldenNames)
  func everyCorpusLineMatchesHF(name: String) throws {
    guard Fixtures.hasCorpora else {
      print("SKIP corpus differential test (\(name)): \(Fixtures.corporaRoot.path) is absent")
      return
    }
    guard let tok = try Fixtures.tokenizer(name) else {
      print("SKIP corpus differential test (\(name)): \(Fixtures.minilmPath) is absent")
      return
    }
    let digest = try Fixtures.json(Fixtures.resource("corpus-digest-\(name).json"))
    let chunk = (digest["chunk"] as? NSNumber)?.intValue ?? 256
    let files = digest["files"] as? [String: Any] ?? [:]
    var checkedLines = 0, totalLines = 0, mismatches = 0, fileIndex = 0
    var skipped: [String] = []
    for rel in CorpusLines.files(root: Fixtures.corporaRoot) {
      guard let want = files[rel] as? [String: Any] else { skipped.append("\(rel) (no digest)"); continue }
      let (texts, hash) = try CorpusLines.lines(of: Fixtures.corporaRoot.appendingPathComponent(rel))
      guard hash == want["fnv1a64"] as? String else { skipped.append("\(rel) (file changed)"); continue }
      #expect(texts.count == (want["lines"] as? NSNumber)?.intValue, "\(rel): line count differs from the Python reader")
      let chunks = want["chunks"] as? [String] ?? []
      var c = 0
      while c * chunk < texts.count {
        defer { c += 1 }
        // Debug builds check every `sampleEvery`-th chunk unless KD_SLOW_TESTS=1 (release builds check all).
        if (fileIndex + c) % CorpusDifferentialTests.sampleEvery != 0 { continue }
        let range = (c * chunk)..<min(texts.count, (c + 1) * chunk)
        let encodings = tok.encodeBatch(Array(texts[range]), threads: 2)
        checkedLines += range.count
        var d = LineDigest()
        for e in encodings {
          d.add(ids: e.ids, offsets: e.offsets.map { ($0.start, $0.end) })
        }
        if c >= chunks.count || d.hex != chunks[c] {
          mismatches += 1
          Issue.record("\(name): \(rel) lines \(range.lowerBound + 1)...\(range.upperBound) differ from HF; run `python3 tools/tokenizers/diff_corpora.py --tokenizer \(name) --file \(rel)`")
        }
      }
      totalLines += texts.count
      fileIndex += 1
    }
    if !skipped.isEmpty { print("NOTE corpus differential (\(name)): skipped \(skipped.joined(separator: ", ")); regenerate with tools/tokenizers/make_goldens.py") }
    let scope = CorpusDifferentialTests.sampleEvery == 1 ? "all lines" : "every \(CorpusDifferentialTests.sampleEvery)th chunk of \(chunk) lines; KD_SLOW_TESTS=1 or a release build checks all"
    print("corpus differential (\(name)): \(checkedLines) of \(totalLines) lines checked (\(scope)), \(mismatches) mismatching chunks")
    #expect(totalLines > 100_000, "too few corpus lines found for \(name)")
    #expect(checkedLines * CorpusDifferentialTests.sampleEvery >= totalLines / 2)
    #expect(mismatches == 0)
  }
}
