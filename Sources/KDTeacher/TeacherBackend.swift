import Foundation
import KDCore
import KDStore

/// One example handed to a teacher.
public struct TeacherInput: Sendable, Equatable {
  public var exampleID: Int64
  public var text: String
  /// Token ids with the teacher's tokenizer (specials included), when the teacher uses one.
  public var ids: [Int32]?

  public init(exampleID: Int64, text: String, ids: [Int32]?) {
    self.exampleID = exampleID
    self.text = text
    self.ids = ids
  }
}

/// A teacher's answer for one example.
public enum TeacherResult: Sendable, Equatable {
  /// Raw logits (one per output) and, optionally, the pooled embedding.
  case output(logits: [Float], embedding: [Float]?)
  /// The teacher could not score this example (the message says why); it is skipped, not cached.
  case failed(String)
}

/// The tokenizer a teacher reads token ids from, as registered in `tokenizers`.
public struct TeacherTokenizerInfo: Sendable {
  public var name: String
  /// `tokenizers.content_hash`: the same hash kd-ingest records.
  public var contentHash: String
  public var vocabularySize: Int
  /// The tokenizer file's bytes (stored when the tokenizer is registered by `--retokenize`).
  public var fileBytes: [UInt8]

  public init(name: String, contentHash: String, vocabularySize: Int, fileBytes: [UInt8]) {
    self.name = name
    self.contentHash = contentHash
    self.vocabularySize = vocabularySize
    self.fileBytes = fileBytes
  }
}

/// Everything recorded in `teachers` about a prepared teacher, for one task.
public struct TeacherDescription: Sendable {
  /// `bert` or `external`.
  public var kind: String
  public var checkpointHash: String?
  /// Nil when the teacher reads text only (an external teacher without `tokenizer_hash`).
  public var tokenizer: TeacherTokenizerInfo?
  /// Model configuration as JSON (recorded verbatim in `teachers.config_json`).
  public var configJSON: String
  /// Head description: own / fitted (strength, validation score, label fraction) / external.
  public var headJSON: String?
  /// Fitted head weights (safetensors bytes), when fitted.
  public var headBlob: [UInt8]?
  /// Number of logits per example.
  public var numOutputs: Int
  /// Size of the pooled embedding the teacher can return, if any.
  public var embeddingDim: Int?
  /// Longest token sequence (specials included) the teacher accepts; longer
  /// examples are split into overlapping windows whose outputs are averaged.
  /// Nil: no limit (the teacher handles length itself).
  public var maxTokens: Int?

  public init(kind: String, checkpointHash: String?, tokenizer: TeacherTokenizerInfo?, configJSON: String,
              headJSON: String?, headBlob: [UInt8]?, numOutputs: Int, embeddingDim: Int?, maxTokens: Int?) {
    self.kind = kind; self.checkpointHash = checkpointHash; self.tokenizer = tokenizer; self.configJSON = configJSON
    self.headJSON = headJSON; self.headBlob = headBlob; self.numOutputs = numOutputs
    self.embeddingDim = embeddingDim; self.maxTokens = maxTokens
  }
}

/// Options that shape how a teacher prepares its head for a task.
public struct HeadOptions: Sendable, Equatable {
  /// Fit on this fraction of the labeled training examples (1 = all).
  public var labelFraction: Double = 1
  /// Seed of the deterministic subset chosen by `labelFraction`.
  public var labelSeed: UInt64 = 0
  /// L2 strengths tried; the best on validation wins. Empty = the fitter's defaults.
  public var strengths: [Float] = []
  /// Ignore the checkpoint's own classifier and fit a head on pooled embeddings.
  public var forceFit = false
  /// Weigh classes inversely to their frequency when fitting (default), so a
  /// rare class (e.g. unfair clauses) is not ignored; chosen on macro-F1.
  public var balanced = true

  public init() {}
}

/// What a teacher needs from the cache engine while preparing (fitting a head).
public protocol TeacherPreparationContext: AnyObject {
  var store: Store { get }
  var headOptions: HeadOptions { get }
  /// The teacher row this run will extend, when it exists already (its head is kept:
  /// outputs under one name all come from one head; `--replace` refits).
  var existingTeacher: TeacherRecord? { get }
  /// Pooled embeddings (row-major, `dim` per example) of the given examples,
  /// computed with the teacher's tokenizer and windowing like the cached outputs.
  func pooledEmbeddings(of exampleIDs: [Int64]) throws -> [Float]
  /// The same, saved as they are computed under `cacheKey` (the encoder's identity) so that a
  /// killed run resumes them (`EmbeddingSpill`).
  func pooledEmbeddings(of exampleIDs: [Int64], cacheKey: String) throws -> [Float]
  /// Embeddings saved under `cacheKey` by an earlier, killed run (empty when none).
  func savedEmbeddings(cacheKey: String) -> [Int64: [Float]]
  /// Writes a progress line.
  func log(_ message: String)
}

extension TeacherPreparationContext {
  public func pooledEmbeddings(of exampleIDs: [Int64], cacheKey: String) throws -> [Float] {
    try pooledEmbeddings(of: exampleIDs)
  }
  public func savedEmbeddings(cacheKey: String) -> [Int64: [Float]] { [:] }
}

/// A source of teacher outputs: the native encoder or an external command.
public protocol TeacherBackend: AnyObject {
  /// Default teacher name (directory base name, or the external teacher's own name).
  var defaultName: String { get }
  /// The tokenizer whose ids the teacher reads; nil = text only. Known before `prepare`
  /// for native teachers; an external teacher names it in its handshake reply.
  var tokenizerInfo: TeacherTokenizerInfo? { get }
  /// Longest token sequence accepted (specials included); nil = no limit.
  var maxTokens: Int? { get }

  /// Prepares the teacher for a task (maps or fits its head) and describes it.
  /// - Throws: `KDError` when the teacher cannot serve this task (label mismatch, no labeled data).
  func prepare(task: TaskRecord, context: TeacherPreparationContext) throws -> TeacherDescription

  /// Scores a batch; one result per input, in order. Every input's `ids`
  /// fits `maxTokens` (the engine windows longer examples).
  /// - Parameter wantEmbeddings: whether pooled embeddings are requested.
  /// - Throws: `KDError` for failures that make further results untrustworthy
  ///   (protocol violations, a dead process, NaN); per-example problems are `.failed`.
  func compute(_ batch: [TeacherInput], wantEmbeddings: Bool) throws -> [TeacherResult]

  /// Pooled embeddings only (for head fitting); one row of `embeddingDim` per input.
  func embed(_ batch: [TeacherInput]) throws -> [[Float]]

  /// Tokenizes a text with the teacher's tokenizer (for `--retokenize`).
  func tokenize(_ text: String) throws -> [Int32]

  /// Releases the teacher (ends an external process).
  func close() throws
}
