import Foundation
import KDCore

/// A tokenizer loaded from a Hugging Face `tokenizer.json` (or a BERT `vocab.txt`)
/// that reproduces HF `tokenizers` ids and offsets exactly.
///
/// The pipeline mirrors HF: added tokens are split out, each remaining segment is
/// normalized, pre-tokenized and run through the model, then the post-processor adds
/// special tokens. Work happens on Unicode scalars in reusable buffers.
///
/// For example:
/// ```swift
/// let tok = try Tokenizer.load(path: "models/all-MiniLM-L6-v2/tokenizer.json")
/// let enc = tok.encode("Hello world!")   // ids [101, 7592, 2088, 999, 102]
/// ```
/// Thread safety: all methods may be called concurrently.
public final class Tokenizer: @unchecked Sendable {
  let normalizer: Normalizer?
  let preTokenizer: PreTokenizer?
  let model: any TokenModel
  let postProcessor: PostProcessor
  let decoder: TokenDecoder?
  let addedTokens: [AddedToken]
  let unnormalizedMatcher: AddedTokenMatcher
  let normalizedMatcher: AddedTokenMatcher
  let addedByID: [Int32: Int]
  /// Leading / trailing space counts per id for byte-level offset trimming.
  let leadingSpaces: [UInt8]
  let trailingSpaces: [UInt8]

  /// Truncation configured in the file, if any.
  public let configuredTruncation: Truncation?
  /// Padding configured in the file, if any.
  public let configuredPadding: Padding?
  /// `StableHash.hex(fnv1a64(file bytes))`: identifies the exact tokenizer file.
  public let contentHash: String
  /// The file this tokenizer was loaded from.
  public let path: String

  private let poolLock = NSLock()
  private var pool: [Work] = []

  /// Maximum length from the file's truncation settings, if any.
  public var maxLength: Int? { configuredTruncation?.maxLength }

  /// Number of ids: one more than the largest id of the model or added tokens.
  public var vocabularySize: Int {
    max(model.tokens.count, (addedTokens.map { Int($0.id) }.max() ?? -1) + 1)
  }

  /// Number of special tokens the post-processor adds to a single sequence.
  public var specialTokenCount: Int { postProcessor.addedTokenCount }

  init(normalizer: Normalizer?, preTokenizer: PreTokenizer?, model: any TokenModel, postProcessor: PostProcessor,
       decoder: TokenDecoder?, addedTokens: [AddedToken], truncation: Truncation?, padding: Padding?,
       contentHash: String, path: String)
  {
    self.normalizer = normalizer
    self.preTokenizer = preTokenizer
    self.model = model
    self.postProcessor = postProcessor
    self.decoder = decoder
    var normalizedAdded = addedTokens
    // Normalized added tokens are matched after normalization, against their normalized content.
    if let normalizer {
      for i in normalizedAdded.indices where normalizedAdded[i].normalized {
        var t = TextBuffer()
        for (k, c) in normalizedAdded[i].scalars.enumerated() { t.append(c, Int32(k), Int32(k + 1)) }
        var s = TextBuffer()
        normalizer.apply(&t, scratch: &s)
        normalizedAdded[i].scalars = t.chars
      }
    }
    self.addedTokens = addedTokens
    unnormalizedMatcher = AddedTokenMatcher(normalizedAdded.filter { !$0.normalized })
    normalizedMatcher = AddedTokenMatcher(normalizedAdded.filter { $0.normalized })
    var byID: [Int32: Int] = [:]
    for (i, t) in addedTokens.enumerated() { byID[t.id] = i }
    addedByID = byID
    configuredTruncation = truncation
    configuredPadding = padding
    self.contentHash = contentHash
    self.path = path
    var lead = [UInt8](), trail = [UInt8]()
    if postProcessor.trimOffsets {
      let n = max(model.tokens.count, (addedTokens.map { Int($0.id) }.max() ?? -1) + 1)
      lead = [UInt8](repeating: 0, count: n)
      trail = [UInt8](repeating: 0, count: n)
      for id in 0..<n {
        let tok: String?
        if let a = byID[Int32(id)] { tok = addedTokens[a].content } else { tok = id < model.tokens.count ? model.tokens[id] : nil }
        guard let tok else { continue }
        let us = Array(tok.unicodeScalars.map { $0.value })
        let isSpace: (UInt32) -> Bool = { $0 == 0x120 || CharacterClass.isWhitespace($0) }
        var l = 0
        while l < us.count && isSpace(us[l]) { l += 1 }
        var r = 0
        while r < us.count && isSpace(us[us.count - 1 - r]) { r += 1 }
        lead[id] = UInt8(min(l, 255))
        trail[id] = UInt8(min(r, 255))
      }
    }
    leadingSpaces = lead
    trailingSpaces = trail
  }

