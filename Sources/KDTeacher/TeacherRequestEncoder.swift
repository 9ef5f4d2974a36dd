import Foundation

/// Writes request lines of the external-teacher protocol
/// (`schemas/teacher-protocol.schema.json`, `request`) straight into bytes:
/// `{"id":17,"text":"…","ids":[101,…],"embedding":true,"end_of_batch":true}`.
///
/// The shape is fixed and small, so building it directly is several times
/// faster than `JSONSerialization` and keeps kd's share of a GPU teacher's
/// time small (BENCHMARKS.md, "Issue 15: a GPU teacher kept busy").
enum TeacherRequestEncoder {
  static func append(id: Int64, text: String?, ids: [Int32]?, embedding: Bool, endOfBatch: Bool, to out: inout [UInt8]) {
    out.append(contentsOf: #"{"id":"#.utf8)
    appendInt(id, to: &out)
    if let text {
      out.append(contentsOf: #","text":"#.utf8)
      appendString(text, to: &out)
    }
    if let ids {
      out.append(contentsOf: #","ids":["#.utf8)
      for (k, t) in ids.enumerated() {
        if k > 0 { out.append(UInt8(ascii: ",")) }
        appendInt(Int64(t), to: &out)
      }
      out.append(UInt8(ascii: "]"))
    }
    if embedding { out.append(contentsOf: #","embedding":true"#.utf8) }
    if endOfBatch { out.append(contentsOf: #","end_of_batch":true"#.utf8) }
    out.append(contentsOf: "}\n".utf8)
  }

  static func appendInt(_ value: Int64, to out: inout [UInt8]) {
    if value == 0 { out.append(UInt8(ascii: "0")); return }
    var v = value.magnitude
    if value < 0 { out.append(UInt8(ascii: "-")) }
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                 UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
      (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var n = 0
    withUnsafeMutableBytes(of: &digits) { d in
      while v > 0 {
        d[n] = UInt8(truncatingIfNeeded: v % 10) + UInt8(ascii: "0")
        v /= 10
        n += 1
      }
      for i in stride(from: n - 1, through: 0, by: -1) { out.append(d[i]) }
    }
  }

  /// A JSON string literal: `"`, `\` and control characters escaped, everything else as UTF-8.
  static func appendString(_ s: String, to out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    let hex = Array("0123456789abcdef".utf8)
    for b in s.utf8 {
      switch b {
      case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
      case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
      case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
      case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
      case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
      case 0..<0x20:
        out.append(contentsOf: Array(#"\u00"#.utf8))
        out.append(hex[Int(b >> 4)])
        out.append(hex[Int(b & 15)])
      default: out.append(b)
      }
    }
    out.append(UInt8(ascii: "\""))
  }
}
