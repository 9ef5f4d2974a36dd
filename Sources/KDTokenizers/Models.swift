import KDCore

/// A tokenization model (HF `models`): turns one pre-tokenized piece into tokens.
protocol TokenModel: AnyObject, Sendable {
  /// Appends ids and (start, end) original offsets for the piece `[s, e)` of `w.text`.
  func tokenize(_ w: Work, _ s: Int, _ e: Int)
  /// Vocabulary (token -> id) as loaded.
  var vocabulary: TokenTable { get }
  /// The token of every id (nil where the model has no token for it).
  var tokens: [String?] { get }
  var unknownID: Int32? { get }
}

/// Encodes the piece `[s, e)` of `w.text` as UTF-8 into `w.bytes`, with the byte offset of each character in `w.charBytes`.
@inline(__always)
func encodePiece(_ w: Work, _ s: Int, _ e: Int) {
  w.bytes.removeAll(keepingCapacity: true)
  w.charBytes.removeAll(keepingCapacity: true)
  w.text.chars.withUnsafeBufferPointer { chars in
    for i in s..<e {
      w.charBytes.append(Int32(w.bytes.count))
      let c = chars[i]
      if c < 0x80 { w.bytes.append(UInt8(c)) } else { appendUTF8(c, to: &w.bytes) }
    }
  }
  w.charBytes.append(Int32(w.bytes.count))
}

/// An integer-keyed open-addressing hash map (UInt64 -> UInt64), for BPE merges.
struct PairTable {
  private var keys: [UInt64]
  private var values: [UInt64]
  private var mask: Int
  private(set) var count = 0
  static let empty = UInt64.max

  init(capacity: Int) {
    var size = 16
    while size < capacity * 2 { size <<= 1 }
    keys = [UInt64](repeating: PairTable.empty, count: size)
    values = [UInt64](repeating: 0, count: size)
    mask = size - 1
  }

  @inline(__always) static func slot(_ k: UInt64) -> Int {
    var h = k &* 0x9E37_79B9_7F4A_7C15
    h ^= h >> 32
    return Int(truncatingIfNeeded: h)
  }

  /// Inserts or replaces (the last insertion wins, as in a Rust HashMap collect).
  mutating func insert(_ k: UInt64, _ v: UInt64) {
    var i = PairTable.slot(k) & mask
    while keys[i] != PairTable.empty {
      if keys[i] == k { values[i] = v; return }
      i = (i + 1) & mask
    }
    keys[i] = k
    values[i] = v
    count += 1
  }

  @inline(__always) func get(_ k: UInt64) -> UInt64? {
    keys.withUnsafeBufferPointer { kb in
      var i = PairTable.slot(k) & mask
      while true {
        let x = kb[i]
        if x == k { return values[i] }
        if x == PairTable.empty { return nil }
        i = (i + 1) & mask
      }
    }
  }

  var memoryBytes: Int { keys.count * 16 }
}

/// Reads a `model.vocab` object ({token: id}) into a table and an id -> token list.
func loadVocabObject(_ node: JSONNode) throws -> (TokenTable, [String?]) {
  let entries = try node.object()
  var table = TokenTable(capacity: entries.count)
  var maxID = -1
  var pairs: [(String, Int)] = []
  pairs.reserveCapacity(entries.count)
  for (k, v) in entries {
    let id = try v.int()
    guard id >= 0 && id < Int(Int32.max) else { throw v.error("token id \(id) is out of range") }
    pairs.append((k, id))
    maxID = max(maxID, id)
  }
  var tokens = [String?](repeating: nil, count: maxID + 1)
  for (k, id) in pairs {
    table.insert(Array(k.utf8), value: Int32(id))
    tokens[id] = k
  }
  return (table, tokens)
}

// MARK: - WordPiece

/// WordPiece: greedy longest-match-first sub-words (BERT).
///
/// Reference: huggingface/tokenizers `models/wordpiece/mod.rs` (v0.23).
final class WordPieceModel: TokenModel, @unchecked Sendable {
  let vocabulary: TokenTable
  let tokens: [String?]
  /// Tokens that start with the continuing prefix, keyed without it.
  let continuation: TokenTable
  let unknownID: Int32?
  let unknownToken: String
  let prefix: String
  let maxInputCharsPerWord: Int

