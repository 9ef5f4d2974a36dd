import ArgumentParser
import Foundation
import KDCLI
import KDCore
import KDExport
import KDModels
import KDNN
import KDTrain

/// `kd-train teacher`: fine-tunes a BERT teacher on a task's labels and writes a Hugging Face folder.
struct FineTune: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "teacher",
    abstract: "Fine-tune a BERT teacher (all layers + classification head) on a task's labels; write a Hugging Face folder.",
    discussion: """
      Fine-tunes every layer of --teacher and a classifier on the task's labelled
      training rows (after --label-fraction, the same subset kd-train and
      kd-teacher-cache use), keeps the epoch with the best validation macro-F1,
      stops after --patience epochs without improvement, and reports test metrics.

      The classifier reads (--pooling) the mean of the final hidden states
      (`mean`; written as a sentence-transformers folder: BertModel, mean
      Pooling, the teacher's Normalize, a Dense head, id2label) or [CLS] through the
      pooler (`cls`; written as BertForSequenceClassification). `auto` takes the
      teacher's own sentence-transformers pooling (mean for all-MiniLM-L6-v2,
      whose pooler was never trained), else cls. With --head-init fit (default)
      the classifier starts as a logistic regression fitted on the frozen
      encoder's features (LP-FT); that fitted model is epoch 0 of the selection,
      so the result is never worse on validation than the frozen encoder with a
      fitted head. Cache the folder like any checkpoint, under its own name (its
      checkpoint hash differs from the frozen teacher's, so outputs never mix):
        kd-teacher-cache --db data.sqlite --teacher OUT --name NAME --task TASK

      The teacher folder is only read. A state is saved atomically to --state
      (default OUT.kd-state) every --checkpoint-every steps and at each epoch end;
      after a crash or kill -9, the same command resumes from it (--restart
      ignores it). The state is removed once --out is written. Progress: a line
      every 30 s on stderr. See docs/train.md.

      Examples:
        kd-train teacher --db data.sqlite --task banking77 --out models/banking77-minilm
        kd-train teacher --db data.sqlite --task claudette --teacher models/all-MiniLM-L6-v2 \\
          --out models/claudette-ft --lr 5e-5 --epochs 4 --layer-decay 0.9 --class-weights balanced
        kd-train teacher --db data.sqlite --task medical_abstracts_tc --label-fraction 0.1 \\
          --max-tokens 128 --out models/medical-ft-10pct --json

      \(KDExit.helpText)
      """)

  @OptionGroup var common: CommonOptions
  @Option(help: "The task to fine-tune on.")
  var task: String
  @Option(help: "The BERT-family teacher folder to start from (Hugging Face format; never modified).")
  var teacher = "models/all-MiniLM-L6-v2"
  @Option(help: "Output folder (sentence-transformers with a Dense head for --pooling mean, else BertForSequenceClassification).")
  var out: String
  @Option(help: "Peak learning rate (AdamW, linear warmup then linear decay).")
  var lr: Float = 5e-5
  @Option(help: "Most epochs (early stopping may end sooner).")
  var epochs = 5
  @Option(name: .customLong("layer-decay"), help: "Layer-wise learning-rate decay: layer l of L gets lr·decay^(L−l) (1: off).")
  var layerDecay: Float = 1
  @Option(name: .customLong("max-tokens"), help: "Window length in tokens (specials included): training reads each text's first window; validation and test average all its windows.")
  var maxTokens = 256
  @Option(name: .customLong("class-weights"), help: "Cross-entropy class weights: none, balanced (n / (k · count), as kd-teacher-cache's fitted heads), or one number per class (comma-separated).")
  var classWeights = "balanced"
  @Option(name: .customLong("batch-size"), help: "Examples per step.")
  var batchSize = 16
  @Option(help: "Seed of the classifier initialisation, shuffling and dropout.")
  var seed: UInt64 = 1
  @Option(name: .customLong("label-fraction"), help: "Keep training labels for this share of train examples (same rule as kd-train).")
  var labelFraction: Double = 1
  @Option(name: .customLong("label-seed"), help: "Seed of the labelled subset.")
  var labelSeed: UInt64 = 0
  @Option(help: "Epochs without a better validation macro-F1 before stopping (0: never).")
  var patience = 2
  @Option(help: "Warmup as a share of all steps.")
  var warmup: Double = 0.1
  @Option(name: .customLong("weight-decay"), help: "AdamW decoupled weight decay (weights, not biases or LayerNorms).")
  var weightDecay: Float = 0.01
  @Option(help: "Clip the global gradient norm to this (0: off).")
  var clip: Float = 1
  @Option(help: "Hidden dropout.")
  var dropout: Float = 0.1
  @Option(help: "What the classifier reads: auto, mean (mean-pooled hidden states) or cls ([CLS] through the pooler).")
  var pooling = "auto"
  @Option(name: .customLong("head-init"), help: "fit: start from a logistic regression on the frozen encoder (LP-FT, epoch 0); random: N(0, 0.02).")
  var headInit = "fit"
  @Option(name: .customLong("train-windows"), help: "Training reads each text's first window (first) or every window, each a row with the text's label (all). Evaluation averages all windows either way.")
  var trainWindows = "first"
  @Option(help: "WiSE-FT: keep (1−α)·start + α·fine-tuned, the start being epoch 0 (frozen encoder, fitted head). auto: α from 0, 0.1, …, 1 on validation macro-F1; none: α = 1; or a number in [0, 1].")
  var interpolate = "none"
  @Option(name: .customLong("checkpoint-every"), help: "Save a resumable state every N steps, besides epoch ends (0: epoch ends only).")
  var checkpointEvery = 200
  @Option(help: "Use at most this many labelled training examples, a seeded sample (0: all).")
  var limit = 0
  @Option(help: "State folder for resuming (default OUT.kd-state).")
  var state: String?
  @Flag(help: "Ignore a saved state and start over.")
  var restart = false
  @Option(help: "Worker threads (0: all cores).")
  var threads = 0
  @Flag(help: "Replace an existing --out.")
  var force = false
  @Flag(name: .customLong("no-test"), help: "Skip the evaluation on the test split.")
  var noTest = false

  func run() throws {
    common.configureLogging()
    Interruption.shared.install()
    try runStage(tool: "kd-train teacher") {
      var o = FineTuneOptions()
      o.learningRate = lr; o.epochs = epochs; o.layerDecay = layerDecay; o.maxTokens = maxTokens
      o.classWeights = classWeights; o.batchSize = batchSize; o.seed = seed; o.labelFraction = labelFraction
      o.labelSeed = labelSeed; o.patience = patience; o.warmup = warmup; o.weightDecay = weightDecay; o.clip = clip
      o.dropout = dropout; o.checkpointEvery = checkpointEvery; o.limit = limit; o.evaluateTest = !noTest
      o.pooling = pooling; o.headInit = headInit
      o.trainWindows = trainWindows == "first" ? nil : trainWindows
      o.interpolate = interpolate == "none" ? nil : interpolate
      try o.validate()
      guard threads >= 0 else { throw KDError(.usage, "\(threads): expected 0 (all cores) or more threads", field: "--threads") }
      if FileManager.default.fileExists(atPath: out) && !force {
        throw KDError(.usage, "the output already exists (pass --force to replace it)", file: out, field: "--out")
      }
      var tok: String?
      for name in ["tokenizer.json", "vocab.txt"] where tok == nil {
        let p = (teacher as NSString).appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: p) { tok = p }
      }
      guard let tok else {
        throw KDError(.io, "no tokenizer.json or vocab.txt in the teacher folder (run `make models` for the default)", file: teacher, field: "--teacher")
      }
      // Windows longer than the teacher's positions would be cut again inside the model: split at most there.
      let positions = try BertConfig.load(path: (teacher as NSString).appendingPathComponent("config.json")).maxPositionEmbeddings
      if o.maxTokens > positions {
        Log.info("--max-tokens \(o.maxTokens) is over the teacher's \(positions) positions; using \(positions)")
        o.maxTokens = positions
      }
      let data = try FineTuneData.load(db: common.db, task: task, tokenizerPath: tok, options: o)
      Log.info("task \(task): \(data.train.count) train, \(data.validation.count) validation, \(data.test.count) test examples, "
                 + "\(data.labels.count) classes; teacher \(teacher)")
      let stateDir = state ?? (out + ".kd-state")
      useWorkerThreads(threads)
      let tuner = try TeacherFineTuner(teacherDirectory: teacher, data: data, options: o, stateDirectory: stateDir)
      tuner.log = { Log.info($0) }
      tuner.shouldStop = { Interruption.shared.requested }
      let bar = ProgressBar(label: "fine-tuning", total: Int64(o.epochs * max(1, tuner.stepsPerEpoch)), unit: "steps")
      var lastLine = Date()
      tuner.progress = { p in
        bar.update(Int64(p.globalStep), note: String(format: "epoch %d loss %.3f", p.epoch, p.loss))
        if !bar.enabled && Date().timeIntervalSince(lastLine) >= 30 {
          lastLine = Date()
          Log.info(String(format: "epoch %d/%d step %d/%d (total %d/%d): loss %.4f, %.1f examples/s", p.epoch, p.epochs, p.step,
                          p.stepsPerEpoch, p.globalStep, p.totalSteps, p.loss, p.examplesPerSecond))
        }
      }
      var result: FineTuneResult
      do {
        result = try tuner.run(restart: restart)
      } catch let e as KDError where e.message.hasPrefix("interrupted") {
        bar.finish()
        Log.error("kd-train teacher: \(e.message)")
        return KDExit.interrupted
      }
      bar.finish()
      try FineTunedTeacherExport.write(bert: tuner.bert, source: teacher, labels: data.labels, out: out)
      try? FileManager.default.removeItem(atPath: stateDir)
      result.out = out
      Log.info("wrote \(out) (epoch \(result.bestEpoch), validation macro-F1 \(String(format: "%.4f", result.bestValidationMacroF1))); "
                 + "cache it with: kd-teacher-cache --db \(common.db) --teacher \(out) --name NAME --task \(task)")
      if common.json { printJSON(encodable: result) }
      return KDExit.success
    }
  }
}
