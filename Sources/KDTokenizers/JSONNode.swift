import Foundation
import KDCore

/// A parsed JSON value. Numbers keep their source text so that floats can be read
/// exactly as HF's Rust loader (serde_json) reads them.
enum JSONValue {
  case null
  case bool(Bool)
  case number(String)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])
}

/// A small strict JSON parser (RFC 8259) over UTF-8 bytes.
struct JSONParser {
  let bytes: [UInt8]
  var i = 0

  init(_ data: Data) { bytes = [UInt8](data) }

  struct Failure: Error {
    let message: String
    let offset: Int
  }

  static func parse(_ data: Data) throws -> JSONValue {
    var p = JSONParser(data)
    if p.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { p.i = 3 }
    p.skipSpace()
    let v = try p.value(depth: 0)
    p.skipSpace()
    if p.i != p.bytes.count { throw Failure(message: "unexpected data after the JSON value", offset: p.i) }
    return v
  }

  mutating func skipSpace() {
    while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
  }

  mutating func value(depth: Int) throws -> JSONValue {
    guard depth < 512 else { throw Failure(message: "nesting too deep", offset: i) }
    guard i < bytes.count else { throw Failure(message: "unexpected end of input", offset: i) }
    switch bytes[i] {
    case UInt8(ascii: "{"):
      i += 1
      var d: [String: JSONValue] = [:]
      skipSpace()
      if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return .object(d) }
      while true {
        skipSpace()
        guard i < bytes.count && bytes[i] == UInt8(ascii: "\"") else { throw Failure(message: "expected a string key", offset: i) }
        let k = try string()
        skipSpace()
        guard i < bytes.count && bytes[i] == UInt8(ascii: ":") else { throw Failure(message: "expected ':'", offset: i) }
        i += 1
        skipSpace()
        d[k] = try value(depth: depth + 1)
        skipSpace()
        guard i < bytes.count else { throw Failure(message: "unexpected end of input in an object", offset: i) }
        if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
        if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(d) }
        throw Failure(message: "expected ',' or '}'", offset: i)
      }
    case UInt8(ascii: "["):
      i += 1
      var a: [JSONValue] = []
      skipSpace()
      if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
      while true {
        skipSpace()
        a.append(try value(depth: depth + 1))
        skipSpace()
        guard i < bytes.count else { throw Failure(message: "unexpected end of input in an array", offset: i) }
        if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
        if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
        throw Failure(message: "expected ',' or ']'", offset: i)
      }
    case UInt8(ascii: "\""):
      return .string(try string())
    case UInt8(ascii: "t"): try literal("true"); return .bool(true)
    case UInt8(ascii: "f"): try literal("false"); return .bool(false)
    case UInt8(ascii: "n"): try literal("null"); return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
      let start = i
      if bytes[i] == UInt8(ascii: "-") { i += 1 }
      var digits = 0
      while i < bytes.count, (bytes[i] >= 0x30 && bytes[i] <= 0x39) || bytes[i] == UInt8(ascii: ".") || bytes[i] == UInt8(ascii: "e")
        || bytes[i] == UInt8(ascii: "E") || bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")
      {
        if bytes[i] >= 0x30 && bytes[i] <= 0x39 { digits += 1 }
        i += 1
      }
      guard digits > 0 else { throw Failure(message: "invalid number", offset: start) }
      return .number(String(decoding: bytes[start..<i], as: UTF8.self))
    default:
      throw Failure(message: "unexpected character '\(Unicode.Scalar(bytes[i]))'", offset: i)
    }
  }

  mutating func literal(_ word: String) throws {
    let w = Array(word.utf8)
    guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else {
      throw Failure(message: "invalid literal", offset: i)
    }
    i += w.count
  }

  mutating func hex4() throws -> UInt32 {
    guard i + 4 <= bytes.count else { throw Failure(message: "truncated \\u escape", offset: i) }
    var v: UInt32 = 0
    for _ in 0..<4 {
      let c = bytes[i]
      let d: UInt32
      switch c {
      case 0x30...0x39: d = UInt32(c - 0x30)
      case 0x41...0x46: d = UInt32(c - 0x41 + 10)
      case 0x61...0x66: d = UInt32(c - 0x61 + 10)
      default: throw Failure(message: "invalid \\u escape", offset: i)
      }
      v = v << 4 | d
      i += 1
    }
    return v
  }

  mutating func string() throws -> String {
    i += 1  // opening quote
    let start = i
    // Fast path: no escapes.
    while i < bytes.count && bytes[i] != UInt8(ascii: "\"") && bytes[i] != UInt8(ascii: "\\") && bytes[i] >= 0x20 { i += 1 }
    if i < bytes.count && bytes[i] == UInt8(ascii: "\"") {
      let s = String(decoding: bytes[start..<i], as: UTF8.self)
      i += 1
      return s
    }
    var out = [UInt8](bytes[start..<i])
    while true {
      guard i < bytes.count else { throw Failure(message: "unterminated string", offset: start - 1) }
      let c = bytes[i]
      if c == UInt8(ascii: "\"") { i += 1; break }
      if c < 0x20 { throw Failure(message: "control character in a string", offset: i) }
      if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
      i += 1
      guard i < bytes.count else { throw Failure(message: "unterminated escape", offset: i) }
      let e = bytes[i]
      i += 1
      switch e {
      case UInt8(ascii: "\""): out.append(0x22)
      case UInt8(ascii: "\\"): out.append(0x5C)
      case UInt8(ascii: "/"): out.append(0x2F)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0C)
      case UInt8(ascii: "n"): out.append(0x0A)
      case UInt8(ascii: "r"): out.append(0x0D)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "u"):
        var u = try hex4()
        if u >= 0xD800 && u < 0xDC00 {
          if i + 6 <= bytes.count && bytes[i] == 0x5C && bytes[i + 1] == UInt8(ascii: "u") {
            i += 2
            let lo = try hex4()
            if lo >= 0xDC00 && lo < 0xE000 { u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00) } else { u = 0xFFFD }
          } else {
            u = 0xFFFD
          }
        } else if u >= 0xDC00 && u < 0xE000 {
          u = 0xFFFD
        }
        appendUTF8(u, to: &out)
      default:
        throw Failure(message: "invalid escape", offset: i - 1)
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}