  // MARK: - Loading

  /// Loads a `tokenizer.json`, or a BERT `vocab.txt` (one token per line).
  ///
  /// - Throws: `KDError` naming the file and the JSON path of the offending field, or the
  ///   pipeline component that is not supported.
  public static func load(path: String) throws -> Tokenizer {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw KDError(.io, "cannot read the tokenizer file", file: path)
    }
    return try load(data: data, path: path)
  }

  /// Loads a `tokenizer.json` or `vocab.txt` from bytes already read from `path`
  /// (named in errors; the content hash is the bytes').
  public static func load(data: Data, path: String) throws -> Tokenizer {
    let hash = data.withUnsafeBytes { StableHash.hex(StableHash.fnv1a64($0)) }
    let firstByte = data.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 && $0 != 0xEF && $0 != 0xBB && $0 != 0xBF })
    if firstByte != UInt8(ascii: "{") {
      guard let text = String(data: data, encoding: .utf8) else {
        throw KDError(.input, "vocab.txt is not valid UTF-8", file: path)
      }
      return try fromVocabText(text, contentHash: hash, path: path)
    }
    let root = try JSONNode.parse(data, file: path)
    return try fromJSON(root, contentHash: hash, path: path)
  }

  /// Builds a tokenizer from the text of a `tokenizer.json`.
  public static func fromJSON(string: String, name: String = "<memory>") throws -> Tokenizer {
    let data = Data(string.utf8)
    let hash = data.withUnsafeBytes { StableHash.hex(StableHash.fnv1a64($0)) }
    return try fromJSON(try JSONNode.parse(data, file: name), contentHash: hash, path: name)
  }

  static func fromJSON(_ root: JSONNode, contentHash: String, path: String) throws -> Tokenizer {
    _ = try root.object()
    let modelNode = root["model"]
    if modelNode.isNull { throw modelNode.error("missing: a tokenizer.json needs a model") }
    let type = try modelNode["type"].optionalString() ?? inferModelType(modelNode)
    let model: any TokenModel
    switch type {
    case "WordPiece": model = try WordPieceModel.load(modelNode)
    case "BPE": model = try BPEModel(node: modelNode)
    case "Unigram": model = try UnigramModel(node: modelNode)
    default:
      throw KDError(.unsupported, "model type \"\(type)\" is not supported (supported: WordPiece, BPE, Unigram)",
                    file: path, field: modelNode.path + ".type")
    }
    var added: [AddedToken] = []
    if !root["added_tokens"].isNull {
      for item in try root["added_tokens"].array() {
        let content = try item["content"].string()
        let id = try item["id"].int()
        guard id >= 0 && id < Int(Int32.max) else { throw item["id"].error("token id \(id) is out of range") }
        added.append(AddedToken(
          id: Int32(id), content: content, scalars: scalars(content),
          singleWord: try item["single_word"].bool(default: false), leftStrip: try item["lstrip"].bool(default: false),
          rightStrip: try item["rstrip"].bool(default: false), normalized: try item["normalized"].bool(default: true),
          special: try item["special"].bool(default: false)))
      }
    }
    let normalizer = try Normalizer.load(root["normalizer"])
    let pre = try PreTokenizer.load(root["pre_tokenizer"])
    let post = try PostProcessor.load(root["post_processor"]) { t in
      let id = model.vocabulary.lookup(t)
      return id >= 0 ? id : nil
    }
    let decoder = try TokenDecoder.load(root["decoder"])
    var truncation: Truncation? = nil
    let tn = root["truncation"]
    if !tn.isNull {
      let dir = try tn["direction"].optionalString() ?? "Right"
      let maxLen = try tn["max_length"].int()
      let strideValue = try tn["stride"].optionalInt() ?? 0
      guard strideValue >= 0 else { throw tn["stride"].error("must not be negative, found \(strideValue)") }
      guard maxLen > 0 else { throw tn["max_length"].error("must be positive, found \(maxLen)") }
      truncation = Truncation(maxLength: maxLen, stride: strideValue,
                              direction: dir == "Left" ? .left : .right)
    }
    var padding: Padding? = nil
    let pn = root["padding"]
    if !pn.isNull {
      var p = Padding()
      let st = pn["strategy"]
      if let s = st.stringValue {
        guard s == "BatchLongest" else { throw st.error("unknown padding strategy \"\(s)\"") }
        p.strategy = .longest
      } else if !st["Fixed"].isNull {
        let n = try st["Fixed"].int()
        guard n >= 0 && n <= 1 << 24 else { throw st["Fixed"].error("fixed padding length \(n) is out of range") }
        p.strategy = .fixed(n)
      } else if !st.isNull {
        throw st.error("expected \"BatchLongest\" or {\"Fixed\": n}")
      }
      p.direction = (try pn["direction"].optionalString() ?? "Right") == "Left" ? .left : .right
      p.padToMultipleOf = try pn["pad_to_multiple_of"].optionalInt()
      p.padID = pn["pad_id"].isNull ? 0 : try pn["pad_id"].id()
      p.padTypeID = pn["pad_type_id"].isNull ? 0 : try pn["pad_type_id"].id()
      p.padToken = try pn["pad_token"].optionalString() ?? "[PAD]"
      padding = p
    }
    return Tokenizer(normalizer: normalizer, preTokenizer: pre, model: model, postProcessor: post, decoder: decoder,
                     addedTokens: added, truncation: truncation, padding: padding, contentHash: contentHash, path: path)
  }

  private static func inferModelType(_ node: JSONNode) throws -> String {
    if !node["merges"].isNull { return "BPE" }
    if node["vocab"].isArray { return "Unigram" }
    if !node["continuing_subword_prefix"].isNull || !node["max_input_chars_per_word"].isNull { return "WordPiece" }
    throw node.error("cannot tell the model type: no \"type\" field")
  }

  /// A BERT WordPiece pipeline from a `vocab.txt`. Lowercasing is on unless the
  /// vocabulary holds tokens with uppercase ASCII letters (a cased model).
  static func fromVocabText(_ text: String, contentHash: String, path: String) throws -> Tokenizer {
    let model = WordPieceModel.load(vocabText: text)
    guard model.unknownID != nil else {
      throw KDError(.input, "vocab.txt has no [UNK] token", file: path)
    }
    var cased = false
    for t in model.tokens {
      guard let t, !(t.hasPrefix("[") && t.hasSuffix("]")), !(t.hasPrefix("<") && t.hasSuffix(">")) else { continue }
      if t.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) { cased = true; break }
    }
    var added: [AddedToken] = []
    for name in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] {
      let id = model.vocabulary.lookup(name)
      if id >= 0 {
        added.append(AddedToken(id: id, content: name, scalars: scalars(name), singleWord: false, leftStrip: false,
                                rightStrip: false, normalized: false, special: true))
      }
    }
    var post = PostProcessor()
    let cls = model.vocabulary.lookup("[CLS]"), sep = model.vocabulary.lookup("[SEP]")
    if cls >= 0 && sep >= 0 {
      post.single = [(.special(ids: [cls]), 0), (.sequence, 0), (.special(ids: [sep]), 0)]
    }
    return Tokenizer(
      normalizer: .bert(cleanText: true, handleChineseChars: true, stripAccents: !cased, lowercase: !cased),
      preTokenizer: .bert, model: model, postProcessor: post, decoder: .wordPiece(prefix: "##", cleanup: true),
      addedTokens: added, truncation: nil, padding: nil, contentHash: contentHash, path: path)
  }

  // MARK: - Vocabulary

  /// The id of a token (added tokens first, then the model vocabulary).
  public func id(forToken token: String) -> Int32? {
    if let t = addedTokens.first(where: { $0.content == token }) { return t.id }
    let id = model.vocabulary.lookup(token)
    return id >= 0 ? id : nil
  }

  /// The token string of an id.
  public func token(forID id: Int32) -> String? {
    if let a = addedByID[id] { return addedTokens[a].content }
    guard id >= 0 && Int(id) < model.tokens.count else { return nil }
    return model.tokens[Int(id)]
  }

  /// Whether an id is a special added token.
  public func isSpecial(_ id: Int32) -> Bool {
    if let a = addedByID[id] { return addedTokens[a].special }
    return false
  }

  /// The padding id: from the file's padding settings, else `[PAD]` / `<pad>`.
  public var padID: Int32? { configuredPadding?.padID ?? id(forToken: "[PAD]") ?? id(forToken: "<pad>") }
  public var clsID: Int32? { id(forToken: "[CLS]") ?? id(forToken: "<s>") }
  public var sepID: Int32? { id(forToken: "[SEP]") ?? id(forToken: "</s>") }
  public var maskID: Int32? { id(forToken: "[MASK]") ?? id(forToken: "<mask>") }
  public var unknownID: Int32? { model.unknownID }

  /// Approximate bytes held by the vocabulary structures.
  public var memoryBytes: Int {
    var n = model.vocabulary.memoryBytes + model.tokens.count * 16
    for t in model.tokens { if let t, t.utf8.count > 15 { n += t.utf8.count } }
    if let b = model as? BPEModel { n += b.merges.memoryBytes + b.singleChar.count * 4 }
    if let w = model as? WordPieceModel { n += w.continuation.memoryBytes }
    if let u = model as? UnigramModel { n += u.scores.count * 8 }
    return n + leadingSpaces.count * 2 + 0x10000 * 2
  }

  // MARK: - Encoding

  private func acquire() -> Work {
    poolLock.lock()
    defer { poolLock.unlock() }
    return pool.popLast() ?? Work()
  }

  private func release(_ w: Work) {
    poolLock.lock()
    if pool.count < 16 { pool.append(w) }
    poolLock.unlock()
  }

  /// Encodes one text. The file's truncation and padding settings are NOT applied.
  ///
  /// - Parameters:
  ///   - text: the text; offsets count its Unicode scalars.
  ///   - addSpecialTokens: add the post-processor's special tokens (e.g. `[CLS]`, `[SEP]`).
  public func encode(_ text: String, addSpecialTokens: Bool = true) -> Encoding {
    encode(text, addSpecialTokens: addSpecialTokens, truncation: nil, padding: nil)
  }

  /// Encodes one text with explicit truncation and padding (pass `configuredTruncation` /
  /// `configuredPadding` to behave like HF `Tokenizer.from_file`).
  public func encode(_ text: String, addSpecialTokens: Bool, truncation: Truncation?, padding: Padding?) -> Encoding {
    let w = acquire()
    defer { release(w) }
    var e = encode(text, addSpecialTokens: addSpecialTokens, truncation: truncation, work: w)
    if let padding { pad(&e, padding, target: nil) }
    return e
  }

  /// Encodes many texts, on `threads` threads; results keep the input order.
  public func encodeBatch(_ texts: [String], addSpecialTokens: Bool = true, threads: Int = 1) -> [Encoding] {
    encodeBatch(texts, addSpecialTokens: addSpecialTokens, truncation: nil, padding: nil, threads: threads)
  }

  /// Encodes many texts with truncation and padding (`.longest` pads to the longest of the batch).
  public func encodeBatch(_ texts: [String], addSpecialTokens: Bool, truncation: Truncation?, padding: Padding?,
                          threads: Int) -> [Encoding] {
    var results = [Encoding](repeating: Encoding(), count: texts.count)
    let workers = max(1, min(threads, texts.count))
    results.withUnsafeMutableBufferPointer { out in
      let sink = UnsafeSendable(out)
      if workers == 1 {
        let w = acquire()
        for i in texts.indices { sink.value[i] = encode(texts[i], addSpecialTokens: addSpecialTokens, truncation: truncation, work: w) }
        release(w)
      } else {
        DispatchQueue.concurrentPerform(iterations: workers) { k in
          let w = self.acquire()
          var i = k
          while i < texts.count {
            sink.value[i] = self.encode(texts[i], addSpecialTokens: addSpecialTokens, truncation: truncation, work: w)
            i += workers
          }
          self.release(w)
        }
      }
    }
    if let padding {
      var target: Int? = nil
      if case .longest = padding.strategy {
        target = results.map { e in max(e.count, e.overflowing.map(\.count).max() ?? 0) }.max() ?? 0
      }
      for i in results.indices { pad(&results[i], padding, target: target) }
    }
    return results
  }

  /// Splits a text into overlapping windows of at most `maxLength` tokens each, special tokens
  /// included; consecutive windows share `stride` content tokens (HF truncation with
  /// `return_overflowing_tokens`). Never drops text: every content token is in some window.
  ///
  /// `maxLength` is raised to leave room for at least one content token, and `stride` is
  /// lowered below the content length of a window when needed.
  public func encodeWindows(_ text: String, maxLength: Int, stride: Int) -> [Encoding] {
    let contentMax = max(1, maxLength - postProcessor.addedTokenCount)
    let st = max(0, min(stride, contentMax - 1))
    let w = acquire()
    defer { release(w) }
    var e = encode(text, addSpecialTokens: true,
                   truncation: Truncation(maxLength: contentMax + postProcessor.addedTokenCount, stride: st), work: w)
    let rest = e.overflowing
    e.overflowing = []
    return [e] + rest
  }

  /// Decodes ids back to text.
  public func decode(_ ids: [Int32], skipSpecialTokens: Bool = true) -> String {
    var toks: [String] = []
    toks.reserveCapacity(ids.count)
    for id in ids {
      if skipSpecialTokens && isSpecial(id) { continue }
      if let t = token(forID: id) { toks.append(t) }
    }
    guard let decoder else { return toks.joined(separator: " ") }
    return decoder.decodeChain(toks).joined()
  }

  // MARK: - Pipeline

  func encode(_ text: String, addSpecialTokens: Bool, truncation: Truncation?, work w: Work) -> Encoding {
    w.reset()
    decodeScalars(text, into: &w.original)
    runPipeline(w)
    // Content encoding: ids and offsets.
    let n = w.ids.count
    var content = Encoding()
    content.ids = w.ids
    content.typeIDs = [Int32](repeating: 0, count: n)
    content.attentionMask = [Int8](repeating: 1, count: n)
    content.specialTokensMask = [Int8](repeating: 0, count: n)
    content.offsets = [TokenOffsets](unsafeUninitializedCapacity: n) { buf, count in
      w.offsets.withUnsafeBufferPointer { o in
        for i in 0..<n { buf[i] = TokenOffsets(start: Int(o[2 * i]), end: Int(o[2 * i + 1])) }
      }
      count = n
    }
    if let truncation {
      let added = addSpecialTokens ? postProcessor.addedTokenCount : 0
      if n + added > truncation.maxLength {
        let maxLen = max(0, truncation.maxLength - added)
        content = truncate(content, maxLength: maxLen, stride: truncation.stride, direction: truncation.direction)
      }
    }
    return postProcess(content, addSpecialTokens: addSpecialTokens)
  }

  /// HF `Encoding::truncate`: the first part plus overflowing parts.
  func truncate(_ e: Encoding, maxLength: Int, stride: Int, direction: Direction) -> Encoding {
    let n = e.count
    if maxLength >= n { return e }
    if maxLength == 0 {
      var empty = Encoding()
      empty.overflowing = [e]
      return empty
    }
    let st = max(0, min(stride, maxLength - 1))
    let step = maxLength - st
    var parts: [Range<Int>] = []
    switch direction {
    case .right:
      var start = 0
      while true {
        let stop = min(start + maxLength, n)
        parts.append(start..<stop)
        if stop == n { break }
        start += step
      }
    case .left:
      var stop = n
      while true {
        let start = max(0, stop - maxLength)
        parts.append(start..<stop)
        if start == 0 { break }
        stop -= step
      }
    }
    var first = e.slice(parts[0])
    first.overflowing = parts.dropFirst().map { e.slice($0) }
    return first
  }

  func postProcess(_ content: Encoding, addSpecialTokens: Bool) -> Encoding {
    var c = content
    if postProcessor.trimOffsets { trimOffsets(&c) }
    var out = Encoding()
    out.reserve(c.count + postProcessor.addedTokenCount)
    for (item, typeID) in postProcessor.single {
      switch item {
      case .sequence:
        out.ids += c.ids
        out.typeIDs += [Int32](repeating: typeID, count: c.count)
        out.attentionMask += c.attentionMask
        out.specialTokensMask += c.specialTokensMask
        out.offsets += c.offsets
      case .special(let ids):
        guard addSpecialTokens else { continue }
        for id in ids {
          out.ids.append(id)
          out.typeIDs.append(typeID)
          out.attentionMask.append(1)
          out.specialTokensMask.append(1)
          out.offsets.append(TokenOffsets(start: 0, end: 0))
        }
      }
    }
    out.overflowing = c.overflowing.map { postProcess($0, addSpecialTokens: addSpecialTokens) }
    return out
  }

  /// HF `process_offsets` (ByteLevel / RoBERTa `trim_offsets`).
  func trimOffsets(_ e: inout Encoding) {
    for i in 0..<e.count {
      let id = Int(e.ids[i])
      guard id >= 0 && id < leadingSpaces.count else { continue }
      var lead = Int(leadingSpaces[id])
      let trail = Int(trailingSpaces[id])
      if lead == 0 && trail == 0 { continue }
      var o = e.offsets[i]
      if lead > 0 {
        let isFirst = i == 0 || o.start == 0
        if isFirst && postProcessor.trimAddPrefixSpace && lead == 1 { lead = 0 }
        o.start = min(o.start + lead, o.end)
      }
      if trail > 0 && o.end >= trail { o.end = max(o.end - trail, o.start) }
      e.offsets[i] = o
    }
  }

  /// HF `Encoding::pad`, also applied to the overflowing windows.
  func pad(_ e: inout Encoding, _ p: Padding, target: Int?) {
    var len: Int
    switch p.strategy {
    case .fixed(let n): len = n
    case .longest: len = target ?? max(e.count, e.overflowing.map(\.count).max() ?? 0)
    }
    if let m = p.padToMultipleOf, m > 0, len % m != 0 { len += m - len % m }
    padOne(&e, p, len)
    for k in e.overflowing.indices { padOne(&e.overflowing[k], p, len) }
  }

  private func padOne(_ e: inout Encoding, _ p: Padding, _ len: Int) {
    let k = len - e.count
    guard k > 0 else { return }
    let ids = [Int32](repeating: p.padID, count: k), types = [Int32](repeating: p.padTypeID, count: k)
    let zeros = [Int8](repeating: 0, count: k), ones = [Int8](repeating: 1, count: k)
    let offs = [TokenOffsets](repeating: TokenOffsets(start: 0, end: 0), count: k)
    switch p.direction {
    case .right:
      e.ids += ids; e.typeIDs += types; e.attentionMask += zeros; e.specialTokensMask += ones; e.offsets += offs
    case .left:
      e.ids = ids + e.ids; e.typeIDs = types + e.typeIDs; e.attentionMask = zeros + e.attentionMask
      e.specialTokensMask = ones + e.specialTokensMask; e.offsets = offs + e.offsets
    }
  }

  /// Added-token split, normalization, pre-tokenization and the model, into `w.ids` / `w.offsets`.
  func runPipeline(_ w: Work) {
    let n = w.original.count
    // 1. Added tokens that match the raw text.
    var segments: [(Int, Int, Int)] = []
    var bare: [(Int, Int)] = []
    if unnormalizedMatcher.isEmpty {
      segments.append((0, n, -1))
    } else {
      w.original.withUnsafeBufferPointer { unnormalizedMatcher.split($0, 0, n, into: &segments, content: &bare) }
    }
    var bareIndex = 0
    // 2. Normalize each text segment into the working buffer; build pieces.
    w.text.reserve(n + 16)
    for (a, b, tok) in segments {
      if tok >= 0 {
        let t = unnormalizedMatcher.tokens[tok]
        let (ba, bb) = bare[bareIndex]
        bareIndex += 1
        w.pieces.append(Piece(start: 0, end: 0, originalStart: Int32(a), addedID: t.id, addedStart: Int32(ba), addedEnd: Int32(bb)))
        continue
      }
      if a == b { continue }
      let base = w.text.count
      if let normalizer {
        w.segment.removeAll()
        w.segment.reserve(b - a)
        for i in a..<b { w.segment.append(w.original[i], Int32(i), Int32(i + 1)) }
        normalizer.apply(&w.segment, scratch: &w.scratch)
        w.text.chars += w.segment.chars
        w.text.starts += w.segment.starts
        w.text.ends += w.segment.ends
      } else {
        w.text.chars += w.original[a..<b]
        for i in a..<b { w.text.starts.append(Int32(i)); w.text.ends.append(Int32(i + 1)) }
      }
      let end = w.text.count
      if base == end { continue }
      if normalizedMatcher.isEmpty {
        w.pieces.append(Piece(start: Int32(base), end: Int32(end), originalStart: w.text.starts[base], addedID: -1))
      } else {
        var sub: [(Int, Int, Int)] = []
        var subBare: [(Int, Int)] = []
        w.text.chars.withUnsafeBufferPointer { normalizedMatcher.split($0, base, end, into: &sub, content: &subBare) }
        var k = 0
        for (x, y, t) in sub {
          if t >= 0 {
            let (bx, by) = subBare[k]
            k += 1
            w.pieces.append(Piece(start: 0, end: 0, originalStart: w.text.starts[x], addedID: normalizedMatcher.tokens[t].id,
                                  addedStart: w.text.starts[bx], addedEnd: w.text.ends[by - 1]))
          } else {
            w.pieces.append(Piece(start: Int32(x), end: Int32(y), originalStart: w.text.starts[x], addedID: -1))
          }
        }
      }
    }
    // 3. Pre-tokenize.
    preTokenizer?.apply(w)
    // 4. Model, through a per-worker cache of piece -> tokens; offsets become original offsets.
    for p in w.pieces {
      if p.addedID >= 0 {
        w.ids.append(p.addedID)
        w.offsets.append(p.addedStart)
        w.offsets.append(p.addedEnd)
        continue
      }
      let s = Int(p.start), e = Int(p.end)
      let mark = w.ids.count
      if e - s <= 48 {
        tokenizeCached(w, s, e)
      } else {
        model.tokenize(w, s, e)
      }
      w.text.starts.withUnsafeBufferPointer { starts in
        w.text.ends.withUnsafeBufferPointer { ends in
          w.offsets.withUnsafeMutableBufferPointer { o in
            for k in mark..<w.ids.count {
              let a = Int(o[2 * k]), b = Int(o[2 * k + 1])
              o[2 * k] = starts[s + a]
              o[2 * k + 1] = ends[s + b - 1]
            }
          }
        }
      }
    }
  }

  /// Runs the model on a piece, or replays its cached result (relative offsets).
  @inline(__always)
  func tokenizeCached(_ w: Work, _ s: Int, _ e: Int) {
    let n = e - s
    let key: UInt64 = w.text.chars.withUnsafeBufferPointer { c in
      var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ UInt64(n)
      for i in s..<e { h = (h ^ UInt64(c[i])) &* 0x100_0000_01B3 }
      return h ^ (h >> 29)
    }
    if let idx = w.cacheIndex.get(key) {
      let entry = w.cacheEntries[idx]
      var same = Int(entry.charCount) == n
      if same {
        let cs = Int(entry.charStart)
        for k in 0..<n where w.cacheChars[cs + k] != w.text.chars[s + k] { same = false; break }
      }
      if same {
        let ts = Int(entry.tokenStart)
        for k in 0..<Int(entry.tokenCount) {
          w.ids.append(w.cacheTokens[ts + 3 * k])
          w.offsets.append(w.cacheTokens[ts + 3 * k + 1])
          w.offsets.append(w.cacheTokens[ts + 3 * k + 2])
        }
        return
      }
    }
    let mark = w.ids.count
    model.tokenize(w, s, e)
    if w.cacheTokens.count > Work.cacheLimit {
      w.cacheIndex.removeAll()
      w.cacheEntries.removeAll(keepingCapacity: true)
      w.cacheChars.removeAll(keepingCapacity: true)
      w.cacheTokens.removeAll(keepingCapacity: true)
    }
    let entry = (charStart: Int32(w.cacheChars.count), charCount: Int32(n), tokenStart: Int32(w.cacheTokens.count),
                 tokenCount: Int32(w.ids.count - mark))
    w.cacheChars.append(contentsOf: w.text.chars[s..<e])
    for k in mark..<w.ids.count {
      w.cacheTokens.append(w.ids[k])
      w.cacheTokens.append(w.offsets[2 * k])
      w.cacheTokens.append(w.offsets[2 * k + 1])
    }
    w.cacheIndex.set(key, w.cacheEntries.count)
    w.cacheEntries.append(entry)
  }
}

