/// JSON text written by hand on hot or byte-exact paths (JSON lines output,
/// safetensors headers), where building Foundation objects would cost more.
public enum JSONText {
  /// `s` as a JSON string literal, quotes included (RFC 8259 escaping).
  public static func quote(_ s: String) -> String {
    var out = "\""
    out.reserveCapacity(s.utf8.count + 2)
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where u.value < 0x20:
        let h = String(u.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
      default: out.unicodeScalars.append(u)
      }
    }
    return out + "\""
  }
}
