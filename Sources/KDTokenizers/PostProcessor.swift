import KDCore

/// The post-processor (HF `processors`) for single sequences: special tokens
/// around the content, token type ids, and byte-level offset trimming.
///
/// Reference: huggingface/tokenizers `processors/{bert,roberta,template,sequence}.rs` and
/// `pre_tokenizers/byte_level.rs` (`process_offsets`), v0.23.
struct PostProcessor {
  enum Item {
    case special(ids: [Int32])
    case sequence
  }
  /// Template items with their type ids.
  var single: [(Item, Int32)] = [(.sequence, 0)]
  var trimOffsets = false
  var trimAddPrefixSpace = false

  /// Number of special tokens the template adds.
  var addedTokenCount: Int {
    single.reduce(0) { n, item in
      if case .special(let ids) = item.0 { return n + ids.count }
      return n
    }
  }

  static func load(_ node: JSONNode, lookup: (String) -> Int32?) throws -> PostProcessor {
    var p = PostProcessor()
    if node.isNull { return p }
    try p.add(node, lookup: lookup)
    return p
  }

  private mutating func add(_ node: JSONNode, lookup: (String) -> Int32?) throws {
    let type = try node.typeName()
    func pair(_ n: JSONNode) throws -> Int32 {
      let a = try n.array()
      guard a.count == 2 else { throw n.error("expected [token, id]") }
      return Int32(try a[1].int())
    }
    switch type {
    case "BertProcessing":
      single = [(.special(ids: [try pair(node["cls"])]), 0), (.sequence, 0), (.special(ids: [try pair(node["sep"])]), 0)]
    case "RobertaProcessing":
      single = [(.special(ids: [try pair(node["cls"])]), 0), (.sequence, 0), (.special(ids: [try pair(node["sep"])]), 0)]
      if try node["trim_offsets"].bool(default: true) {
        trimOffsets = true
        trimAddPrefixSpace = try node["add_prefix_space"].bool(default: true)
      }
    case "ByteLevel":
      if try node["trim_offsets"].bool(default: true) {
        trimOffsets = true
        trimAddPrefixSpace = try node["add_prefix_space"].bool(default: true)
      }
    case "TemplateProcessing":
      var specials: [String: [Int32]] = [:]
      for (name, sp) in try node["special_tokens"].object() {
        specials[name] = try sp["ids"].array().map { Int32(try $0.int()) }
      }
      var items: [(Item, Int32)] = []
      for piece in try node["single"].array() {
        if !piece["SpecialToken"].isNull {
          let st = piece["SpecialToken"]
          let name = try st["id"].string()
          guard let ids = specials[name] else {
            throw st["id"].error("special token \"\(name)\" is not listed in special_tokens")
          }
          items.append((.special(ids: ids), Int32(try st["type_id"].int())))
        } else if !piece["Sequence"].isNull {
          items.append((.sequence, Int32(try piece["Sequence"]["type_id"].int())))
        } else {
          throw piece.error("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}")
        }
      }
      single = items
    case "Sequence":
      for sub in try node["processors"].array() { try add(sub, lookup: lookup) }
    default:
      throw KDError(.unsupported, "post-processor type \"\(type)\" is not supported (supported: BertProcessing, RobertaProcessing, TemplateProcessing, ByteLevel, Sequence)", file: node.file, field: node.path + ".type")
    }
  }
}

