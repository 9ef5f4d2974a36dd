import CLibXML2
import Foundation
import KDCore

/// How the generic XML reader finds records and their fields, as written in a
/// corpus manifest (snake_case keys):
///
/// ```yaml
/// reader: generic
/// record_path: /rss/channel/item        # or //item, or //ns:entry
/// text_paths: [title, description]      # XPath relative to the record
/// id_path: guid                         # optional
/// title_path: title                     # optional
/// label_paths: {topic: "category"}      # task name -> XPath, optional
/// namespaces: {a: "http://www.w3.org/2005/Atom"}
/// ```
///
/// `record_path` is matched while streaming, so it takes only name steps:
/// `/a/b/c` (from the root), `//c` or `b/c` (anywhere), `*` for any name,
/// `prefix:name` for a namespaced name. The other paths are full XPath 1.0
/// evaluated on each record (`@attr`, `.//p`, `string(x)`, predicates...).
/// Elements in a default namespace need a prefix declared in `namespaces`.
public struct GenericXMLConfig: Codable, Sendable, Equatable {
  public var recordPath: String
  /// One section per path; the nodes a path matches are joined in document order.
  public var textPaths: [String]
  public var idPath: String?
  public var titlePath: String?
  /// Task name → XPath; every non-empty string the path yields is a label.
  public var labelPaths: [String: String]
  /// Prefix → namespace URI, for `record_path` and the XPath expressions.
  public var namespaces: [String: String]

  enum CodingKeys: String, CodingKey {
    case recordPath = "record_path"
    case textPaths = "text_paths"
    case idPath = "id_path"
    case titlePath = "title_path"
    case labelPaths = "label_paths"
    case namespaces
  }

  public init(
    recordPath: String, textPaths: [String], idPath: String? = nil, titlePath: String? = nil,
    labelPaths: [String: String] = [:], namespaces: [String: String] = [:]
  ) {
    self.recordPath = recordPath
    self.textPaths = textPaths
    self.idPath = idPath
    self.titlePath = titlePath
    self.labelPaths = labelPaths
    self.namespaces = namespaces
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    recordPath = try c.decode(String.self, forKey: .recordPath)
    if let many = try? c.decode([String].self, forKey: .textPaths) {
      textPaths = many
    } else {
      textPaths = [try c.decode(String.self, forKey: .textPaths)]
    }
    idPath = try c.decodeIfPresent(String.self, forKey: .idPath)
    titlePath = try c.decodeIfPresent(String.self, forKey: .titlePath)
    labelPaths = try c.decodeIfPresent([String: String].self, forKey: .labelPaths) ?? [:]
    namespaces = try c.decodeIfPresent([String: String].self, forKey: .namespaces) ?? [:]
  }

  /// Builds a configuration from loosely typed manifest options (snake_case keys).
  /// - Throws: `KDError.usage` naming the missing or mistyped key.
  public init(options: [String: Any]) throws {
    func string(_ key: String) throws -> String? {
      guard let value = options[key] else { return nil }
      guard let s = value as? String else { throw KDError(.usage, "generic reader option '\(key)' must be a string", field: key) }
      return s
    }
    func map(_ key: String) throws -> [String: String] {
      guard let value = options[key] else { return [:] }
      if let m = value as? [String: String] { return m }
      if let m = value as? [String: Any] {
        var result: [String: String] = [:]
        for (k, v) in m {
          guard let s = v as? String else { throw KDError(.usage, "generic reader option '\(key).\(k)' must be a string", field: key) }
          result[k] = s
        }
        return result
      }
      throw KDError(.usage, "generic reader option '\(key)' must be a mapping", field: key)
    }
    guard let record = try string("record_path") else {
      throw KDError(.usage, "generic reader needs 'record_path' (e.g. //item)", field: "record_path")
    }
    var texts: [String] = []
    if let one = options["text_paths"] as? String {
      texts = [one]
    } else if let many = options["text_paths"] as? [Any] {
      for item in many {
        guard let s = item as? String else { throw KDError(.usage, "generic reader option 'text_paths' must list strings", field: "text_paths") }
        texts.append(s)
      }
    }
    if texts.isEmpty { throw KDError(.usage, "generic reader needs 'text_paths' (XPath relative to the record)", field: "text_paths") }
    self.init(
      recordPath: record, textPaths: texts, idPath: try string("id_path"), titlePath: try string("title_path"),
      labelPaths: try map("label_paths"), namespaces: try map("namespaces"))
  }
}