  init(vocabulary: TokenTable, tokens: [String?], unknownToken: String, prefix: String, maxInputCharsPerWord: Int) {
    self.vocabulary = vocabulary
    self.tokens = tokens
    self.unknownToken = unknownToken
    self.prefix = prefix
    self.maxInputCharsPerWord = maxInputCharsPerWord
    let u = vocabulary.lookup(unknownToken)
    self.unknownID = u >= 0 ? u : nil
    let p = Array(prefix.utf8)
    var cont = TokenTable(capacity: tokens.count / 4 + 16)
    for (id, t) in tokens.enumerated() {
      guard let t else { continue }
      let b = Array(t.utf8)
      if b.count >= p.count && Array(b[0..<p.count]) == p && vocabulary.lookup(b) == Int32(id) {
        cont.insert(Array(b[p.count...]), value: Int32(id))
      }
    }
    self.continuation = cont
  }

  static func load(_ node: JSONNode) throws -> WordPieceModel {
    let (table, tokens) = try loadVocabObject(node["vocab"])
    let unk = try node["unk_token"].optionalString() ?? "[UNK]"
    let m = WordPieceModel(
      vocabulary: table, tokens: tokens, unknownToken: unk,
      prefix: try node["continuing_subword_prefix"].optionalString() ?? "##",
      maxInputCharsPerWord: try node["max_input_chars_per_word"].optionalInt() ?? 100)
    if m.unknownID == nil {
      throw node["unk_token"].error("the unknown token \"\(unk)\" is not in the vocabulary")
    }
    return m
  }

  /// Loads a plain BERT `vocab.txt` (one token per line, id = line number).
  static func load(vocabText: String) -> WordPieceModel {
    var lines = vocabText.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
    if lines.last == "" { lines.removeLast() }
    var table = TokenTable(capacity: lines.count)
    var tokens = [String?]()
    tokens.reserveCapacity(lines.count)
    for (i, raw) in lines.enumerated() {
      let t = raw.hasSuffix("\r") ? String(raw.dropLast()) : raw
      table.insert(Array(t.utf8), value: Int32(i), overwrite: true)
      tokens.append(t)
    }
    return WordPieceModel(vocabulary: table, tokens: tokens, unknownToken: "[UNK]", prefix: "##", maxInputCharsPerWord: 100)
  }

  func tokenize(_ w: Work, _ s: Int, _ e: Int) {
    let n = e - s
    guard n > 0 else { return }
    let unk = unknownID ?? 0
    if n > maxInputCharsPerWord {
      w.ids.append(unk)
      w.offsets.append(w.text.starts[s])
      w.offsets.append(w.text.ends[e - 1])
      return
    }
    encodePiece(w, s, e)
    let mark = w.ids.count
    let maxMain = vocabulary.maxKeyLength, maxCont = continuation.maxKeyLength
    let ok: Bool = w.bytes.withUnsafeBufferPointer { bb in
      w.charBytes.withUnsafeBufferPointer { cb in
        let base = bb.baseAddress!
        var start = 0
        while start < n {
          var end = n
          let limit = start == 0 ? maxMain : maxCont
          while end > start && Int(cb[end] - cb[start]) > limit { end -= 1 }
          var found: Int32 = -1
          while end > start {
            let a = Int(cb[start]), len = Int(cb[end]) - a
            found = start == 0 ? vocabulary.lookup(base + a, len) : continuation.lookup(base + a, len)
            if found >= 0 { break }
            end -= 1
          }
          if found < 0 { return false }
          w.ids.append(found)
          w.offsets.append(w.text.starts[s + start])
          w.offsets.append(w.text.ends[s + end - 1])
          start = end
        }
        return true
      }
    }
    if !ok {
      w.ids.removeLast(w.ids.count - mark)
      w.offsets.removeLast(w.offsets.count - 2 * mark)
      w.ids.append(unk)
      w.offsets.append(w.text.starts[s])
      w.offsets.append(w.text.ends[e - 1])
    }
  }
}

// MARK: - BPE

struct BPEScratch {
  var id: [Int32] = []
  var start: [Int32] = []
  var end: [Int32] = []
  var prev: [Int32] = []
  var next: [Int32] = []
  var alive: [Bool] = []
  var heap: [UInt64] = []  // rank << 32 | position
}

/// Byte-pair encoding with lowest-rank-first merges on integer ids.
///
/// Reference: huggingface/tokenizers `models/bpe/{model,word}.rs` (v0.23): symbols form a
/// linked list; candidate merges sit in a min-heap keyed by (rank, position).
final class BPEModel: TokenModel, @unchecked Sendable {
  let vocabulary: TokenTable
  let tokens: [String?]
  let merges: PairTable
  let unknownID: Int32?
  let prefix: [UInt8]
  let suffix: [UInt8]
  let fuseUnknown: Bool
  let byteFallback: Bool
  let ignoreMerges: Bool
  /// Id of each single code point below 0x800 as a whole token (no prefix/suffix), or -1.
  let singleChar: [Int32]
  /// Ids of `<0xXX>` byte tokens, or -1.
  let byteTokens: [Int32]

