import Foundation
import KDCore
import KDStore

extension Ingestor {
  /// Reads one file into the writer. Returns the format actually used
  /// (auto-detected XML formats resolve to their reader's name).
  func read(_ file: PlannedFile, into w: SourceWriter, summary: inout IngestSummary) throws -> String {
    switch file.format {
    case "text", "lines", "csv", "tsv", "jsonl":
      let stream = try TextLineStream(path: file.absolutePath, display: file.relativePath, latin1: try readsAsLatin1(file))
      switch file.format {
      case "csv": try readDelimited(stream, file: file, delimiter: file.entry.delimiter?.utf8.first ?? UInt8(ascii: ","), into: w)
      case "tsv": try readDelimited(stream, file: file, delimiter: UInt8(ascii: "\t"), into: w)
      case "jsonl": try readJSONLines(stream, file: file, into: w)
      case "lines": try readLines(stream, file: file, into: w)
      default: try readPlainText(stream, file: file, into: w)
      }
      return file.format
    default:
      return try readStructured(file, into: w)
    }
  }

  /// The most bytes one CSV/TSV record or JSON line may have: room for an
  /// example of `--max-example-mb` with its quoting or escapes and other fields.
  var recordLimit: Int { options.maxExampleBytes * 2 + (1 << 20) }

  /// True when a text file is read as Latin-1: `encoding: latin-1` in the
  /// manifest, or `--latin1-fallback` and a line that is not valid UTF-8 (one
  /// streaming pass decides, so that every line of a file is decoded alike).
  func readsAsLatin1(_ file: PlannedFile) throws -> Bool {
    let configured = file.entry.encoding.map { ["latin-1", "latin1", "iso-8859-1", "cp1252"].contains($0.lowercased()) } ?? false
    if configured || !options.latin1Fallback { return configured }
    let check = try TextLineStream(path: file.absolutePath, display: file.relativePath, latin1: false)
    do {
      try check.forEachLine(limit: recordLimit) { line in
        if line.overLimit == nil { try check.validate(line.bytes, line: line.number, byteOffset: line.byteOffset) }
      }
      return false
    } catch let e as KDError where e.message.hasPrefix("invalid UTF-8") {
      options.log("warning: \(e.description); reading it as Latin-1 (--latin1-fallback)")
      return true
    }
  }

  func labelMapper(_ file: PlannedFile, plural: Bool) throws -> LabelMapper {
    try LabelMapper(entry: file.entry, labelColumnIsPlural: plural,
                    baseFolder: PathText.parent(file.absolutePath))
  }

  // MARK: Plain text

  /// The whole file as one document. Read up to `--max-example-mb` when the
  /// document is the example, else up to `--max-document-mb`: a larger file
  /// is reported without being held in memory.
  func readPlainText(_ stream: TextLineStream, file: PlannedFile, into w: SourceWriter) throws {
    let asOneExample = w.segment == "document"
    let limit = asOneExample ? options.maxExampleBytes : max(options.maxDocumentBytes, options.maxExampleBytes)
    let (read, count) = try stream.readAll(limit: limit)
    guard let bytes = read else {
      if asOneExample {
        w.rowErrors.append((nil, "example text is over the \(limit >> 20) MB limit (--max-example-mb; \(count >> 20)+ MB read); use `segment: sentences` or `window`"))
        return
      }
      throw KDError(.input, "document is over the \(limit >> 20) MB limit (--max-document-mb; \(count >> 20)+ MB read)", file: file.relativePath)
    }
    let text = try FileBytes.decodeText(bytes, display: file.relativePath, latin1: stream.latin1)
    let name = PathText.stem(file.relativePath)
    let firstLine = TextScan.trimmed(text.prefix(while: { !$0.isNewline }))
    let mapper = try labelMapper(file, plural: false)
    let labels = file.task.map { t in mapper.labels([]).map { (t, $0) } } ?? []
    try w.addDocument(externalID: name, docKey: file.relativePath, title: firstLine.isEmpty ? nil : String(firstLine.prefix(200)),
                      explicitSplit: nil, text: text, labels: labels)
  }

