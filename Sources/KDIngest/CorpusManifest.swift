import Foundation
import KDCore
import Yams

/// A corpus manifest (`kd-corpus.yaml`): maps a folder's files onto kd's
/// documents, examples, labels and splits when names and layouts differ from
/// the defaults. Documented in docs/ingest.md and the README.
///
/// For example:
/// ```yaml
/// domain: legal
/// files:
///   - path: "claudette/sentences/*.txt"
///     format: lines
///     task: claudette_unfair
///     labels_from: "claudette/tags/{name}"   # parallel file: tags of line i on line i
///     label_separator: " "
///     label_rules: [{match: "[23]$", label: unfair}]
///     default_label: fair
/// ```
public struct CorpusManifest: Codable, Equatable {
  public var domain: String?
  public var task: String?
  public var exclude: [String]?
  /// Read only the files that an entry of `files` names.
  public var onlyListed: Bool?
  public var files: [Entry]?

  enum CodingKeys: String, CodingKey {
    case domain, task, exclude, onlyListed = "only_listed", files
  }

  public init(domain: String? = nil, task: String? = nil, exclude: [String]? = nil, files: [Entry]? = nil) {
    self.domain = domain; self.task = task; self.exclude = exclude; self.files = files
  }

  /// One rule: which files (`path` glob, relative to the manifest's folder) and how to read them.
  public struct Entry: Codable, Equatable {
    public var path: String
    public var skip: Bool?
    public var format: String?
    public var domain: String?
    public var task: String?
    public var encoding: String?
    public var delimiter: String?
    // Column / field names.
    public var text: String?
    public var title: String?
    public var label: String?
    public var id: String?
    public var split: String?
    // Labels.
    public var multiLabel: Bool?
    public var labelSeparator: String?
    public var labelMap: [String: String]?
    public var labelNames: String?
    public var labelRules: [LabelRule]?
    public var defaultLabel: String?
    public var labelsFrom: String?
    // Examples and splits.
    public var segment: String?
    public var maxTokens: Int?
    public var stride: Int?
    public var validationFraction: Double?
    public var splitFractions: [Double]?
    /// Where section headings of USLM, Akoma Ntoso and JATS go: `auto`
    /// (default), `text`, `section`, `both` or `none` (see `HeadingPlacement`).
    public var headings: String?
    /// Generic XML reader settings (`format: xml`): see docs/readers.md.
    public var xml: GenericXMLConfig?

    enum CodingKeys: String, CodingKey {
      case path, skip, format, domain, task, encoding, delimiter, text, title, label, id, split
      case multiLabel = "multi_label", labelSeparator = "label_separator", labelMap = "label_map"
      case labelNames = "label_names", labelRules = "label_rules", defaultLabel = "default_label"
      case labelsFrom = "labels_from", segment, maxTokens = "max_tokens", stride
      case validationFraction = "validation_fraction", splitFractions = "split_fractions", xml, headings
    }

    public init(path: String) { self.path = path }
  }

  /// Maps raw tags matching a regular expression to a label.
  public struct LabelRule: Codable, Equatable {
    public var match: String
    public var label: String
  }

  /// Loads a manifest file (YAML).
  /// - Throws: `KDError(.input)` naming the file and the problem.
  public static func load(path: String) throws -> CorpusManifest {
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw KDError(.io, "cannot read manifest: \(error.localizedDescription)", file: path)
    }
    do {
      let m = try YAMLDecoder().decode(CorpusManifest.self, from: text)
      try m.validate(path: path)
      return m
    } catch let e as KDError {
      throw e
    } catch let DecodingError.keyNotFound(key, ctx) {
      throw KDError(.input, "missing key '\(key.stringValue)'", file: path, field: Self.codingPath(ctx.codingPath))
    } catch let DecodingError.typeMismatch(_, ctx) {
      throw KDError(.input, ctx.debugDescription, file: path, field: Self.codingPath(ctx.codingPath))
    } catch let DecodingError.dataCorrupted(ctx) {
      throw KDError(.input, ctx.debugDescription, file: path, field: Self.codingPath(ctx.codingPath))
    } catch let DecodingError.valueNotFound(_, ctx) {
      throw KDError(.input, ctx.debugDescription, file: path, field: Self.codingPath(ctx.codingPath))
    } catch {
      throw KDError(.input, "invalid YAML: \(error)", file: path)
    }
  }

  static func codingPath(_ path: [CodingKey]) -> String {
    path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
  }

  func validate(path: String) throws {
    let formats: Set<String> = ["text", "lines", "csv", "tsv", "jsonl", "pubmed", "jats", "uslm", "akn", "edgar", "xml"]
    let segments: Set<String> = ["document", "lines", "sentences", "window", "section"]
    for (i, e) in (files ?? []).enumerated() {
      if let f = e.format, !formats.contains(f) {
        throw KDError(.input, "unknown format '\(f)' (one of \(formats.sorted().joined(separator: ", ")))", file: path, field: "files[\(i)].format")
      }
      if let h = e.headings, HeadingPlacement(rawValue: h) == nil {
        throw KDError(.input, "unknown headings '\(h)' (one of \(HeadingPlacement.allCases.map(\.rawValue).joined(separator: ", ")))",
                      file: path, field: "files[\(i)].headings")
      }
      if let s = e.segment, !segments.contains(s) {
        throw KDError(.input, "unknown segment '\(s)' (one of \(segments.sorted().joined(separator: ", ")))", file: path, field: "files[\(i)].segment")
      }
      for (j, r) in (e.labelRules ?? []).enumerated() {
        do { _ = try NSRegularExpression(pattern: r.match) } catch {
          throw KDError(.input, "invalid regular expression '\(r.match)'", file: path, field: "files[\(i)].label_rules[\(j)].match")
        }
      }
      if let v = e.validationFraction, !(0..<1).contains(v) {
        throw KDError(.input, "validation_fraction must be in [0, 1)", file: path, field: "files[\(i)].validation_fraction")
      }
      if let f = e.splitFractions, f.count != 3 || abs(f.reduce(0, +) - 1) > 1e-6 || f.contains(where: { $0 < 0 }) {
        throw KDError(.input, "split_fractions must be three non-negative numbers (train, validation, test) that sum to 1", file: path, field: "files[\(i)].split_fractions")
      }
      if e.format == "xml" && e.xml == nil {
        throw KDError(.input, "format xml needs an `xml:` block (record_path, text_paths, id_path, label_paths)", file: path, field: "files[\(i)].xml")
      }
    }
  }
}

/// Shell-style globs: `*` (within a path component), `**` (any depth), `?`.
public struct Glob {
  let regex: NSRegularExpression
  public init(_ pattern: String) throws {
    var r = "^"
    var chars = Array(pattern)
    if chars.first == "/" { chars.removeFirst() }
    var i = 0
    while i < chars.count {
      let c = chars[i]
      if c == "*" {
        if i + 1 < chars.count && chars[i + 1] == "*" {
          // `**/` matches zero or more folders.
          if i + 2 < chars.count && chars[i + 2] == "/" { r += "(?:.*/)?"; i += 3; continue }
          r += ".*"; i += 2; continue
        }
        r += "[^/]*"
      } else if c == "?" {
        r += "[^/]"
      } else {
        r += NSRegularExpression.escapedPattern(for: String(c))
      }
      i += 1
    }
    r += "$"
    regex = try NSRegularExpression(pattern: r)
  }
  public func matches(_ path: String) -> Bool {
    regex.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil
  }
}
