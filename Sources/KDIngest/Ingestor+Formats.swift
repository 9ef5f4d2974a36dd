import Foundation
import KDCore
import KDStore

extension Ingestor {
  /// Reads one file into the writer. Returns the format actually used
  /// (auto-detected XML formats resolve to their reader's name).
  func read(_ file: PlannedFile, into w: SourceWriter, summary: inout IngestSummary) throws -> String {
    switch file.format {
    case "text", "lines", "csv", "tsv", "jsonl":
      let text = try loadText(file)
      switch file.format {
      case "csv": try readDelimited(text, file: file, delimiter: file.entry.delimiter?.utf8.first ?? UInt8(ascii: ","), into: w)
      case "tsv": try readDelimited(text, file: file, delimiter: UInt8(ascii: "\t"), into: w)
      case "jsonl": try readJSONLines(text, file: file, into: w)
      case "lines": try readLines(text, file: file, into: w)
      default: try readPlainText(text, file: file, into: w)
      }
      return file.format
    default:
      return try readStructured(file, into: w)
    }
  }

  /// Whole-file text: gunzipped, BOM dropped, strict UTF-8 (or Latin-1 when configured).
  func loadText(_ file: PlannedFile) throws -> String {
    var bytes = try FileBytes.read(path: file.absolutePath, display: file.relativePath)
    if bytes.isEmpty { throw KDError(.input, "empty file", file: file.relativePath) }
    _ = FileBytes.dropBOM(&bytes)
    if FileBytes.looksBinary(bytes) {
      throw KDError(.input, "binary file (NUL bytes); not text", file: file.relativePath)
    }
    let latin1 = file.entry.encoding.map { ["latin-1", "latin1", "iso-8859-1", "cp1252"].contains($0.lowercased()) } ?? false
    do {
      return try FileBytes.decodeText(bytes, display: file.relativePath, latin1: latin1)
    } catch let e as KDError where options.latin1Fallback {
      options.log("warning: \(e.description); reading it as Latin-1 (--latin1-fallback)")
      return try FileBytes.decodeText(bytes, display: file.relativePath, latin1: true)
    }
  }

  func labelMapper(_ file: PlannedFile, plural: Bool) throws -> LabelMapper {
    try LabelMapper(entry: file.entry, labelColumnIsPlural: plural,
                    baseFolder: PathText.parent(file.absolutePath))
  }

  // MARK: Plain text

  func readPlainText(_ text: String, file: PlannedFile, into w: SourceWriter) throws {
    let name = PathText.stem(file.relativePath)
    let firstLine = TextScan.trimmed(text.prefix(while: { $0 != "\n" }))
    let mapper = try labelMapper(file, plural: false)
    let labels = file.task.map { t in mapper.labels([]).map { (t, $0) } } ?? []
    try w.addDocument(externalID: name, docKey: file.relativePath, title: firstLine.isEmpty ? nil : String(firstLine.prefix(200)),
                      explicitSplit: nil, text: text, labels: labels)
  }

  /// One example per non-empty line; labels optionally from a parallel file
  /// (line i of the labels file tags line i of this file).
  func readLines(_ text: String, file: PlannedFile, into w: SourceWriter) throws {
    let lines = Self.splitLines(text)
    var labelLines: [Substring]?
    if let lf = file.labelsFromPath {
      let full = PathText.join(rootFolder(of: file), lf)
      let bytes = try FileBytes.read(path: full, display: lf)
      let t = try FileBytes.decodeText(bytes, display: lf, latin1: false)
      let ls = Self.splitLines(t).map(\.text)
      guard ls.count == lines.count else {
        throw KDError(.input, "labels file \(lf) has \(ls.count) lines but the text file has \(lines.count); they must pair line by line",
                      file: file.relativePath)
      }
      labelLines = ls
    }
    let mapper = try labelMapper(file, plural: labelLines != nil)
    let task = file.task
    var examples: [PendingExample] = []
    for (i, line) in lines.enumerated() {
      if TextScan.isBlank(line.text) { continue }
      var labels: [(String, String)] = []
      if let task {
        let raw = labelLines.map { [String($0[i])] } ?? []
        labels = mapper.labels(raw).map { (task, $0) }
      }
      let t = String(line.text)
      examples.append(PendingExample(text: t, charStart: line.start, charEnd: line.start + t.unicodeScalars.count,
                                     section: nil, labels: labels))
    }
    let name = PathText.stem(file.relativePath)
    try w.addDocument(externalID: name, docKey: file.relativePath, title: nil, explicitSplit: nil, text: nil,
                      presegmented: examples, labels: [])
  }