  /// One example per non-empty line; labels optionally from a parallel file
  /// (line i of the labels file tags line i of this file). A line over
  /// `--max-example-mb` is a row error, skipped unread.
  func readLines(_ stream: TextLineStream, file: PlannedFile, into w: SourceWriter) throws {
    let limit = options.maxExampleBytes
    var pending: [(line: Int, example: PendingExample)] = []
    var lineCount = 0
    try stream.forEachLine(limit: limit) { line in
      lineCount = line.number
      if let over = line.overLimit {
        w.rowErrors.append((line.number, "line is \(over >> 20) MB, over the \(limit >> 20) MB limit (--max-example-mb); skipped unread"))
        return
      }
      let t = try stream.decode(line.bytes, line: line.number, byteOffset: line.byteOffset)
      if TextScan.isBlank(t) { return }
      pending.append((line.number, PendingExample(text: t, charStart: line.scalarOffset, charEnd: line.scalarOffset + t.unicodeScalars.count,
                                                  section: nil, labels: [])))
    }
    var labelLines: [String]?
    if let lf = file.labelsFromPath {
      let full = PathText.join(rootFolder(of: file), lf)
      let labels = try TextLineStream(path: full, display: lf, latin1: false)
      var ls: [String] = []
      try labels.forEachLine(limit: limit) { line in
        guard line.overLimit == nil else {
          throw KDError(.input, "line is over the \(limit >> 20) MB limit (--max-example-mb)", file: lf, line: line.number)
        }
        ls.append(try labels.decode(line.bytes, line: line.number, byteOffset: line.byteOffset))
      }
      guard ls.count == lineCount else {
        throw KDError(.input, "labels file \(lf) has \(ls.count) lines but the text file has \(lineCount); they must pair line by line",
                      file: file.relativePath)
      }
      labelLines = ls
    }
    let mapper = try labelMapper(file, plural: labelLines != nil)
    var examples: [PendingExample] = []
    examples.reserveCapacity(pending.count)
    for (number, p) in pending {
      var e = p
      if let task = file.task {
        let raw = labelLines.map { [$0[number - 1]] } ?? []
        e.labels = mapper.labels(raw).map { (task, $0) }
      }
      examples.append(e)
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

  func readDelimited(_ stream: TextLineStream, file: PlannedFile, delimiter: UInt8, into w: SourceWriter) throws {
    let e = file.entry
    var header: [String]?
    var cols: (text: Int, label: Int?, id: Int?, split: Int?, title: Int?) = (0, nil, nil, nil, nil)
    var plural = false
    var mapper: LabelMapper?
    var rowIndex = 0
    var fatal: KDError?
    try CSVReader(delimiter: delimiter).parse(stream: stream, limit: recordLimit, onRecord: { rec in
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

  func readJSONLines(_ stream: TextLineStream, file: PlannedFile, into w: SourceWriter) throws {
    let e = file.entry
    let textKey = e.text ?? "text", idKey = e.id ?? "id", splitKey = e.split ?? "split", titleKey = e.title ?? "title"
    var mappers: [Bool: LabelMapper] = [:]
    let limit = recordLimit
    // Lines end at LF with an optional CR (CRLF files keep every row); a line
    // over the record limit is a row error, skipped unread.
    try stream.forEachLine(limit: limit) { rawLine in
      let lineNo = rawLine.number
      if let over = rawLine.overLimit {
        w.rowErrors.append((lineNo, "line is \(over >> 20) MB, over the \(limit >> 20) MB limit for one JSON line (2 × --max-example-mb + 1 MB); skipped unread"))
        return
      }
      let line = TextScan.trimmed(try stream.decode(rawLine.bytes, line: lineNo, byteOffset: rawLine.byteOffset))
      if line.isEmpty { return }
      let obj: Any
      do {
        obj = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
      } catch {
        w.rowErrors.append((lineNo, "invalid JSON: \((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)")"))
        return
      }
      guard let dict = obj as? [String: Any] else {
        w.rowErrors.append((lineNo, "expected a JSON object per line"))
        return
      }
      guard let text = dict[textKey] as? String else {
        w.rowErrors.append((lineNo, dict[textKey] == nil ? "no '\(textKey)' field" : "'\(textKey)' is not a string"))
        return
      }
      if TextScan.isBlank(text) {
        w.rowErrors.append((lineNo, "empty text"))
        return
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
        guard let mapper = mappers[plural] else { return }
        if let a = labelValue as? [Any], !a.isEmpty {
          // An array is already a list of tags: map each without splitting.
          labels = a.compactMap { ($0 as? String) ?? ($0 as? NSNumber)?.stringValue }
            .flatMap { mapper.labels([$0]) }.map { (task, $0) }
        } else {
          labels = mapper.labels(raw).map { (task, $0) }
        }
        if labels.count > 1 && !mapper.multiLabel {
          w.rowErrors.append((lineNo, "several labels in a single-label field; set `multi_label: true`"))
          return
        }
      }
      var explicit: Split?
      if let s = dict[splitKey] as? String, !s.isEmpty {
        guard let sp = Split(loose: s) else {
          w.rowErrors.append((lineNo, "unknown split '\(s)' (train, validation or test)"))
          return
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
    let headings = headingPlacement(file, format: reader.format)
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
            let placement = headings.resolved(sectionLabelIsExampleLabel: !labels.isEmpty)
            examples.append(PendingExample(text: HeadingPlacement.text(s, placement: placement), charStart: nil, charEnd: nil,
                                           section: HeadingPlacement.sectionField(s, placement: placement), labels: labels))
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
          let placement = headings.resolved(sectionLabelIsExampleLabel: false)
          parts.append(contentsOf: doc.sections.filter { !$0.text.isEmpty }.map { HeadingPlacement.text($0, placement: placement) })
          try w.addDocument(externalID: doc.externalID, docKey: key, title: doc.title, explicitSplit: doc.split,
                            text: parts.joined(separator: "\n\n"), labels: docLabels, documentLabels: docLabels,
                            metadata: doc.metadata)
        }
      }
    }
    return reader.format
  }

  /// The heading placement of a file read by a `format` reader: the
  /// manifest's `headings:` for USLM, Akoma Ntoso and JATS, `none` for the others.
  func headingPlacement(_ file: PlannedFile, format: String) -> HeadingPlacement {
    guard HeadingPlacement.formats.contains(format) else { return .none }
    return file.entry.headings.flatMap(HeadingPlacement.init(rawValue:)) ?? .auto
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

  /// The decompressed start of a file, long enough to get past its prolog
  /// (a ~200 KB internal DTD subset included): see `ReaderRegistry.sniffPrefix`.
  func sniffPrefix(_ file: PlannedFile) throws -> [UInt8] {
    do {
      return try ReaderRegistry.sniffPrefix(path: file.absolutePath)
    } catch var e as KDError {
      e.file = file.relativePath
      throw e
    }
  }
}
