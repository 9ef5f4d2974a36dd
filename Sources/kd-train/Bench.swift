import ArgumentParser
import Foundation
import KDCLI
import KDCore
import KDTrain

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure the loader alone, or student training steps, on a database (for tools/bench/train).",
    discussion: """
      kd-train bench loader --db data.sqlite --task banking77
      kd-train bench train --db data.sqlite --task banking77 --steps 2000 --batch-size 32
      kd-train bench transformer --steps 10 --threads 2 --init-from models/all-MiniLM-L6-v2
      Prints one JSON object: examples, seconds, examples_per_s (transformer: seconds per
      training step of the default transformer student on a synthetic 32×128 batch, and
      inference against the teacher; no database needed).
      """)

  @Argument(help: "loader, train or transformer.")
  var what: String
  @OptionGroup var common: CommonOptions
  @OptionGroup var flags: TrainingFlags
  @Option(help: "Passes over the train split (loader).")
  var passes = 3

  func validate() throws {
    if !["loader", "train", "transformer"].contains(what) { throw ValidationError("bench takes 'loader', 'train' or 'transformer'") }
  }

  func run() throws {
    common.configureLogging()
    try runStage(tool: "kd-train bench") {
      if what == "transformer" {
        printJSON(try benchTransformer())
        return KDExit.success
      }
      let options = try flags.options()
      let db = try StoreView.resolve(common.db)
      let task = try flags.task.first ?? TrainingPlan.defaultTasks(dbPath: db)[0]
      let plan = try TrainingPlan.resolve(dbPaths: [db] + flags.extraDB, task: task, teacherNames: flags.teacher)
      let r: [String: Any]
      if what == "loader" {
        r = try benchLoader(plan: plan, options: options, passes: passes)
      } else {
        r = try benchTraining(plan: plan, options: options, threads: flags.threads)
      }
      printJSON(r.merging(["task": task, "what": what]) { a, _ in a })
      return KDExit.success
    }
  }

  /// `bench transformer`: the default student's shape unless the transformer flags say otherwise.
  func benchTransformer() throws -> [String: Any] {
    var t = try flags.transformer.options()
    t.threads = flags.threads
    t.initialization = "teacher"
    let c = t.studentConfig(vocabSize: 30522, numClasses: 5, maxTokens: 512)
    guard let b = c.transformer?.bertConfig else { throw ValidationError("bad transformer settings") }
    let seq = flags.maxTokens ?? 128
    let dir = t.resolvedTeacherDirectory
    let hasTeacher = FileManager.default.fileExists(atPath: dir + "/model.safetensors")
    return try benchTransformerStep(config: b, batch: flags.batchSize, seq: seq, steps: max(1, flags.steps),
                                    threads: t.effectiveThreads, teacherDirectory: hasTeacher ? dir : nil)
  }
}