  /// Lines of a text (LF or CRLF), with their Unicode-scalar start offsets;
  /// a final newline does not open an empty last line.
  static func splitLines(_ text: String) -> [(text: Substring, start: Int)] {
    var out: [(Substring, Int)] = []
    let u = text.unicodeScalars
    var lineStart = u.startIndex
    var offset = 0, startOffset = 0
    var i = u.startIndex
    while i < u.endIndex {
      if u[i] == "\n" {
        var end = i
        if end > lineStart, u[u.index(before: end)] == "\r" { end = u.index(before: end) }
        out.append((text[lineStart..<end], startOffset))
        i = u.index(after: i)
        offset += 1
        lineStart = i
        startOffset = offset
        continue
      }
      i = u.index(after: i)
      offset += 1
    }
    if lineStart < u.endIndex { out.append((text[lineStart..<u.endIndex], startOffset)) }
    return out
  }

  func rootFolder(of file: PlannedFile) -> String {
    var root = file.absolutePath
    for _ in file.relativePath.split(separator: "/") { root = PathText.parent(root) }
    return root
  }

  // MARK: CSV / TSV

  func readDelimited(_ text: String, file: PlannedFile, delimiter: UInt8, into w: SourceWriter) throws {
    let e = file.entry
    var header: [String]?
    var cols: (text: Int, label: Int?, id: Int?, split: Int?, title: Int?) = (0, nil, nil, nil, nil)
    var plural = false
    var mapper: LabelMapper?
    var rowIndex = 0
    var fatal: KDError?
    try CSVReader(delimiter: delimiter).parse(Array(text.utf8), onRecord: { rec in
      if fatal != nil { return }
      guard let h = header else {
        let names = rec.fields.map { TextScan.trimmed($0) }
        header = names
        func find(_ wanted: String?, _ defaults: [String]) throws -> Int? {
          if let wanted {
            guard let i = names.firstIndex(of: wanted) else {
              throw KDError(.input, "column '\(wanted)' (from the manifest) is not in the header [\(names.joined(separator: ", "))]",
                            file: file.relativePath, line: rec.line)
            }
            return i
          }
          for d in defaults { if let i = names.firstIndex(where: { $0.lowercased() == d }) { return i } }
          return nil
        }
        guard let t = try find(e.text, ["text"]) else {
          fatal = KDError(.input, "no text column: header is [\(names.joined(separator: ", "))]; name it `text` or map it with `text:` in a kd-corpus.yaml manifest",
                          file: file.relativePath, line: rec.line)
          return
        }
        cols.text = t
        cols.label = try find(e.label, ["label", "labels"])
        if let l = cols.label, e.label == nil, names[l].lowercased() == "labels" { plural = true }
        cols.id = try find(e.id, ["id"])
        cols.split = try find(e.split, ["split"])
        cols.title = try find(e.title, ["title"])
        mapper = try labelMapper(file, plural: plural)
        return
      }
      rowIndex += 1
      guard rec.fields.count == h.count else {
        w.rowErrors.append((rec.line, "row has \(rec.fields.count) fields, the header has \(h.count)"))
        return
      }
      let text = rec.fields[cols.text]
      if TextScan.isBlank(text) {
        w.rowErrors.append((rec.line, "empty text"))
        return
      }
      var explicit: Split?
      if let sc = cols.split, !rec.fields[sc].isEmpty {
        guard let s = Split(loose: rec.fields[sc]) else {
          w.rowErrors.append((rec.line, "unknown split '\(rec.fields[sc])' (train, validation or test)"))
          return
        }
        explicit = s
      }
      var labels: [(String, String)] = []
      if let task = file.task, let mapper {
        let raw = cols.label.map { [rec.fields[$0]] } ?? []
        labels = mapper.labels(raw).map { (task, $0) }
        if labels.count > 1 && !mapper.multiLabel {
          w.rowErrors.append((rec.line, "several labels (\(labels.map(\.1).joined(separator: ", "))) in a single-label column; set `multi_label: true`"))
          return
        }
      }
      let id = cols.id.map { rec.fields[$0] }.flatMap { $0.isEmpty ? nil : $0 }
      let key = id.map { "\(file.relativePath)#\($0)" } ?? "text:" + StableHash.hex(StableHash.fnv1a64(text))
      try w.addDocument(externalID: id ?? "row \(rowIndex)", docKey: key, title: cols.title.map { rec.fields[$0] },
                        explicitSplit: explicit, text: text, labels: labels, line: rec.line)
    }, onError: { line, msg in
      w.rowErrors.append((line, msg))
    })
    if let fatal { throw fatal }
    if header == nil { throw KDError(.input, "no header row", file: file.relativePath) }
  }