/// Reads any XML by configuration: one document per record element, with
/// text, id, title and labels picked by XPath. Streams; memory is bounded by
/// the largest record.
///
/// Sections: one per `text_paths` entry that yields text, with the path as
/// `identifier`. Labels: one task per `label_paths` key.
public final class GenericXMLReader: StructuredReader {
  public var format: String { "generic" }
  public let config: GenericXMLConfig
  private let steps: [(prefix: String?, name: String)]
  private let anchored: Bool
  private var compiled: [String: xmlXPathCompExprPtr] = [:]

  /// Validates the configuration and compiles its XPath expressions.
  /// - Throws: `KDError.usage` for a bad record path, an invalid XPath or an undeclared prefix.
  public init(config: GenericXMLConfig) throws {
    XMLSafety.install()
    self.config = config
    var path = config.recordPath.trimmingCharacters(in: .whitespaces)
    guard !path.isEmpty else { throw KDError(.usage, "record_path is empty", field: "record_path") }
    if path.hasPrefix("//") {
      anchored = false
      path.removeFirst(2)
    } else if path.hasPrefix("/") {
      anchored = true
      path.removeFirst()
    } else {
      anchored = false
    }
    var steps: [(String?, String)] = []
    for step in path.split(separator: "/", omittingEmptySubsequences: false) {
      guard !step.isEmpty, step.allSatisfy({ $0.isLetter || $0.isNumber || "_-.:*".contains($0) }) else {
        throw KDError(
          .usage, "record_path '\(config.recordPath)' must be name steps like /a/b, //b or ns:b (no predicates or axes)",
          field: "record_path")
      }
      let parts = step.split(separator: ":", maxSplits: 1).map(String.init)
      if parts.count == 2 {
        guard config.namespaces[parts[0]] != nil else {
          throw KDError(.usage, "record_path uses prefix '\(parts[0])' that 'namespaces' does not declare", field: "record_path")
        }
        steps.append((parts[0], parts[1]))
      } else {
        steps.append((nil, parts[0]))
      }
    }
    self.steps = steps
    var expressions = config.textPaths
    expressions += [config.idPath, config.titlePath].compactMap { $0 }
    expressions += config.labelPaths.values
    let sink = XMLErrorSink(minimumLevel: XML_ERR_ERROR)
    try withThreadErrors(into: sink) {
      for expression in expressions where compiled[expression] == nil {
        sink.message = nil
        guard let comp = xmlXPathCompile(expression) else {
          let reason = sink.message.map { ": \($0)" } ?? ""
          throw KDError(.usage, "invalid XPath '\(expression)'\(reason)", field: "generic reader")
        }
        compiled[expression] = comp
      }
    }
  }

  deinit { for comp in compiled.values { xmlXPathFreeCompExpr(comp) } }

  public func read(path: String, emit: (ReaderEvent) throws -> Void) throws {
    let sink = XMLErrorSink(minimumLevel: XML_ERR_ERROR)
    try withThreadErrors(into: sink) { try stream(path: path, emit: emit, errors: sink) }
  }

  private func stream(path: String, emit: (ReaderEvent) throws -> Void, errors: XMLErrorSink) throws {
    let reader = try XMLStreamReader(path: path)
    // Names (and namespaces) of the open elements, index = depth.
    var stack: [(name: String, namespace: String?)] = []
    var context: xmlXPathContextPtr?
    defer { if let context { xmlXPathFreeContext(context) } }
    var records = 0
    var more = try reader.read()
    while more {
      guard reader.isElement else { more = try reader.read(); continue }
      let depth = reader.depth
      if stack.count > depth { stack.removeLast(stack.count - depth) }
      stack.append((reader.name, reader.namespaceURI))
      guard matches(stack) else { more = try reader.read(); continue }
      let line = reader.nodeLine
      let node = try reader.expand()
      if context == nil {
        guard let doc = node.pointee.doc, let ctx = xmlXPathNewContext(doc) else {
          throw KDError(.internalError, "cannot create an XPath context", file: path, line: line)
        }
        for (prefix, uri) in config.namespaces { xmlXPathRegisterNs(ctx, prefix, uri) }
        context = ctx
      }
      guard let ctx = context else { break }
      ctx.pointee.doc = node.pointee.doc
      ctx.pointee.node = node
      try emit(.document(try document(node, context: ctx, path: path, line: line, errors: errors)))
      records += 1
      stack.removeLast()
      more = try reader.skipToNext()
    }
    if records == 0 {
      throw KDError(
        .input,
        "no element matches record_path '\(config.recordPath)' (elements in a default namespace need a prefix declared in 'namespaces')",
        file: path, field: "record_path")
    }
  }