/// The decoder (HF `decoders`): token strings back to text.
///
/// Reference: huggingface/tokenizers `decoders/*.rs` (v0.23).
indirect enum TokenDecoder {
  case wordPiece(prefix: String, cleanup: Bool)
  case byteLevel
  case metaspace(replacement: Character, prependScheme: PrependScheme)
  case bpe(suffix: String)
  case byteFallback
  case fuse
  case strip(content: Character, start: Int, stop: Int)
  case replace(pattern: String, content: String)
  case sequence([TokenDecoder])

  static func load(_ node: JSONNode) throws -> TokenDecoder? {
    if node.isNull { return nil }
    let type = try node.typeName()
    switch type {
    case "WordPiece":
      return .wordPiece(prefix: try node["prefix"].optionalString() ?? "##", cleanup: try node["cleanup"].bool(default: true))
    case "ByteLevel": return .byteLevel
    case "Metaspace":
      let r = try node["replacement"].string()
      guard let c = r.first, r.count == 1 else { throw node["replacement"].error("expected a single character") }
      var scheme = PrependScheme.always
      if let s = try node["prepend_scheme"].optionalString() {
        scheme = s == "never" ? .never : s == "first" ? .first : .always
      } else if !node["add_prefix_space"].isNull {
        scheme = try node["add_prefix_space"].bool() ? .always : .never
      }
      return .metaspace(replacement: c, prependScheme: scheme)
    case "BPEDecoder": return .bpe(suffix: try node["suffix"].optionalString() ?? "</w>")
    case "ByteFallback": return .byteFallback
    case "Fuse": return .fuse
    case "Strip":
      let s = try node["content"].string()
      guard let c = s.first, s.count == 1 else { throw node["content"].error("expected a single character") }
      return .strip(content: c, start: try node["start"].int(), stop: try node["stop"].int())
    case "Replace":
      guard let lit = try node["pattern"]["String"].optionalString() else {
        throw KDError(.unsupported, "Replace decoder with a Regex pattern is not supported", file: node.file, field: node["pattern"].path)
      }
      return .replace(pattern: lit, content: try node["content"].string())
    case "Sequence":
      return .sequence(try node["decoders"].array().compactMap { try load($0) })
    default:
      throw KDError(.unsupported, "decoder type \"\(type)\" is not supported (supported: WordPiece, ByteLevel, Metaspace, BPEDecoder, ByteFallback, Fuse, Strip, Replace, Sequence)", file: node.file, field: node.path + ".type")
    }
  }

  /// HF `decode_chain`: transforms the token list.
  func decodeChain(_ tokens: [String]) -> [String] {
    switch self {
    case .sequence(let list):
      var t = tokens
      for d in list { t = d.decodeChain(t) }
      return t
    case let .wordPiece(prefix, cleanup):
      return tokens.enumerated().map { i, tok in
        var t = tok
        if i != 0 {
          if t.utf8.starts(with: prefix.utf8) {
            t = String(decoding: Array(t.utf8.dropFirst(prefix.utf8.count)), as: UTF8.self)
          } else {
            t = " " + t
          }
        }
        return cleanup ? TokenDecoder.cleanup(t) : t
      }
    case .byteLevel:
      var bytes: [UInt8] = []
      for t in tokens {
        for u in t.unicodeScalars {
          if let b = ByteLevelAlphabet.charToByte[u.value] { bytes.append(b) } else { bytes.append(contentsOf: Array(String(u).utf8)) }
        }
      }
      return [String(decoding: bytes, as: UTF8.self)]
    case let .metaspace(rep, scheme):
      return tokens.enumerated().map { i, tok in
        var t = tok.replacingLiteral(String(rep), with: " ")
        if i == 0 && scheme != .never && t.utf8.first == 0x20 { t = String(decoding: Array(t.utf8.dropFirst()), as: UTF8.self) }
        return t
      }
    case .bpe(let suffix):
      let n = tokens.count
      return tokens.enumerated().map { i, t in t.replacingLiteral(suffix, with: i == n - 1 ? "" : " ") }
    case .byteFallback:
      var out: [String] = []
      var pending: [UInt8] = []
      func flush() {
        if pending.isEmpty { return }
        if let s = String(validating: pending, as: UTF8.self) {
          out.append(s)
        } else {
          out.append(String(repeating: "\u{FFFD}", count: pending.count))
        }
        pending.removeAll()
      }
      for t in tokens {
        let u = Array(t.utf8)
        if u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E,
          let b = UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
        {
          pending.append(b)
        } else {
          flush()
          out.append(t)
        }
      }
      flush()
      return out
    case .fuse:
      return [tokens.joined()]
    case let .strip(content, start, stop):
      let target = content.unicodeScalars.first!
      return tokens.map { t in
        let chars = Array(t.unicodeScalars)
        var a = 0
        while a < start && a < chars.count && chars[a] == target { a += 1 }
        var b = 0
        while b < stop && b < chars.count - a && chars[chars.count - 1 - b] == target { b += 1 }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: chars[a..<(chars.count - b)])
        return String(out)
      }
    case let .replace(pattern, content):
      return tokens.map { $0.replacingLiteral(pattern, with: content) }
    }
  }

  static func cleanup(_ s: String) -> String {
    var t = s
    for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                   (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]
    {
      t = t.replacingLiteral(a, with: b)
    }
    return t
  }
}

extension String {
  /// Literal replacement without Foundation.
  func replacingLiteral(_ target: String, with replacement: String) -> String {
    if target.isEmpty { return self }
    let src = Array(utf8), pat = Array(target.utf8), rep = Array(replacement.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(src.count)
    var i = 0
    while i < src.count {
      if i + pat.count <= src.count && src[i] == pat[0] && Array(src[i..<(i + pat.count)]) == pat {
        out += rep
        i += pat.count
      } else {
        out.append(src[i])
        i += 1
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}
