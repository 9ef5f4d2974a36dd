import ArgumentParser
import Foundation
import KDCLI
import KDCore
import KDTrain

/// `kd-train dump-loader` (hidden): what the training loader yields, one JSON line per example.
///
/// The rows and values are exactly those kd-train trains on, with shuffling and
/// length bucketing off, so examples come in store order, then id order. The
/// Python reader's tests (python/tests) compare against it.
struct DumpLoader: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dump-loader",
    abstract: "Print what the loader yields for a task and split, one JSON object per example (debugging).",
    discussion: """
      Each line: {"id", "source", "label", "tokens", "teacher"}. "label" is -1 when the
      example has no (kept) label; "teacher" holds the combined soft targets
      softmax(z/T) (empty when no teacher output). The same flags as training select
      the rows (--task, --teacher, --label-fraction, --label-seed, --alpha, --max-tokens,
      --temperature, --domain, --extra-db); shuffling and bucketing are off.
      --eval reads the split as kd-train evaluates it (labeled rows only, T = 1).

      Example:
        kd-train dump-loader --db data.sqlite --task banking77 --split train --temperature 2
      """,
    shouldDisplay: false)

  @OptionGroup var common: CommonOptions
  @OptionGroup var flags: TrainingFlags
  @Option(help: "train, validation or test.")
  var split = "train"
  @Flag(help: "Evaluation mode: only labeled rows, all labels kept, T = 1.")
  var eval = false

  func run() throws {
    common.configureLogging()
    try runStage(tool: "kd-train dump-loader") {
      guard let split = Split(rawValue: split) else {
        throw KDError(.usage, "'\(self.split)': expected train, validation or test", field: "--split")
      }
      let o = try flags.options()
      let task = try flags.task.first ?? TrainingPlan.defaultTasks(dbPath: common.db)[0]
      let plan = try TrainingPlan.resolve(dbPaths: [common.db] + flags.extraDB, task: task, teacherNames: flags.teacher,
                                          needTeachers: o.alpha < 1)
      var lo = LoaderOptions(numClasses: plan.labels.count, vocabSize: plan.vocabSize)
      lo.shuffle = false
      lo.bucketing = false
      lo.batchSize = 256
      lo.maxTokens = o.maxTokens
      lo.keepsLastToken = o.student == "transformer"
      lo.teacherWeights = o.teacherWeights
      if eval {
        lo.requireLabel = true
      } else {
        lo.labelFraction = o.labelFraction
        lo.labelSeed = o.labelSeed
        lo.useLabels = o.alpha > 0
        lo.useTeachers = o.alpha < 1
      }
      let loader = try StreamingLoader(sources: plan.sources(split: split, domains: o.domains), options: lo)
      let out = FileHandle.standardOutput
      // Targets at the loss's temperature for train rows (what the KD term sees), 1 for evaluation.
      let temperature = eval ? 1 : o.temperature
      for b in try loader.allBatches() {
        var text = ""
        let targets = b.teacherTargets(temperature: temperature)
        for i in 0..<b.count {
          let tokens = b.tokens[b.offsets[i]..<b.offsets[i + 1]].map(String.init).joined(separator: ",")
          let teacher = b.hasTeacher[i]
            ? targets[(i * b.numClasses)..<((i + 1) * b.numClasses)].map { "\($0)" }.joined(separator: ",") : ""
          text += "{\"id\":\(b.exampleIDs[i]),\"source\":\(b.sources[i]),\"label\":\(b.labels[i]),"
            + "\"tokens\":[\(tokens)],\"teacher\":[\(teacher)]}\n"
        }
        out.write(Data(text.utf8))
      }
      return KDExit.success
    }
  }
}