  init(node: JSONNode) throws {
    let (table, tokens) = try loadVocabObject(node["vocab"])
    vocabulary = table
    self.tokens = tokens
    if let u = try node["unk_token"].optionalString() {
      let id = table.lookup(u)
      unknownID = id >= 0 ? id : nil
    } else {
      unknownID = nil
    }
    prefix = Array((try node["continuing_subword_prefix"].optionalString() ?? "").utf8)
    suffix = Array((try node["end_of_word_suffix"].optionalString() ?? "").utf8)
    fuseUnknown = try node["fuse_unk"].bool(default: false)
    byteFallback = try node["byte_fallback"].bool(default: false)
    ignoreMerges = try node["ignore_merges"].bool(default: false)
    if !node["dropout"].isNull, try node["dropout"].double() > 0 {
      throw KDError(.unsupported, "BPE dropout is not supported (it makes tokenization random)", file: node.file, field: node["dropout"].path)
    }
    let list = try node["merges"].array()
    var m = PairTable(capacity: list.count)
    for (rank, item) in list.enumerated() {
      let a: String, b: String
      if let s = item.value as? String {
        let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw item.error("expected a merge \"left right\", found \(s.debugDescription)") }
        a = String(parts[0]); b = String(parts[1])
      } else {
        let pair = try item.array()
        guard pair.count == 2 else { throw item.error("expected a pair [left, right]") }
        a = try pair[0].string(); b = try pair[1].string()
      }
      let ia = table.lookup(a), ib = table.lookup(b)
      guard ia >= 0 else { throw item.error("merge token \(a.debugDescription) is not in the vocabulary") }
      guard ib >= 0 else { throw item.error("merge token \(b.debugDescription) is not in the vocabulary") }
      var joined = Array(a.utf8)
      let bb = Array(b.utf8)
      joined += (bb.count >= prefix.count && Array(bb[0..<prefix.count]) == prefix) ? Array(bb[prefix.count...]) : bb
      let inew = table.lookup(joined)
      guard inew >= 0 else {
        throw item.error("merged token \(String(decoding: joined, as: UTF8.self).debugDescription) is not in the vocabulary")
      }
      m.insert(UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib)), UInt64(rank) << 32 | UInt64(UInt32(inew)))
    }
    merges = m
    var single = [Int32](repeating: -1, count: 0x800)
    var buf: [UInt8] = []
    for c in 0..<0x800 {
      buf.removeAll()
      appendUTF8(UInt32(c), to: &buf)
      single[c] = table.lookup(buf)
    }
    singleChar = single
    byteTokens = (0..<256).map { table.lookup(byteTokenName(UInt8($0))) }
  }

  func tokenize(_ w: Work, _ s: Int, _ e: Int) {
    let n = e - s
    guard n > 0 else { return }
    let starts = w.text.starts, ends = w.text.ends
    if ignoreMerges {
      encodePiece(w, s, e)
      let id = w.bytes.withUnsafeBufferPointer { vocabulary.lookup($0.baseAddress!, $0.count) }
      if id >= 0 {
        w.ids.append(id)
        w.offsets.append(starts[s])
        w.offsets.append(ends[e - 1])
        return
      }
    }
    var sc = w.bpe
    sc.id.removeAll(keepingCapacity: true)
    sc.start.removeAll(keepingCapacity: true)
    sc.end.removeAll(keepingCapacity: true)
    func add(_ id: Int32, _ a: Int32, _ b: Int32) {
      sc.id.append(id)
      sc.start.append(a)
      sc.end.append(b)
    }
    var pendingUnk: (Int32, Int32)? = nil  // start, end
    let plain = prefix.isEmpty && suffix.isEmpty
    var key: [UInt8] = []
    for i in s..<e {
      let c = w.text.chars[i]
      var id: Int32 = -1
      if plain && c < 0x800 {
        id = singleChar[Int(c)]
      } else {
        key.removeAll(keepingCapacity: true)
        if i > s { key += prefix }
        appendUTF8(c, to: &key)
        if i == e - 1 { key += suffix }
        id = vocabulary.lookup(key)
      }
      if id >= 0 {
        if let u = pendingUnk { add(unknownID!, u.0, u.1); pendingUnk = nil }
        add(id, starts[i], ends[i])
        continue
      }
      if byteFallback {
        if key.isEmpty || (plain && c < 0x800) {
          key.removeAll(keepingCapacity: true)
          if i > s { key += prefix }
          appendUTF8(c, to: &key)
          if i == e - 1 { key += suffix }
        }
        if key.allSatisfy({ byteTokens[Int($0)] >= 0 }) {
          for b in key { add(byteTokens[Int(b)], starts[i], ends[i]) }
          continue
        }
      }
      if let unk = unknownID {
        if let u = pendingUnk {
          if fuseUnknown {
            pendingUnk = (u.0, ends[i])
          } else {
            add(unk, u.0, u.1)
            pendingUnk = (starts[i], ends[i])
          }
        } else {
          pendingUnk = (starts[i], ends[i])
        }
      }
    }
    if let u = pendingUnk, let unk = unknownID { add(unk, u.0, u.1) }
    mergeAll(&sc)
    var k: Int32 = sc.id.isEmpty ? -1 : 0
    while k >= 0 {
      let j = Int(k)
      w.ids.append(sc.id[j])
      w.offsets.append(sc.start[j])
      w.offsets.append(sc.end[j])
      k = sc.next[j]
    }
    w.bpe = sc
  }

  private func mergeAll(_ sc: inout BPEScratch) {
    let count = sc.id.count
    sc.prev.removeAll(keepingCapacity: true)
    sc.next.removeAll(keepingCapacity: true)
    for i in 0..<count {
      sc.prev.append(Int32(i - 1))
      sc.next.append(i + 1 < count ? Int32(i + 1) : -1)
    }
    if count < 2 { return }
    sc.heap.removeAll(keepingCapacity: true)
    for i in 0..<(count - 1) {
      if let m = merges.get(UInt64(UInt32(sc.id[i])) << 32 | UInt64(UInt32(sc.id[i + 1]))) {
        heapPush(&sc.heap, (m & 0xFFFF_FFFF_0000_0000) | UInt64(i))
      }
    }
    while let top = heapPop(&sc.heap) {
      let pos = Int(top & 0xFFFF_FFFF)
      let rank = top >> 32
      guard sc.id[pos] >= 0 else { continue }  // removed
      let nx = sc.next[pos]
      guard nx >= 0 else { continue }
      let right = Int(nx)
      guard let m = merges.get(UInt64(UInt32(sc.id[pos])) << 32 | UInt64(UInt32(sc.id[right]))), m >> 32 == rank else {
        continue
      }
      sc.id[pos] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
      sc.end[pos] = sc.end[right]
      sc.id[right] = -1
      let rn = sc.next[right]
      sc.next[pos] = rn
      if rn >= 0 { sc.prev[Int(rn)] = Int32(pos) }
      let pv = sc.prev[pos]
      if pv >= 0, let m2 = merges.get(UInt64(UInt32(sc.id[Int(pv)])) << 32 | UInt64(UInt32(sc.id[pos]))) {
        heapPush(&sc.heap, (m2 & 0xFFFF_FFFF_0000_0000) | UInt64(pv))
      }
      if rn >= 0, let m3 = merges.get(UInt64(UInt32(sc.id[pos])) << 32 | UInt64(UInt32(sc.id[Int(rn)]))) {
        heapPush(&sc.heap, (m3 & 0xFFFF_FFFF_0000_0000) | UInt64(pos))
      }
    }
  }
}

@inline(__always)
func heapPush(_ h: inout [UInt64], _ v: UInt64) {
  h.append(v)
  var i = h.count - 1
  while i > 0 {
    let p = (i - 1) / 2
    if h[p] <= h[i] { break }
    h.swapAt(p, i)
    i = p
  }
}

@inline(__always)
func heapPop(_ h: inout [UInt64]) -> UInt64? {
  guard let top = h.first else { return nil }
  let last = h.removeLast()
  if !h.isEmpty {
    h[0] = last
    var i = 0
    let n = h.count
    while true {
      let l = 2 * i + 1, r = l + 1
      var m = i
      if l < n && h[l] < h[m] { m = l }
      if r < n && h[r] < h[m] { m = r }
      if m == i { break }
      h.swapAt(i, m)
      i = m
    }
  }
  return top
}

/// `<0xAB>`: the name of a byte-fallback token.
func byteTokenName(_ b: UInt8) -> String {
  let hex = Array("0123456789ABCDEF")
  return "<0x" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 15)]) + ">"
}