  private func matches(_ stack: [(name: String, namespace: String?)]) -> Bool {
    if anchored && stack.count != steps.count { return false }
    guard stack.count >= steps.count else { return false }
    let offset = stack.count - steps.count
    for (i, step) in steps.enumerated() {
      let element = stack[offset + i]
      if step.name != "*" && step.name != element.name { return false }
      // Like XPath: an unprefixed step matches only elements in no namespace.
      let namespace = step.prefix.flatMap { config.namespaces[$0] }
      if element.namespace != namespace { return false }
    }
    return true
  }

  private func document(
    _ node: xmlNodePtr, context: xmlXPathContextPtr, path: String, line: Int, errors: XMLErrorSink
  ) throws -> ReaderDocument {
    var sections: [DocumentSection] = []
    for expression in config.textPaths {
      let values = try strings(expression, context: context, path: path, line: line, errors: errors)
      let text = values.joined(separator: "\n\n")
      if !text.isEmpty { sections.append(DocumentSection(identifier: expression, text: text)) }
    }
    var labels: [String: [String]] = [:]
    for (task, expression) in config.labelPaths {
      let values = try strings(expression, context: context, path: path, line: line, errors: errors)
      if !values.isEmpty { labels[task] = values }
    }
    let id = try config.idPath.flatMap { try strings($0, context: context, path: path, line: line, errors: errors).first }
    let title = try config.titlePath.flatMap { try strings($0, context: context, path: path, line: line, errors: errors).first }
    return ReaderDocument(externalID: id, title: title, sections: sections, labels: labels, metadata: ["line": String(line)])
  }

  /// The non-empty, whitespace-normalised strings an expression yields on the current record.
  private func strings(
    _ expression: String, context: xmlXPathContextPtr, path: String, line: Int, errors: XMLErrorSink
  ) throws -> [String] {
    guard let comp = compiled[expression] else { return [] }
    errors.message = nil
    guard let result = xmlXPathCompiledEval(comp, context) else {
      let reason = errors.message.map { ": \($0)" } ?? ""
      throw KDError(.input, "XPath '\(expression)' failed on this record\(reason)", file: path, line: line, field: "generic reader")
    }
    defer { xmlXPathFreeObject(result) }
    switch result.pointee.type {
    case XPATH_NODESET:
      guard let set = result.pointee.nodesetval else { return [] }
      var values: [String] = []
      for i in 0..<Int(set.pointee.nodeNr) {
        guard let node = set.pointee.nodeTab[i] else { continue }
        var builder = TextBuilder()
        switch node.pointee.type {
        case XML_ELEMENT_NODE: builder.appendText(of: node, role: Self.role)
        case XML_ATTRIBUTE_NODE, XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
          if let content = xmlNodeGetContent(node) {
            builder.append(content)
            kd_xml_free(content)
          }
        default: break
        }
        if !builder.isEmpty { values.append(builder.string) }
      }
      return values
    default:
      guard let raw = xmlXPathCastToString(result) else { return [] }
      defer { kd_xml_free(raw) }
      var builder = TextBuilder()
      builder.append(raw)
      return builder.isEmpty ? [] : [builder.string]
    }
  }

  static let blocks: Set<String> = ["p", "div", "para", "paragraph", "li", "item", "section", "sec", "title", "br", "tr"]
  static func role(_ node: xmlNodePtr) -> TextRole {
    let name = node.localName
    if name == "td" || name == "th" { return .spaced }
    return blocks.contains(name) ? .block : .inline
  }
}
