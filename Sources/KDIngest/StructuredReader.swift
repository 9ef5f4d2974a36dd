import KDCore

/// One section of a structured document: an abstract part, a body section,
/// a law's section, a 10-K Item. Sections keep document order.
public struct DocumentSection: Sendable, Equatable {
  /// The heading as written (e.g. "Section 2. Definitions", "Item 1A. Risk Factors").
  public var heading: String?
  /// A normalised section label usable as a classification target
  /// (e.g. `BACKGROUND`, `METHODS`, `1A`, `7`); nil when the section has none.
  public var label: String?
  /// A hierarchical identifier (USLM `identifier`, Akoma Ntoso `eId`), when known.
  public var identifier: String?
  /// The visible text of the section, whitespace-normalised.
  public var text: String

  public init(heading: String? = nil, label: String? = nil, identifier: String? = nil, text: String) {
    self.heading = heading
    self.label = label
    self.identifier = identifier
    self.text = text
  }
}

/// A document produced by a structured reader (XML / HTML formats).
public struct ReaderDocument: Sendable, Equatable {
  /// The document's identifier in its source (PMID, PMC id, USLM docNumber, accession...).
  public var externalID: String?
  public var title: String?
  /// Sections in document order. A document with no structure has one section.
  public var sections: [DocumentSection]
  /// Document-level labels per task, e.g. `["doctype": ["pLaw"]]`,
  /// `["mesh": ["Humans", "Neoplasms"]]`, `["form": ["10-K"]]`.
  public var labels: [String: [String]]
  /// Free-form metadata (journal, year, language, jurisdiction...), stored as JSON.
  public var metadata: [String: String]
  /// An explicit split, when the source says so.
  public var split: Split?

  public init(
    externalID: String? = nil, title: String? = nil, sections: [DocumentSection],
    labels: [String: [String]] = [:], metadata: [String: String] = [:], split: Split? = nil
  ) {
    self.externalID = externalID
    self.title = title
    self.sections = sections
    self.labels = labels
    self.metadata = metadata
    self.split = split
  }
}

/// What a structured reader reports while it streams through a file.
public enum ReaderEvent: Sendable, Equatable {
  case document(ReaderDocument)
  /// The source deletes a document it published earlier (PubMed `DeleteCitation`).
  case delete(externalID: String)
}

/// A streaming reader for one structured format. Readers never load a whole
/// file into memory when the format allows streaming, never fetch external
/// entities or DTDs, and throw `KDError` (with file and line) on bad input.
public protocol StructuredReader {
  /// The format name stored in `sources.format` (e.g. `pubmed`, `jats`, `uslm`).
  var format: String { get }
  /// Streams the file at `path` (plain or gzip-compressed) and calls `emit` per event.
  func read(path: String, emit: (ReaderEvent) throws -> Void) throws
}