/// Reads a JSON number the way serde_json (without `float_roundtrip`) does, which is how HF
/// `tokenizers` reads Unigram scores: the decimal significand as u64 (extra digits dropped),
/// converted to f64, then multiplied or divided by one power of ten. Not always correctly
/// rounded, and that matters: Viterbi ties are decided by these exact values.
func serdeDouble(_ text: String) -> Double? {
  let b = Array(text.utf8)
  var i = 0
  var positive = true
  if i < b.count && b[i] == UInt8(ascii: "-") { positive = false; i += 1 }
  var significand: UInt64 = 0
  var exponent: Int32 = 0
  var sawDigit = false
  var overflowed = false
  @inline(__always) func overflows(_ a: UInt64, _ d: UInt64) -> Bool {
    a >= UInt64.max / 10 && (a > UInt64.max / 10 || d > UInt64.max % 10)
  }
  while i < b.count && b[i] >= 0x30 && b[i] <= 0x39 {
    let d = UInt64(b[i] - 0x30)
    sawDigit = true
    if overflowed || overflows(significand, d) {
      // Integer part too long: serde parses it as f64 digit by digit (rare; approximate).
      overflowed = true
      exponent += 1
    } else {
      significand = significand * 10 + d
    }
    i += 1
  }
  guard sawDigit else { return nil }
  if overflowed { return Double(text) }
  if i < b.count && b[i] == UInt8(ascii: ".") {
    i += 1
    var after = 0
    var dropping = false
    while i < b.count && b[i] >= 0x30 && b[i] <= 0x39 {
      let d = UInt64(b[i] - 0x30)
      if !dropping && overflows(significand, d) { dropping = true }
      if !dropping {
        significand = significand * 10 + d
        exponent -= 1
      }
      after += 1
      i += 1
    }
    if after == 0 { return nil }
  }
  if i < b.count && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
    i += 1
    var positiveExp = true
    if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { positiveExp = b[i] == UInt8(ascii: "+"); i += 1 }
    var e: Int32 = 0
    var any = false
    while i < b.count && b[i] >= 0x30 && b[i] <= 0x39 {
      any = true
      e = e > 100_000 ? e : e * 10 + Int32(b[i] - 0x30)
      i += 1
    }
    if !any { return nil }
    exponent = positiveExp ? exponent &+ e : exponent &- e
  }
  if i != b.count { return nil }
  var f = Double(significand)
  while true {
    let k = Int(exponent.magnitude)
    if k <= 308 {
      let pow = serdePow10[k]
      if exponent >= 0 { f *= pow } else { f /= pow }
      break
    }
    if f == 0 { break }
    if exponent >= 0 { return .infinity }
    f /= 1e308
    exponent += 308
  }
  return positive ? f : -f
}

