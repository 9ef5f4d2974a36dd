import ArgumentParser
import Foundation
import KDCLI
import KDCore
import KDIngest

@main
struct KDIngestCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kd-ingest",
    abstract: "Read a corpus folder into the kd feature store (SQLite), incrementally.",
    discussion: """
      Walks CORPUS_DIR recursively. The first folder level is the domain
      (medical, legal, financial, or any name); the second is the task, unless
      a kd-corpus.yaml manifest says otherwise. Formats: plain text, CSV/TSV
      with a header, JSON lines (any of them .gz), PubMed/MEDLINE XML, PMC
      JATS, USLM, Akoma Ntoso, SEC EDGAR HTML, and other XML by manifest.

      Re-running on an unchanged corpus adds nothing. Changed files are
      replaced atomically; a bad file is reported and the others go on.

      Examples:
        kd-ingest corpus/
        kd-ingest corpus/ --db data.sqlite --tokenizer models/all-MiniLM-L6-v2/tokenizer.json
        kd-ingest ../shared/corpora --manifest corpora/shared.kd-corpus.yaml --json
        kd-ingest corpus/ --prune --dry-run
        kd-ingest corpus/ --db data.sqlite --shard 2/4   # writes data.shard-2-of-4.sqlite

      \(KDExit.helpText)
      """)

  @Argument(help: "The corpus folder to read.")
  var corpus: String

  @OptionGroup var common: CommonOptions

  @Option(help: "A HF tokenizer.json (or BERT vocab.txt) to tokenize examples with. Default: the default teacher's tokenizer.json ($KD_TEACHER, $KD_MODELS, ./models, then the install's share/kd/models); 'none' to skip.")
  var tokenizer: String?

  @Option(help: "A corpus manifest (YAML) applied at the corpus root.")
  var manifest: String?

  @Option(help: "Default segmentation: document, lines, sentences, window, section.")
  var segment: String?

  @Option(help: "Token window size (special tokens included) for --segment window.")
  var maxTokens = 256

  @Option(help: "Tokens shared by consecutive windows.")
  var stride = 64

  @Flag(help: "Delete stored files that are gone from the corpus folder.")
  var prune = false

  @Flag(help: "List what would change and exit without writing.")
  var dryRun = false

  @Option(help: "Seconds to wait for another kd run that holds the database.")
  var lockTimeout: Double = 600

  @Option(help: "Reject an example whose text is larger than this many MB (a longer line is skipped unread).")
  var maxExampleMb = 8

  @Option(help: "Reject a plain-text document to be segmented (sentences, window) larger than this many MB.")
  var maxDocumentMb = 256

  @Flag(help: "Read files that are not valid UTF-8 as Latin-1 (with a warning) instead of failing them.")
  var latin1Fallback = false

  @Option(help: "Threads for tokenization.")
  var threads = 2

  @Option(help: ArgumentHelp(
    "Ingest shard K of N (0-based): only the files whose path hashes to K, into <db>.shard-K-of-N.sqlite. Default: from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX/KD_SHARD_COUNT; 0/1 for the whole corpus.",
    valueName: "K/N"))
  var shard: String?

  func validate() throws {
    if let s = segment, !["document", "lines", "sentences", "window", "section"].contains(s) {
      throw ValidationError("--segment must be one of document, lines, sentences, window, section")
    }
    if maxTokens < 8 { throw ValidationError("--max-tokens must be at least 8") }
    if stride < 0 || stride >= maxTokens / 2 { throw ValidationError("--stride must be in 0 ..< max-tokens/2") }
    if threads < 1 { throw ValidationError("--threads must be at least 1") }
    if maxExampleMb < 1 || maxDocumentMb < 1 { throw ValidationError("--max-example-mb and --max-document-mb must be at least 1") }
  }

  func run() throws {
    common.configureLogging()
    try runStage(tool: "kd-ingest") {
      var options = IngestOptions(corpus: corpus, database: common.db)
      if let (spec, origin) = try ShardSpec.resolve(shard), !spec.isWhole {
        options.shard = spec
        options.database = spec.storePath(for: common.db)
        Log.info("shard \(spec) (from \(origin.rawValue)): writing \(options.database)")
      }
      options.manifest = manifest
      options.prune = prune
      options.dryRun = dryRun
      options.lockTimeout = lockTimeout
      options.segment = segment
      options.maxTokens = maxTokens
      options.stride = stride
      options.maxExampleBytes = maxExampleMb << 20
      options.maxDocumentBytes = maxDocumentMb << 20
      options.latin1Fallback = latin1Fallback
      options.threads = threads
      options.log = { Log.info($0) }
      let bar = ProgressBar(label: "ingest", total: 0, unit: "B")
      options.progress = { done, total, file in
        bar.total = total
        bar.update(done, note: file)
      }
      Interruption.shared.install()
      options.shouldStop = { Interruption.shared.requested }
      let ingestor = Ingestor(options: options)
      try TokenizerSetup.configure(ingestor, path: tokenizer, log: { Log.info($0) })
      let summary = try ingestor.run()
      bar.finish()
      if common.json {
        printJSON(encodable: summary)
      } else {
        Log.info(IngestReport.text(summary))
      }
      if summary.interrupted { return KDExit.interrupted }
      return summary.filesFailed + summary.rowErrors > 0 ? KDExit.partial : KDExit.success
    }
  }
}
