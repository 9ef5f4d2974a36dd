import Foundation
import KDCore

/// How `kd-ingest` turns one corpus folder into store rows.
public struct IngestOptions {
  /// The corpus folder to walk.
  public var corpus: String
  /// The store file.
  public var database: String
  /// A HF `tokenizer.json` (or BERT `vocab.txt`): examples are tokenized with it when given.
  public var tokenizer: String?
  /// A manifest that applies at the corpus root (overrides a root `kd-corpus.yaml`).
  public var manifest: String?
  /// Delete stored sources under this corpus root whose files are gone.
  public var prune = false
  /// Only report what would change.
  public var dryRun = false
  /// Seconds to wait for another writer's lock.
  public var lockTimeout: TimeInterval = 600
  /// Default segmentation when the manifest says nothing: nil = per format.
  public var segment: String?
  /// Token windows: maximum tokens per window (specials included) and overlap.
  public var maxTokens = 256
  public var stride = 64
  /// Text of one example larger than this is rejected with an error naming its line.
  public var maxExampleBytes = 8 << 20
  /// A plain-text file read as one document to be segmented (sentences,
  /// window, lines) larger than this is rejected without being held whole.
  public var maxDocumentBytes = 256 << 20
  /// Read non-UTF-8 files as Latin-1 instead of failing them.
  public var latin1Fallback = false
  /// Threads for tokenization.
  public var threads = 2
  /// Ingest only the files of this shard (by a hash of their path); the store records it.
  public var shard: ShardSpec?
  /// Recorded in `runs.command_line`.
  public var commandLine: [String] = CommandLine.arguments
  /// Called with human-readable progress lines (stderr in the CLI).
  public var log: (String) -> Void = { _ in }
  /// Called per file with bytes processed, for a progress bar.
  public var progress: (Int64, Int64, String) -> Void = { _, _, _ in }
  /// Checked between files; when true the run stops after the current file.
  public var shouldStop: () -> Bool = { false }

  public init(corpus: String, database: String) {
    self.corpus = corpus
    self.database = database
  }
}

/// What a run did, for the log, `--json` and `runs.counts_json`.
public struct IngestSummary: Codable, Equatable {
  public struct FileError: Codable, Equatable {
    public var file: String
    public var line: Int?
    public var message: String
  }
  public struct Totals: Codable, Equatable {
    public var documents = 0
    public var examples = 0
    public var labeled = 0
    public var tokens = 0
  }

  public var runID: Int64 = 0
  public var database = ""
  public var corpus = ""
  public var dryRun = false
  public var filesSeen = 0
  /// `K/N` when this run ingested one shard of the corpus.
  public var shard: String?
  /// Files of the corpus that belong to other shards (not read by this run).
  public var filesInOtherShards = 0
  public var filesNew = 0
  public var filesChanged = 0
  public var filesUnchanged = 0
  public var filesFailed = 0
  public var filesSkipped = 0
  public var filesPruned = 0
  public var documentsAdded = 0
  public var documentsDeleted = 0
  public var examplesAdded = 0
  public var rowErrors = 0
  public var examplesTokenized = 0
  public var tokenizer: String?
  public var duplicates = 0
  public var duplicatesAcrossSplits = 0
  public var examplesOverMaxLength = 0
  public var bytesRead: Int64 = 0
  public var seconds = 0.0
  /// Seconds from the start of the run to the end of each phase: `file_pass`
  /// (files read and stored), `duplicates`, `token_ids` (the last ids
  /// written), `totals`. For tuning; not compared between runs.
  public var phaseSeconds: [String: Double] = [:]
  public var interrupted = false
  public var errors: [FileError] = []
  public var skipped: [String] = []
  /// Totals in the store for this corpus root: domain → split → counts.
  public var totals: [String: [String: Totals]] = [:]
  /// Would-be changes in a dry run: "new", "changed", "pruned" → paths.
  public var plan: [String: [String]] = [:]

  public var changedAnything: Bool { filesNew + filesChanged + filesPruned + examplesTokenized + documentsDeleted > 0 }
}