/// 1e0 ... 1e308, each the correctly rounded double (as Rust's literals are).
let serdePow10: [Double] = (0...308).map { Double("1e\($0)")! }

/// A node of a parsed JSON document that knows its own path, so that every
/// error names the field that caused it (`$.model.vocab["foo"]: expected an integer`).
struct JSONNode {
  let value: JSONValue?
  let path: String
  let file: String

  init(value: JSONValue?, path: String, file: String) {
    self.value = value
    self.path = path
    self.file = file
  }

  /// Parses a JSON document.
  static func parse(_ data: Data, file: String) throws -> JSONNode {
    do {
      return JSONNode(value: try JSONParser.parse(data), path: "$", file: file)
    } catch let f as JSONParser.Failure {
      // Line and column of the failure, 1-based.
      var line = 1, column = 1
      for b in data.prefix(f.offset) {
        if b == 0x0A { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
      }
      throw KDError(.input, "not valid JSON: \(f.message) at line \(line), column \(column)", file: file, line: line)
    }
  }

  func error(_ message: String) -> KDError {
    KDError(.input, message, file: file, field: path)
  }

  var isNull: Bool {
    if case .null = value { return true }
    return value == nil
  }

  func kindName() -> String {
    switch value {
    case nil: return "nothing (the field is missing)"
    case .null: return "null"
    case .string: return "a string"
    case .bool: return "a boolean"
    case .number: return "a number"
    case .array: return "an array"
    case .object: return "an object"
    }
  }

  subscript(key: String) -> JSONNode {
    if case .object(let d) = value { return JSONNode(value: d[key], path: path + "." + key, file: file) }
    return JSONNode(value: nil, path: path + "." + key, file: file)
  }

  /// The string value, when this node is a string.
  var stringValue: String? {
    if case .string(let s) = value { return s }
    return nil
  }

  func string() throws -> String {
    guard case .string(let s) = value else { throw error("expected a string, found \(kindName())") }
    return s
  }

  func optionalString() throws -> String? { isNull ? nil : try string() }

  func int() throws -> Int {
    guard case .number(let t) = value else { throw error("expected an integer, found \(kindName())") }
    guard let i = Int(t) else { throw error("expected an integer, found \(t)") }
    return i
  }

  func optionalInt() throws -> Int? { isNull ? nil : try int() }

  /// An integer that must fit a token id or type id (0 ... Int32.max).
  func id() throws -> Int32 {
    let v = try int()
    guard let r = Int32(exactly: v), r >= 0 else { throw error("\(v) is not a valid id (0 ... \(Int32.max))") }
    return r
  }

  func double() throws -> Double {
    guard case .number(let t) = value, let d = serdeDouble(t) else { throw error("expected a number, found \(kindName())") }
    return d
  }

  func bool() throws -> Bool {
    guard case .bool(let b) = value else { throw error("expected true or false, found \(kindName())") }
    return b
  }

  func bool(default d: Bool) throws -> Bool { isNull ? d : try bool() }

  func array() throws -> [JSONNode] {
    guard case .array(let a) = value else { throw error("expected an array, found \(kindName())") }
    return a.enumerated().map { JSONNode(value: $0.element, path: "\(path)[\($0.offset)]", file: file) }
  }

  var isArray: Bool {
    if case .array = value { return true }
    return false
  }

  func object() throws -> [(key: String, node: JSONNode)] {
    guard case .object(let d) = value else { throw error("expected an object, found \(kindName())") }
    return d.keys.sorted().map { k in (k, JSONNode(value: d[k], path: "\(path)[\"\(k)\"]", file: file)) }
  }

  /// The `type` field of a pipeline component.
  func typeName() throws -> String { try self["type"].string() }
}