  // MARK: JSON lines

  func readJSONLines(_ text: String, file: PlannedFile, into w: SourceWriter) throws {
    let e = file.entry
    let textKey = e.text ?? "text", idKey = e.id ?? "id", splitKey = e.split ?? "split", titleKey = e.title ?? "title"
    var lineNo = 0
    var mappers: [Bool: LabelMapper] = [:]
    for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
      lineNo += 1
      let line = TextScan.trimmed(rawLine)
      if line.isEmpty { continue }
      let obj: Any
      do {
        obj = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
      } catch {
        w.rowErrors.append((lineNo, "invalid JSON: \((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)")"))
        continue
      }
      guard let dict = obj as? [String: Any] else {
        w.rowErrors.append((lineNo, "expected a JSON object per line"))
        continue
      }
      guard let text = dict[textKey] as? String else {
        w.rowErrors.append((lineNo, dict[textKey] == nil ? "no '\(textKey)' field" : "'\(textKey)' is not a string"))
        continue
      }
      if TextScan.isBlank(text) {
        w.rowErrors.append((lineNo, "empty text"))
        continue
      }
      var labels: [(String, String)] = []
      if let task = file.task {
        var raw: [String] = []
        var plural = false
        let labelValue = e.label.map { dict[$0] } ?? (dict["label"] ?? dict["labels"])
        if e.label == nil && dict["label"] == nil && dict["labels"] != nil { plural = true }
        switch labelValue {
        case let s as String: raw = [s]
        case let n as NSNumber: raw = [n.stringValue]
        case let a as [Any]:
          plural = true
          raw = a.compactMap { ($0 as? String) ?? ($0 as? NSNumber)?.stringValue }
        default: raw = []
        }
        if mappers[plural] == nil { mappers[plural] = try labelMapper(file, plural: plural) }
        guard let mapper = mappers[plural] else { continue }
        if let a = labelValue as? [Any], !a.isEmpty {
          // An array is already a list of tags: map each without splitting.
          labels = a.compactMap { ($0 as? String) ?? ($0 as? NSNumber)?.stringValue }
            .flatMap { mapper.labels([$0]) }.map { (task, $0) }
        } else {
          labels = mapper.labels(raw).map { (task, $0) }
        }
        if labels.count > 1 && !mapper.multiLabel {
          w.rowErrors.append((lineNo, "several labels in a single-label field; set `multi_label: true`"))
          continue
        }
      }
      var explicit: Split?
      if let s = dict[splitKey] as? String, !s.isEmpty {
        guard let sp = Split(loose: s) else {
          w.rowErrors.append((lineNo, "unknown split '\(s)' (train, validation or test)"))
          continue
        }
        explicit = sp
      }
      let id = (dict[idKey] as? String) ?? (dict[idKey] as? NSNumber)?.stringValue
      let key = id.map { "\(file.relativePath)#\($0)" } ?? "text:" + StableHash.hex(StableHash.fnv1a64(text))
      try w.addDocument(externalID: id ?? "line \(lineNo)", docKey: key, title: dict[titleKey] as? String,
                        explicitSplit: explicit, text: text, labels: labels, line: lineNo)
    }
  }

