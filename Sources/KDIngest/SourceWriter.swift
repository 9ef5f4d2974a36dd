import Foundation
import KDCore
import KDStore

/// One example of a document before it is stored.
struct PendingExample {
  var text: String
  var charStart: Int?
  var charEnd: Int?
  var section: String?
  /// Example-level labels as (task name, label name).
  var labels: [(String, String)]
}

/// Writes one source file's documents and examples inside the caller's
/// transaction: assigns splits, segments text, resolves label ids.
final class SourceWriter {
  let store: Store
  let sourceID: Int64
  let file: PlannedFile
  let taskID: Int64?
  let segment: String
  let fileSplit: Split?
  let validationFraction: Double
  let fractions: [Double]
  let maxExampleBytes: Int
  let windowRanges: ((String) throws -> [Range<Int>])?
  var documents = 0
  var examples = 0
  var labeled = 0
  var rowErrors: [(Int?, String)] = []
  var deletedDocuments = 0
  /// Called with each stored example's id, text and text hash (the tokenizer worker's input).
  var onExample: ((Int64, String, UInt64) -> Void)?
  /// Finds each example's first earlier copy; nil leaves `duplicate_of` to `Store.refreshDuplicates`.
  var duplicates: DuplicateIndex?
  private var labelCache: [String: Int64] = [:]
  private var taskCache: [String: Int64] = [:]
  private var multiTasks = Set<String>()

  init(store: Store, sourceID: Int64, file: PlannedFile, taskID: Int64?, segment: String, maxExampleBytes: Int,
       windowRanges: ((String) throws -> [Range<Int>])?) {
    self.store = store
    self.sourceID = sourceID
    self.file = file
    self.taskID = taskID
    self.segment = segment
    self.maxExampleBytes = maxExampleBytes
    self.windowRanges = windowRanges
    var stem = PathText.name(file.relativePath)
    if stem.hasSuffix(".gz") { stem = String(stem.dropLast(3)) }
    stem = PathText.stem(stem)
    fileSplit = Split(loose: stem)
    validationFraction = file.entry.validationFraction ?? 0.1
    fractions = file.entry.splitFractions ?? [0.8, 0.1, 0.1]
  }

  /// The split of a document: explicit, else from the file name (`train`,
  /// `test`, `dev`...; a share of a train file goes to validation), else by a
  /// stable hash of the document key. A document never straddles splits.
  func split(docKey: String, explicit: Split?) -> Split {
    if let explicit { return explicit }
    if let fileSplit {
      if fileSplit == .train && validationFraction > 0 && StableHash.unitInterval("val:" + docKey) < validationFraction {
        return .validation
      }
      return fileSplit
    }
    let u = StableHash.unitInterval(docKey)
    if u < fractions[0] { return .train }
    if u < fractions[0] + fractions[1] { return .validation }
    return .test
  }

  func taskID(named name: String) throws -> Int64 {
    if let id = taskCache[name] { return id }
    let id = try store.taskID(named: name)
    taskCache[name] = id
    return id
  }

  func labelID(task: String, name: String) throws -> Int64 {
    let key = task + "\u{1}" + name
    if let id = labelCache[key] { return id }
    let id = try store.labelID(task: try taskID(named: task), name: name)
    labelCache[key] = id
    return id
  }

  /// Marks tasks that received several labels on one example as multi-label.
  func noteMultiLabel(_ task: String) { multiTasks.insert(task) }

  /// Stores a document and its examples.
  /// - Parameters:
  ///   - text: the document text to segment (ignored when `examples` is given).
  ///   - examples: pre-segmented examples (sections, lines of a parallel file).
  func addDocument(
    externalID: String?, docKey: String, title: String?, explicitSplit: Split?, text: String?,
    presegmented: [PendingExample]? = nil, labels: [(String, String)], documentLabels: [(String, String)] = [],
    metadata: [String: String] = [:], line: Int? = nil
  ) throws {
    let split = split(docKey: docKey, explicit: explicitSplit)
    var pending: [PendingExample] = []
    if let presegmented {
      pending = presegmented
    } else if let text {
      pending = try segmentText(text).map { PendingExample(text: $0.0, charStart: $0.1, charEnd: $0.2, section: nil, labels: labels) }
    }
    var kept: [PendingExample] = []
    for p in pending {
      if p.text.utf8.count > maxExampleBytes {
        rowErrors.append((line, "example text is \(p.text.utf8.count >> 20) MB, over the \(maxExampleBytes >> 20) MB limit (--max-example-mb); use `segment: sentences` or `window`"))
        continue
      }
      if TextScan.isBlank(p.text) { continue }
      kept.append(p)
    }
    if kept.isEmpty { return }
    var metaJSON: String?
    if !metadata.isEmpty, let d = try? JSONSerialization.data(withJSONObject: metadata, options: [.sortedKeys]) {
      metaJSON = String(decoding: d, as: UTF8.self)
    }
    let docID = try store.insertDocument(
      sourceID: sourceID, position: documents, externalID: externalID, docKey: docKey, domain: file.domain,
      title: title, split: split, metadataJSON: metaJSON)
    documents += 1
    for (task, name) in documentLabels {
      try store.addDocumentLabel(document: docID, label: try labelID(task: task, name: name))
    }
    for (i, p) in kept.enumerated() {
      let hash = StableHash.fnv1a64(p.text)
      let first = try duplicates?.firstCopy(task: taskID, hash: hash, text: p.text)
      let exID = try store.insertExample(
        documentID: docID, position: i, text: p.text, textHash: hash, charStart: p.charStart, charEnd: p.charEnd,
        section: p.section, split: split, domain: file.domain, taskID: taskID, duplicateOf: first)
      if first == nil { duplicates?.added(task: taskID, hash: hash, id: exID) }
      examples += 1
      onExample?(exID, p.text, hash)
      var perTask: [String: Int] = [:]
      for (task, name) in p.labels {
        try store.addExampleLabel(example: exID, label: try labelID(task: task, name: name))
        perTask[task, default: 0] += 1
      }
      for (task, n) in perTask where n > 1 { noteMultiLabel(task) }
      if !p.labels.isEmpty { labeled += 1 }
    }
  }

  /// Splits a document's text into examples: (text, charStart, charEnd) in
  /// Unicode scalar offsets.
  func segmentText(_ text: String) throws -> [(String, Int?, Int?)] {
    switch segment {
    case "sentences":
      return SentenceSplitter.split(text).map { r in
        (String(text[r]), text.unicodeScalars.distance(from: text.startIndex, to: r.lowerBound),
         text.unicodeScalars.distance(from: text.startIndex, to: r.upperBound))
      }
    case "lines":
      return Ingestor.splitLines(text).compactMap { line in
        TextScan.isBlank(line.text) ? nil : (String(line.text), line.start, line.start + line.text.unicodeScalars.count)
      }
    case "window":
      guard let windowRanges else {
        throw KDError(.usage, "segment: window needs a tokenizer (--tokenizer)", file: file.relativePath)
      }
      let scalars = Array(text.unicodeScalars)
      return try windowRanges(text).map { r in
        var s = String.UnicodeScalarView()
        s.append(contentsOf: scalars[r])
        return (String(s), r.lowerBound, r.upperBound)
      }
    default:
      return [(text, nil, nil)]
    }
  }

  func finish() throws {
    for t in multiTasks { try store.setTaskMultiLabel(try taskID(named: t)) }
  }
}
