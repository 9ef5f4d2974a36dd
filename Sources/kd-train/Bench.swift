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
      Prints one JSON object: examples, seconds, examples_per_s.
      """)

  @Argument(help: "loader or train.")
  var what: String
  @OptionGroup var common: CommonOptions
  @OptionGroup var flags: TrainingFlags
  @Option(help: "Passes over the train split (loader).")
  var passes = 3

  func validate() throws {
    if !["loader", "train"].contains(what) { throw ValidationError("bench takes 'loader' or 'train'") }
  }

  func run() throws {
    common.configureLogging()
    try runStage(tool: "kd-train bench") {
      let options = try flags.options()
      let db = try StoreView.resolve(common.db)
      let task = try flags.task.first ?? TrainingPlan.defaultTasks(dbPath: db)[0]
      let plan = try TrainingPlan.resolve(dbPaths: [db] + flags.extraDB, task: task, teacherNames: flags.teacher)
      let r: [String: Any]
      if what == "loader" {
        r = try benchLoader(plan: plan, options: options, passes: passes)
      } else {
        r = try benchTraining(plan: plan, options: options)
      }
      printJSON(r.merging(["task": task, "what": what]) { a, _ in a })
      return KDExit.success
    }
  }
}