  // MARK: Structured (XML / HTML)

  func readStructured(_ file: PlannedFile, into w: SourceWriter) throws -> String {
    let reader: StructuredReader
    if file.format == "xml-auto" || file.format == "edgar" && file.entry.format == nil {
      let prefix = try sniffPrefix(file)
      guard let r = ReaderRegistry.detect(path: file.absolutePath, prefix: prefix) else {
        if file.format == "edgar" {
          throw KDError(.input, "HTML file is not a recognised SEC EDGAR filing; set `format` in a manifest", file: file.relativePath)
        }
        throw KDError(.input, "unknown XML format (root element not recognised); configure `format: xml` with an `xml:` block in a kd-corpus.yaml manifest",
                      file: file.relativePath)
      }
      reader = r
    } else {
      reader = try structuredReader(named: file.format, settings: file.entry.xml, file: file)
    }
    let segment = w.segment
    let sectionTask = file.task
    var position = 0
    try reader.read(path: file.absolutePath) { event in
      switch event {
      case .delete(let externalID):
        w.deletedDocuments += try w.store.deleteDocuments(externalID: externalID, domain: file.domain, exceptSource: w.sourceID)
      case .document(let doc):
        position += 1
        var docLabels: [(String, String)] = []
        for (task, names) in doc.labels.sorted(by: { $0.key < $1.key }) {
          for n in names { docLabels.append((task, n)) }
        }
        let key = doc.externalID.map { "\(reader.format):\($0)" } ?? "\(file.relativePath)#\(position)"
        if segment == "section" {
          var examples: [PendingExample] = []
          for s in doc.sections where !s.text.isEmpty {
            var labels: [(String, String)] = []
            if let l = s.label, let t = sectionTask { labels.append((t, l)) }
            examples.append(PendingExample(text: s.text, charStart: nil, charEnd: nil,
                                           section: s.identifier ?? s.heading, labels: labels))
          }
          if examples.isEmpty, let title = doc.title, !title.isEmpty {
            examples.append(PendingExample(text: title, charStart: nil, charEnd: nil, section: "title", labels: []))
          }
          try w.addDocument(externalID: doc.externalID, docKey: key, title: doc.title, explicitSplit: doc.split,
                            text: nil, presegmented: examples, labels: [], documentLabels: docLabels,
                            metadata: doc.metadata)
        } else {
          var parts: [String] = []
          if let t = doc.title, !t.isEmpty { parts.append(t) }
          parts.append(contentsOf: doc.sections.map(\.text).filter { !$0.isEmpty })
          try w.addDocument(externalID: doc.externalID, docKey: key, title: doc.title, explicitSplit: doc.split,
                            text: parts.joined(separator: "\n\n"), labels: docLabels, documentLabels: docLabels,
                            metadata: doc.metadata)
        }
      }
    }
    return reader.format
  }

  /// The reader a manifest names; `xml` builds the generic XPath reader from the entry's `xml:` block.
  func structuredReader(named name: String, settings: GenericXMLConfig?, file: PlannedFile) throws -> StructuredReader {
    if name == "xml" || name == "generic" {
      guard let settings else {
        throw KDError(.input, "format xml needs an `xml:` block in the manifest", file: file.relativePath)
      }
      return try GenericXMLReader(config: settings)
    }
    return try ReaderRegistry.reader(named: name, options: [:])
  }

  /// The first bytes of a file as stored: `ReaderRegistry.detect` inflates
  /// a gzip prefix itself.
  func sniffPrefix(_ file: PlannedFile) throws -> [UInt8] {
    guard let fh = FileHandle(forReadingAtPath: file.absolutePath) else {
      throw KDError(.io, "cannot read: permission denied or not a regular file", file: file.relativePath)
    }
    defer { try? fh.close() }
    return [UInt8]((try? fh.read(upToCount: 1 << 16)) ?? Data())
  }
}
