import Foundation
import KDCore
import Testing
@testable import KDTokenizers

/// An invalid or unsupported tokenizer.json fails at load with the JSON path and the cause.
@Suite struct LoadingErrorTests {
  func loadError(_ json: String) -> KDError? {
    do {
      _ = try Tokenizer.fromJSON(string: json, name: "t.json")
      return nil
    } catch let e as KDError {
      return e
    } catch {
      return KDError(.internalError, "\(error)")
    }
  }

  let wordPiece = #"{"type":"WordPiece","unk_token":"[UNK]","vocab":{"[UNK]":0,"a":1}}"#

  @Test func notJSON() {
    let e = loadError("{\n \"model\": nope}")
    #expect(e?.kind == .input)
    #expect(e?.description == "t.json:2: not valid JSON: invalid literal at line 2, column 11")
    let cut = loadError(#"{"model": {"type": "WordPiece""#)
    #expect(cut?.message.hasPrefix("not valid JSON") == true)
  }

  @Test func unsupportedComponentsAreNamed() {
    let e = loadError(#"{"model":\#(wordPiece),"normalizer":{"type":"Precompiled","precompiled_charsmap":""}}"#)
    #expect(e?.kind == .unsupported)
    #expect(e?.field == "$.normalizer.type")
    #expect(e?.message.contains("\"Precompiled\"") == true)

    let p = loadError(#"{"model":\#(wordPiece),"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"UnicodeScripts"}]}}"#)
    #expect(p?.field == "$.pre_tokenizer.pretokenizers[0].type")
    #expect(p?.message.contains("UnicodeScripts") == true)

    let m = loadError(#"{"model":{"type":"WordLevel","vocab":{}}}"#)
    #expect(m?.field == "$.model.type")

    let r = loadError(#"{"model":\#(wordPiece),"pre_tokenizer":{"type":"Split","pattern":{"Regex":"[a-z]+"},"behavior":"Isolated","invert":false}}"#)
    #expect(r?.kind == .unsupported)
    #expect(r?.field == "$.pre_tokenizer.pattern")

    let d = loadError(#"{"model":\#(wordPiece),"decoder":{"type":"CTC"}}"#)
    #expect(d?.field == "$.decoder.type")
    let pp = loadError(#"{"model":\#(wordPiece),"post_processor":{"type":"Nope"}}"#)
    #expect(pp?.field == "$.post_processor.type")
  }

  @Test func wrongTypesNameTheField() {
    let e = loadError(#"{"model":{"type":"WordPiece","unk_token":"[UNK]","vocab":{"[UNK]":0,"a":"one"}}}"#)
    #expect(e?.field == "$.model.vocab[\"a\"]")
    #expect(e?.message == "expected an integer, found a string")

    let b = loadError(#"{"model":\#(wordPiece),"normalizer":{"type":"BertNormalizer","lowercase":"yes"}}"#)
    #expect(b?.field == "$.normalizer.lowercase")

    let missing = loadError(#"{"normalizer":null}"#)
    #expect(missing?.field == "$.model")

    let merges = loadError(#"{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]}}"#)
    #expect(merges?.field == "$.model.merges[0]")
    #expect(merges?.message.contains("\"ab\"") == true)

    let unk = loadError(#"{"model":{"type":"WordPiece","unk_token":"[UNK]","vocab":{"a":0}}}"#)
    #expect(unk?.field == "$.model.unk_token")

    let uni = loadError(#"{"model":{"type":"Unigram","unk_id":5,"vocab":[["a",-1.0]]}}"#)
    #expect(uni?.field == "$.model.unk_id")
  }

  @Test func missingFileIsAnIOError() {
    #expect(throws: KDError.self) { try Tokenizer.load(path: "/nonexistent/tokenizer.json") }
  }

  @Test func vocabTextLoadsAsBert() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdtok-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("vocab.txt").path
    try "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n!\n".write(toFile: path, atomically: true, encoding: .utf8)
    let tok = try Tokenizer.load(path: path)
    let e = tok.encode("Hello worlds!")
    #expect(e.ids == [2, 5, 6, 7, 8, 3])
    #expect(e.offsets.map(\.start) == [0, 0, 6, 11, 12, 0])
    #expect(tok.vocabularySize == 9)
    #expect(tok.decode(e.ids) == "hello worlds!")
  }
}