/// Decodes a String's UTF-8 into Unicode scalar values.
func decodeScalars(_ text: String, into out: inout [UInt32]) {
  out.removeAll(keepingCapacity: true)
  let done: Void? = text.utf8.withContiguousStorageIfAvailable { buf in
    out.reserveCapacity(buf.count)
    var i = 0
    let n = buf.count
    while i < n {
      let b0 = UInt32(buf[i])
      if b0 < 0x80 {
        out.append(b0)
        i += 1
      } else if b0 < 0xE0 {
        out.append((b0 & 0x1F) << 6 | UInt32(buf[i + 1] & 0x3F))
        i += 2
      } else if b0 < 0xF0 {
        out.append((b0 & 0x0F) << 12 | UInt32(buf[i + 1] & 0x3F) << 6 | UInt32(buf[i + 2] & 0x3F))
        i += 3
      } else {
        out.append((b0 & 0x07) << 18 | UInt32(buf[i + 1] & 0x3F) << 12 | UInt32(buf[i + 2] & 0x3F) << 6 | UInt32(buf[i + 3] & 0x3F))
        i += 4
      }
    }
  }
  if done == nil {
    for u in text.unicodeScalars { out.append(u.value) }
  }
}

/// Wraps a value (a buffer pointer written at disjoint indices) to cross a concurrency boundary.
struct UnsafeSendable<T>: @unchecked Sendable {
  let value: T
  init(_ v: T) { value = v }
}
