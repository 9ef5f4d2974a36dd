import ArgumentParser
import Foundation
import KDCLI
import KDCore
import KDTrain

/// Flags shared by `train` and `bench`.
struct TrainingFlags: ParsableArguments {
  @Option(name: .customLong("extra-db"), help: "Another database to read training data from (repeatable).")
  var extraDB: [String] = []
  @Option(help: "Task to train (repeatable). Default: every task with cached teacher outputs, one after another.")
  var task: [String] = []
  @Option(help: "Teacher to distil from (repeatable). Default: the task's only teacher with outputs.")
  var teacher: [String] = []
  @Option(name: .customLong("teacher-weight"), help: "Weight of each --teacher, in order (repeatable).")
  var teacherWeight: [Float] = []
  @Option(help: "Student: bow (fastText-style), mlp or transformer (a small BERT; see the transformer flags).")
  var student = "bow"
  @Option(help: "Weight of the label CE term; 1 = no-KD baseline.")
  var alpha: Float = 0.5
  @Option(help: "Distillation temperature T.")
  var temperature: Float = 2
  @Option(help: "Peak learning rate (AdamW; default 0.01, 3e-4 for a transformer).")
  var lr: Float?
  @Option(name: .customLong("weight-decay"), help: "AdamW decoupled weight decay (weights, not biases or embeddings).")
  var weightDecay: Float = 0
  @Option(help: "Warmup as a share of all steps.")
  var warmup: Double = 0.05
  @Option(help: "Decay after warmup: linear, cosine or constant.")
  var schedule = "linear"
  @Option(help: "Clip the global gradient norm to this (0: off).")
  var clip: Float = 5
  @Option(name: .customLong("batch-size"), help: "Examples per step.")
  var batchSize = 32
  @Option(help: "Epochs (an upper bound with early stopping; default 30, 6 for a transformer).")
  var epochs: Int?
  @Option(help: "Stop after this many steps (0: no limit).")
  var steps = 0
  @Option(help: "Seed of initialisation and shuffling.")
  var seed: UInt64 = 1
  @Option(name: .customLong("label-fraction"), help: "Keep training labels for this share of train examples (low-label setting).")
  var labelFraction: Double = 1
  @Option(name: .customLong("label-seed"), help: "Seed of the labeled subset (same rule as kd-teacher-cache).")
  var labelSeed: UInt64 = 0
  @Option(name: .customLong("early-stop-metric"), help: "Validation metric for model selection: macro_f1, accuracy, agreement, ece, loss.")
  var earlyStopMetric = "macro_f1"
  @Option(help: "Epochs without improvement before stopping (0: never).")
  var patience = 4
  @Option(help: "Only examples of this domain (repeatable).")
  var domain: [String] = []
  @Option(help: "Embedding width.")
  var dim = 24
  @Option(help: "Hashed bigram buckets (0: unigrams only).")
  var buckets = 16384
  @Option(help: "Hidden widths of the mlp student, comma-separated.")
  var hidden = "256"
  @Option(name: .customLong("max-tokens"), help: "Cut token sequences to this length (default 256, 128 for a transformer: its max positions).")
  var maxTokens: Int?
  @Option(name: .customLong("checkpoint-every"), help: "Save a resumable state every N steps (0: at epoch ends only).")
  var checkpointEvery = 2000
  @Option(help: "Worker threads (0: all cores). A bow or mlp student trains to the same weights for any count.")
  var threads = 0
  @OptionGroup(title: "Transformer student")
  var transformer: TransformerFlags

