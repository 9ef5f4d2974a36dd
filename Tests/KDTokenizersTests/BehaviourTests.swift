import Foundation
import Testing
@testable import KDTokenizers

/// Behaviour other kd stages rely on: batching, windows, padding, invalid input at the boundary.
@Suite struct BehaviourTests {
  static let texts = [
    "Hello world!", "", "The quick brown fox jumps over the lazy dog.", "naïve café 中文 😀",
    String(repeating: "pneumonoultramicroscopicsilicovolcanoconiosis ", count: 40), "a\u{0}b\u{7}c",
  ]

  @Test(arguments: ["wordpiece-cased", "bpe-bytelevel", "unigram-metaspace"])
  func batchOnTwoThreadsEqualsSequential(name: String) throws {
    let tok = try #require(try Fixtures.tokenizer(name))
    let many = (0..<200).map { Self.texts[$0 % Self.texts.count] + " \($0)" }
    let one = many.map { tok.encode($0) }
    #expect(tok.encodeBatch(many, threads: 2) == one)
    #expect(tok.encodeBatch(many, threads: 1) == one)
  }

  @Test(arguments: ["wordpiece-cased", "bpe-bytelevel", "unigram-metaspace"])
  func windowsCoverEveryTokenInOrder(name: String) throws {
    let tok = try #require(try Fixtures.tokenizer(name))
    let text = Self.texts[4] + Self.texts[3] + Self.texts[2]
    let content = tok.encode(text, addSpecialTokens: false).ids
    for (maxLength, stride) in [(16, 4), (32, 0), (8, 7), (3, 1), (1000, 10)] {
      let windows = tok.encodeWindows(text, maxLength: maxLength, stride: stride)
      #expect(!windows.isEmpty)
      var rebuilt: [Int32] = []
      var previous: [Int32] = []
      for w in windows {
        #expect(w.count <= max(maxLength, tok.specialTokenCount + 1))
        let body = zip(w.ids, w.specialTokensMask).filter { $0.1 == 0 }.map(\.0)
        if !previous.isEmpty {
          let overlap = min(stride, max(1, maxLength - tok.specialTokenCount) - 1)
          #expect(Array(previous.suffix(overlap)) == Array(body.prefix(overlap)), "stride overlap, max \(maxLength)")
          rebuilt += body.dropFirst(overlap)
        } else {
          rebuilt += body
        }
        previous = body
      }
      #expect(rebuilt == content, "windows of \(maxLength)/\(stride) must reassemble the text")
    }
  }

  @Test func paddingLongestInBatchAndFixed() throws {
    let tok = try #require(try Fixtures.tokenizer("wordpiece-cased"))
    let encs = tok.encodeBatch(["a", "a b c d e f"], addSpecialTokens: true, truncation: nil,
                               padding: Padding(strategy: .longest, padID: 0), threads: 1)
    #expect(encs[0].count == encs[1].count)
    #expect(encs[0].attentionMask.filter { $0 == 0 }.count == encs[1].count - 3)
    let fixed = tok.encode("a", addSpecialTokens: true, truncation: nil,
                           padding: Padding(strategy: .fixed(10), direction: .left, padID: 7))
    #expect(fixed.ids.count == 10)
    #expect(fixed.ids.prefix(7).allSatisfy { $0 == 7 })
    #expect(fixed.attentionMask == [0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
  }

  @Test func invalidUTF8BecomesReplacementLikePython() throws {
    // Python: bytes.decode("utf-8", errors="replace") gives the same U+FFFD count (maximal subparts).
    let cases: [([UInt8], Int)] = [([0x61, 0xFF, 0x62], 1), ([0x61, 0xE2, 0x82, 0x62], 1), ([0xED, 0xA0, 0x80, 0x78], 3),
                                   ([0xF4, 0x90, 0x80, 0x80, 0x71], 4), ([0xC0, 0xAF, 0x7A], 2)]
    for (bytes, n) in cases {
      let s = String(decoding: bytes, as: UTF8.self)
      #expect(s.unicodeScalars.filter { $0.value == 0xFFFD }.count == n)
    }
    let tok = try #require(try Fixtures.tokenizer("wordpiece-cased"))
    // BertNormalizer removes U+FFFD (clean_text), as HF does; offsets still index the decoded text.
    let e = tok.encode(String(decoding: [0x61, 0xFF, 0x62, 0x20, 0x63], as: UTF8.self), addSpecialTokens: false)
    #expect(e.offsets.first == TokenOffsets(start: 0, end: 3))
  }

  @Test func vocabularyAccessors() throws {
    let tok = try #require(try Fixtures.tokenizer("wordpiece-cased"))
    #expect(tok.id(forToken: "[CLS]") == tok.clsID)
    #expect(tok.token(forID: tok.sepID ?? -1) == "[SEP]")
    #expect(tok.padID == 0)
    #expect(tok.contentHash.count == 16)
    #expect(tok.vocabularySize == 8000)
    #expect(tok.token(forID: 1_000_000) == nil)
    #expect(tok.decode(tok.encode("Hello, world!").ids) == "Hello, world!")
  }

  @Test func fiftyThousandVocabularyStaysSmall() throws {
    // A 50k-token byte-level BPE: vocabulary, merges and lookup tables under 20 MB.
    var vocab: [String] = []
    var merges: [String] = []
    let alphabet = ByteLevelAlphabet.byteToChar.map { String(UnicodeScalar($0)!) }
    vocab += alphabet
    var i = 0
    while vocab.count < 50_000 {
      let a = alphabet[33 + i % 60], b = alphabet[33 + (i / 60) % 60], c = alphabet[33 + (i / 3600) % 60]
      let tok = i < 3600 ? a + b : a + b + c
      if i < 3600 { merges.append("\(a) \(b)") } else { merges.append("\(a + b) \(c)") }
      vocab.append(tok)
      i += 1
    }
    let vocabJSON = vocab.enumerated().map { "\"\(jsonEscape($0.element))\":\($0.offset)" }.joined(separator: ",")
    let mergesJSON = merges.map { "\"\(jsonEscape($0))\"" }.joined(separator: ",")
    let json = #"{"model":{"type":"BPE","vocab":{"# + vocabJSON + #"},"merges":["# + mergesJSON
      + #"]},"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false}}"#
    let tok = try Tokenizer.fromJSON(string: json)
    #expect(tok.vocabularySize == vocab.count)
    #expect(tok.memoryBytes < 20_000_000, "\(tok.memoryBytes) bytes")
  }
}

func jsonEscape(_ s: String) -> String {
  var out = ""
  for u in s.unicodeScalars {
    switch u {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    default:
      if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
    }
  }
  return out
}
