import Foundation
import KDCore

/// Turns raw label cells into label names, following a manifest entry:
/// split into tags, map ids to names, apply rules, fall back to a default.
struct LabelMapper {
  let separator: String?
  let multiLabel: Bool
  let map: [String: String]
  let rules: [(NSRegularExpression, String)]
  let defaultLabel: String?

  init(entry: CorpusManifest.Entry, labelColumnIsPlural: Bool, baseFolder: String) throws {
    multiLabel = entry.multiLabel ?? labelColumnIsPlural
    separator = entry.labelSeparator ?? (multiLabel ? "," : nil)
    var m = entry.labelMap ?? [:]
    if let namesFile = entry.labelNames {
      let path = PathText.join(baseFolder, namesFile)
      let stream = try TextLineStream(path: path, display: namesFile, latin1: false)
      var first = true
      var header: [String] = []
      try CSVReader().parse(stream: stream, limit: 1 << 20, onRecord: { rec in
        if first { header = rec.fields; first = false; return }
        guard rec.fields.count >= 2 else {
          throw KDError(.input, "expected two columns (id, name), found \(rec.fields.count)", file: namesFile, line: rec.line)
        }
        m[rec.fields[0].trimmingCharacters(in: .whitespaces)] = rec.fields[1].trimmingCharacters(in: .whitespaces)
      }, onError: { line, msg in })
      _ = header
    }
    map = m
    rules = try (entry.labelRules ?? []).map { (try NSRegularExpression(pattern: $0.match), $0.label) }
    defaultLabel = entry.defaultLabel
  }

  /// Label names for one raw cell (or several raw values, e.g. a JSON array).
  func labels(_ raw: [String]) -> [String] {
    var tags: [String] = []
    for value in raw {
      if let separator, !separator.isEmpty {
        let parts = separator == " " ? value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
          : value.components(separatedBy: separator)
        tags.append(contentsOf: parts)
      } else {
        tags.append(value)
      }
    }
    var out: [String] = []
    for t in tags {
      let tag = TextScan.trimmed(t)
      if tag.isEmpty { continue }
      var name = map[tag] ?? tag
      if !rules.isEmpty {
        guard let rule = rules.first(where: { $0.0.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil }) else {
          continue
        }
        name = rule.1
      }
      if !out.contains(name) { out.append(name) }
    }
    if out.isEmpty, let d = defaultLabel { out = [d] }
    return out
  }
}