  func options() throws -> TrainingOptions {
    var o = TrainingOptions()
    o.student = student
    o.alpha = alpha
    o.temperature = temperature
    o.teacherWeights = teacherWeight
    let isTransformer = student == "transformer"
    o.learningRate = lr ?? (isTransformer ? 3e-4 : 0.01)
    o.weightDecay = weightDecay
    o.warmup = warmup
    guard let d = LearningRateSchedule.Decay(rawValue: schedule) else {
      throw ValidationError("--schedule must be linear, cosine or constant")
    }
    o.decay = d
    o.clip = clip
    o.batchSize = batchSize
    o.epochs = epochs ?? (isTransformer ? 6 : 30)
    o.maxSteps = steps
    o.seed = seed
    o.labelFraction = labelFraction
    o.labelSeed = labelSeed
    o.earlyStopMetric = earlyStopMetric
    o.patience = patience
    o.domains = domain
    o.dimension = dim
    o.buckets = buckets
    let widths = hidden.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !widths.isEmpty, widths.allSatisfy({ ($0 ?? 0) > 0 }) else {
      throw ValidationError("--hidden takes positive widths, e.g. 256 or 256,128")
    }
    o.hidden = widths.compactMap { $0 }
    o.maxTokens = maxTokens ?? (isTransformer ? 128 : 256)
    guard threads >= 0 else { throw ValidationError("--threads: expected 0 (all cores) or more, got \(threads)") }
    if isTransformer {
      var t = try transformer.options()
      t.threads = threads
      o.transformer = t
    }
    o.checkpointEvery = checkpointEvery
    if !teacherWeight.isEmpty && teacherWeight.count != teacher.count {
      throw ValidationError("give one --teacher-weight per --teacher")
    }
    return o
  }
}

struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a student (KD or baseline) per task; --compare trains both and prints a table.",
    discussion: """
      Reads examples, token ids and cached teacher outputs from --db (and any
      --extra-db), trains with L = α·CE + (1−α)·T²·KL, selects the best epoch
      on validation, evaluates it on test, and saves it atomically under
      <db-dir>/kd-models/<task>/<kd|baseline>/best (model.safetensors,
      config.json, tokenizer). A killed run resumes from <...>/state.

      Examples:
        kd-train --db data.sqlite
        kd-train --db data.sqlite --compare --label-fraction 0.1
        kd-train --db data.sqlite --task banking77 --student mlp --alpha 0.3 --temperature 4
        kd-train --db data.sqlite --alpha 1          # the no-KD baseline
        kd-train --db data.sqlite --task banking77 --student transformer --compare-bow
        kd-train --db data.sqlite --student transformer --layers 2 --init teacher --layer-map 2,5
        kd-train --db data.sqlite --student transformer --init random --layers 4 --hidden-size 256 --heads 4

      \(KDExit.helpText)
      """)

  @OptionGroup var common: CommonOptions
  @OptionGroup var flags: TrainingFlags
  @Flag(help: "Train the KD student and the no-KD baseline with the same settings and print teacher vs KD vs baseline.")
  var compare = false
  @Flag(name: .customLong("compare-bow"), help: "Also train the bow KD student (bow defaults) and put it in the table (e.g. beside --student transformer).")
  var compareBow = false
  @Option(help: "Name of the model in the metrics/models tables (default kd, or baseline when --alpha 1).")
  var name: String?
  @Option(help: "Checkpoint folder root (default <db-dir>/kd-models).")
  var out: String?
  @Flag(help: "Ignore a saved state and train from scratch.")
  var restart = false
  @Option(name: .customLong("lock-timeout"), help: "Seconds to wait for a running kd-ingest or kd-teacher-cache to finish writing the database (then exit 4).")
  var lockTimeout: Double = 600

  func run() throws {
    common.configureLogging()
    Interruption.shared.install()
    try runStage(tool: "kd-train") {
      var request = TrainingRequest(databases: [try StoreView.resolve(common.db)] + flags.extraDB)
      request.tasks = flags.task
      request.teachers = flags.teacher
      request.options = try flags.options()
      request.compare = compare
      request.compareBow = compareBow
      request.name = name
      request.outputRoot = out
      request.restart = restart
      request.lockTimeout = lockTimeout
      request.threads = flags.threads
      request.commandLine = currentCommandLine
      let session = TrainingSession(request: request)
      session.log = { Log.info($0) }
      session.shouldStop = { Interruption.shared.requested }
      let outcomes: [TaskOutcome]
      do {
        outcomes = try session.run()
      } catch let e as KDError where e.isInterruption {
        Log.error("kd-train: \(e.message)")
        return KDExit.interrupted
      }
      if common.json {
        printJSON(encodable: ["tasks": outcomes])
      } else {
        print(comparisonTable(outcomes.flatMap(\.rows)), terminator: "")
        print(duplicatesSummary(outcomes), terminator: "")
      }
      return KDExit.success
    }
  }
}
