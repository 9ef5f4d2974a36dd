import ArgumentParser
import Foundation
import KDCLI
import KDCore
import KDExport
import KDStore
import KDTrain

/// `kd-train encoder`: distils a small BERT encoder from a teacher over a domain's text and writes a
/// Hugging Face `BertModel` folder.
struct Encoder: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "encoder",
    abstract: "Distil a small domain encoder from the teacher over a domain's text (MiniLM / TinyBERT); write a Hugging Face BertModel folder.",
    discussion: """
      Task-agnostic distillation: the student (by default teacher layers 1,3,5 of 6,
      DistilBERT-style; or a narrower --init random one) learns, on every text of
      --domain and/or --task in the store (labelled or not, train split), the
      teacher's last-layer self-attention distributions (MiniLM; query-query and
      key-key relations when the head counts differ) and value relations (MiniLMv2),
      and/or its hidden states through learned projections (TinyBERT). The teacher
      runs online. The validation split gives a validation loss that selects the
      epoch and stops early (--patience).

      --out gets config.json (BertModel), model.safetensors (Hugging Face names),
      the teacher's tokenizer and sentence-transformers files. Use it as the init
      of a task student, or as an encoder teacher with a fitted head:
        kd-train --db data.sqlite --task T --student transformer --init teacher --init-from OUT
        kd-teacher-cache --db data.sqlite --teacher OUT --name NAME --task T

      The text must be tokenized with the teacher's tokenizer (kd-ingest
      --tokenizer TEACHER/tokenizer.json; the default ingest tokenizer is the
      default teacher's). A state is saved atomically to --state (default
      OUT.kd-state) every --checkpoint-every steps and at epoch ends; after a
      crash or kill -9 the same command resumes (--restart ignores it). It is
      removed once --out is written. Progress: a bar on a terminal, else a line
      every 30 s on stderr. The run is recorded in the store (runs, metrics
      under model "encoder"). See docs/train.md.

      Examples:
        kd-train encoder --db data.sqlite --domain medical --out models/medical-encoder
        kd-train encoder --db data.sqlite --task banking77 --layers 2 --layer-map 2,5 --out models/bank-enc --json
        kd-train encoder --db data.sqlite --domain legal --init random --layers 4 --hidden-size 256 --heads 4 \\
          --lr 5e-4 --hidden-loss 1 --out models/legal-enc-small
        kd-train encoder --db data.sqlite --domain medical --steps 200 --max-tokens 64 --out /tmp/enc

      \(KDExit.helpText)
      """)

  @OptionGroup var common: CommonOptions
  @Option(help: "Domain whose text is used (repeatable). With --task: only that task's examples of these domains.")
  var domain: [String] = []
  @Option(help: "Only this task's examples, labelled or not (without --domain: all its domains).")
  var task: String?
  @Option(help: "The BERT teacher folder (Hugging Face format; only read).")
  var teacher = "models/all-MiniLM-L6-v2"
  @Option(help: "Output folder (Hugging Face BertModel).")
  var out: String
  @Option(help: "Encoder layers (at most the teacher's with --init teacher).")
  var layers = 3
  @Option(name: .customLong("hidden-size"), help: "Hidden size (default: the teacher's with --init teacher, else 256).")
  var hiddenSize: Int?
  @Option(help: "Attention heads (default: the teacher's with --init teacher, else 4).")
  var heads: Int?
  @Option(name: .customLong("intermediate-size"), help: "Feed-forward size (default: the teacher's with --init teacher, else 4 × hidden).")
  var intermediateSize: Int?
  @Option(name: .customLong("init"), help: "teacher (copy embeddings and mapped teacher layers) or random (seeded, any shape).")
  var initialization = "teacher"
  @Option(name: .customLong("layer-map"), help: "Teacher layer per student layer, 0-based, comma-separated (default evenly spread, e.g. 1,3,5 of 6).")
  var layerMap: String?
  @Option(help: "Seed of the initialisation, shuffling and dropout.")
  var seed: UInt64 = 1
  @Option(name: .customLong("max-tokens"), help: "Cut token sequences to this length (specials included).")
  var maxTokens = 128
  @Option(name: .customLong("batch-size"), help: "Examples per step.")
  var batchSize = 32
  @Option(help: "Peak learning rate (AdamW, linear warmup then linear decay).")
  var lr: Float = 1e-4
  @Option(help: "Most epochs over the text (early stopping may end sooner).")
  var epochs = 3
  @Option(help: "Stop after this many steps (0: no limit).")
  var steps = 0
  @Option(help: "Warmup as a share of all steps.")
  var warmup: Double = 0.05
  @Option(name: .customLong("weight-decay"), help: "AdamW decoupled weight decay (weights, not biases or LayerNorms).")
  var weightDecay: Float = 0.01
  @Option(help: "Clip the global gradient norm to this (0: off).")
  var clip: Float = 1
  @Option(help: "Hidden dropout of the student while it trains.")
  var dropout: Float = 0
  @Option(name: .customLong("attention-loss"), help: "Weight of the last-layer self-attention KL (MiniLM; Q-Q and K-K relations when head counts differ; 0: off).")
  var attentionLoss: Float = 1
  @Option(name: .customLong("value-loss"), help: "Weight of the last-layer value-relation KL, softmax(V·Vᵀ/√d) per relation head (MiniLMv2; 0: off).")
  var valueLoss: Float = 1
  // Default 1, by measurement (BENCHMARKS.md, issue 14): on banking77 the encoder's mean-pooled embeddings
  // reach a mean cosine of 0.94 with the teacher's with it, 0.84 with the attention and value losses alone (3 epochs each).
  @Option(name: .customLong("hidden-loss"), help: "Weight of the hidden-state MSE through learned projections (identity when the widths match), per mapped layer (TinyBERT; 0: off).")
  var hiddenLoss: Float = 1
  @Option(name: .customLong("relation-heads"), help: "Relation heads (default: the largest count up to the teacher's heads dividing both widths).")
  var relationHeads: Int?
  @Option(help: "Epochs without a lower validation loss before stopping (0: never).")
  var patience = 2
  @Option(name: .customLong("validation-examples"), help: "Validation examples the validation loss is measured on (0: no validation; the last epoch is kept).")
  var validationExamples = 2000
  @Option(name: .customLong("checkpoint-every"), help: "Save a resumable state every N steps, besides epoch ends (0: epoch ends only).")
  var checkpointEvery = 500
  @Option(help: "Worker threads (0: all cores).")
  var threads = 0
  @Option(help: "State folder for resuming (default OUT.kd-state).")
  var state: String?
  @Flag(help: "Ignore a saved state and start over.")
  var restart = false
  @Flag(help: "Replace an existing --out.")
  var force = false
  @Option(name: .customLong("lock-timeout"), help: "Seconds to wait for a running kd-ingest or kd-teacher-cache to finish writing the database (then exit 4).")
  var lockTimeout: Double = 600

  func options() throws -> DomainDistillationOptions {
    var o = DomainDistillationOptions()
    o.domains = domain
    o.task = task
    o.layers = layers
    o.hiddenSize = hiddenSize
    o.heads = heads
    o.intermediateSize = intermediateSize
    o.initialization = initialization
    if let m = layerMap {
      o.layerMap = try parseLayerMap(m)
    }
    o.seed = seed
    o.maxTokens = maxTokens
    o.batchSize = batchSize
    o.learningRate = lr
    o.epochs = epochs
    o.maxSteps = steps
    o.warmup = warmup
    o.weightDecay = weightDecay
    o.clip = clip
    o.dropout = dropout
    o.attentionLoss = attentionLoss
    o.valueLoss = valueLoss
    o.hiddenLoss = hiddenLoss
    o.relationHeads = relationHeads
    o.patience = patience
    o.validationExamples = validationExamples
    o.checkpointEvery = checkpointEvery
    o.threads = threads
    try o.validate()
    return o
  }

  func run() throws {
    common.configureLogging()
    Interruption.shared.install()
    try runStage(tool: "kd-train encoder") {
      let o = try options()
      try EncoderExport.checkOutput(out, source: teacher)
      if FileManager.default.fileExists(atPath: out) && !force {
        throw KDError(.usage, "the output already exists (pass --force to replace it)", file: out, field: "--out")
      }
      let db = try StoreView.resolve(common.db)
      guard FileManager.default.fileExists(atPath: db) else {
        throw KDError(.io, "no such database (run kd-ingest first, or pass --db)", file: db, field: "--db")
      }
      let stateDir = state ?? (out + ".kd-state")
      // The lifecycle of every stage: writer lock, run row, typed end status.
      let stage = try StageRun.begin(stage: "encoder", database: db, commandLine: currentCommandLine, lockTimeout: lockTimeout,
                                     holder: "kd-train", onWait: { Log.info($0) }, prepare: { try $0.useStreamingCache() })
      do {
        let distiller = try DomainDistiller(database: db, teacherDirectory: teacher, options: o, stateDirectory: stateDir)
        distiller.log = { Log.info($0) }
        distiller.shouldStop = { Interruption.shared.requested }
        distiller.resultStore = stage.store
        distiller.runID = stage.runID
        let perEpoch = max(1, distiller.stepsPerEpoch)
        let total = o.maxSteps > 0 ? min(o.maxSteps, o.epochs * perEpoch) : o.epochs * perEpoch
        let bar = ProgressBar(label: "encoder", total: Int64(total), unit: "steps")
        var lastLine = Date()
        distiller.progress = { p in
          bar.update(Int64(p.globalStep), note: String(format: "epoch %d loss %.4f", p.epoch, p.loss))
          if !bar.enabled && Date().timeIntervalSince(lastLine) >= 30 {
            lastLine = Date()
            Log.info(String(format: "encoder: epoch %d/%d, step %d/%d: loss %.5f, %.1f examples/s", p.epoch, p.epochs, p.globalStep,
                            p.totalSteps, p.loss, p.examplesPerSecond))
          }
        }
        var result: DomainDistillationResult
        do {
          result = try distiller.run(restart: restart)
        } catch {
          bar.finish()
          throw error
        }
        bar.finish()
        try EncoderExport.write(bert: distiller.student, source: teacher, out: out, provenance: [
          "kd_init": o.initialization, "kd_layer_map": distiller.layerMap, "kd_domains": o.domains, "kd_task": o.task ?? NSNull(),
          "kd_relation_heads": distiller.distillation.relationHeads,
        ])
        try? FileManager.default.removeItem(atPath: stateDir)
        result.out = out
        try stage.finish(.ok, counts: ["steps": result.steps, "train_examples": result.trainExamples, "best_epoch": result.bestEpoch])
        Log.info("wrote \(out); use it with: kd-train --db \(common.db) --student transformer --init teacher --init-from \(out) --layers N (N ≤ \(o.layers)), "
                   + "or kd-teacher-cache --db \(common.db) --teacher \(out) --name NAME --task TASK")
        if common.json { printJSON(encodable: result) }
        return KDExit.success
      } catch let e as KDError where e.isInterruption {
        stage.fail(e)
        Log.error("kd-train encoder: \(e.message)")
        return KDExit.interrupted
      } catch {
        stage.fail(error)
        throw error
      }
    }
  }
}
