import Foundation

/// Escaping and formatting for the report's HTML and SVG.
///
/// Every string that comes from the database (labels, domains, paths, model
/// names, command lines) goes through `escape` before it reaches the page.
/// The output is polyglot: well-formed XML as well as valid HTML5, so the
/// tests can parse it strictly.
public enum HTML {
  /// Escapes text for element content and attribute values (`&`, `<`, `>`, `"`, `'`).
  /// Characters that XML 1.0 forbids (most C0 controls) become U+FFFD.
  public static func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
      switch scalar {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
      default:
        if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
          out += "\u{FFFD}"
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out
  }

  /// A fragment id made of `[a-z0-9-]` from any text (`Task: A&B` -> `task-a-b`), never empty.
  public static func slug(_ text: String) -> String {
    var out = ""
    var dash = false
    for scalar in text.lowercased().unicodeScalars {
      if (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9") {
        out.unicodeScalars.append(scalar)
        dash = false
      } else if !dash && !out.isEmpty {
        out += "-"
        dash = true
      }
    }
    while out.hasSuffix("-") { out.removeLast() }
    return out.isEmpty ? "x" : out
  }
}

/// Number formatting that does not depend on the locale.
public enum Format {
  /// `1234567` -> `1,234,567`.
  public static func int<T: BinaryInteger>(_ value: T) -> String {
    let negative = value < 0
    var digits = String(negative ? (0 - Int64(value)) : Int64(value))
    var groups: [String] = []
    while digits.count > 3 {
      groups.insert(String(digits.suffix(3)), at: 0)
      digits.removeLast(3)
    }
    groups.insert(digits, at: 0)
    return (negative ? "-" : "") + groups.joined(separator: ",")
  }

  /// A metric in [0, 1] with three decimals (`0.873`), or `—` when absent or not finite.
  public static func metric(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "—" }
    return String(format: "%.3f", value)
  }

  /// A share as a percentage with one decimal (`87.3%`).
  public static func percent(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "—" }
    return String(format: "%.1f%%", value * 100)
  }

  /// A plain decimal with `digits` decimals.
  public static func decimal(_ value: Double?, digits: Int = 2) -> String {
    guard let value, value.isFinite else { return "—" }
    return String(format: "%.\(digits)f", value)
  }

  /// A compact count: `950`, `12.3k`, `4.56M`.
  public static func compact(_ value: Double) -> String {
    let a = abs(value)
    if a >= 1e9 { return String(format: "%.3gG", value / 1e9) }
    if a >= 1e6 { return String(format: "%.3gM", value / 1e6) }
    if a >= 1e4 { return String(format: "%.3gk", value / 1e3) }
    if a == a.rounded() { return int(Int64(value)) }
    return String(format: "%.3g", value)
  }

  /// Bytes as `512 B`, `12.3 KiB`, `4.5 MiB`, `1.2 GiB` (powers of 1024, labelled as such).
  public static func bytes<T: BinaryInteger>(_ value: T) -> String {
    let v = Double(value)
    if v >= 1_073_741_824 { return String(format: "%.1f GiB", v / 1_073_741_824) }
    if v >= 1_048_576 { return String(format: "%.1f MiB", v / 1_048_576) }
    if v >= 1024 { return String(format: "%.1f KiB", v / 1024) }
    return "\(value) B"
  }

  /// A parameter count as `22.7M` or `8.4k`.
  public static func parameters(_ value: Int?) -> String {
    guard let value else { return "—" }
    if value >= 1_000_000 { return String(format: "%.2fM", Double(value) / 1e6) }
    if value >= 1000 { return String(format: "%.1fk", Double(value) / 1e3) }
    return "\(value)"
  }

  /// A duration between two ISO 8601 timestamps as `2 h 03 min`, `4 min 12 s` or `9.5 s`; nil when unknown.
  public static func duration(from start: String, to end: String?) -> String? {
    guard let end, let a = parseDate(start), let b = parseDate(end) else { return nil }
    let s = max(0, b.timeIntervalSince(a))
    if s >= 3600 { return String(format: "%d h %02d min", Int(s) / 3600, Int(s) / 60 % 60) }
    if s >= 60 { return String(format: "%d min %02d s", Int(s) / 60, Int(s) % 60) }
    return String(format: "%.1f s", s)
  }

  /// An ISO 8601 timestamp shown as `2026-11-29 08:24 UTC`.
  public static func timestamp(_ iso: String) -> String {
    guard let d = parseDate(iso) else { return iso }
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
    return f.string(from: d)
  }

  static func parseDate(_ iso: String) -> Date? {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = f.date(from: iso) { return d }
    f.formatOptions = [.withInternetDateTime]
    return f.date(from: iso)
  }
}
