import ArgumentParser
import Foundation
import KDCLI
import KDCore
import KDStore

@main
struct KDMergeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kd-merge",
    abstract: "Combine shard stores (kd-ingest/kd-teacher-cache --shard K/N) into one store.",
    discussion: """
      The output equals what one unsharded run would have written: examples in
      the order one kd-ingest writes them (so the same ids, splits and training
      order), labels matched by name, token ids and teacher outputs carried
      over, duplicates and train/test leakage found across all shards. The
      inputs' runs and sources are kept (provenance), and each input is
      recorded in the output's merged_stores table.

      Idempotent: a rerun on unchanged inputs does nothing. Crash-safe: the
      output is built in OUTPUT.merging and renamed into place when complete,
      so a kill at any moment leaves the previous output, and a rerun starts
      over. Refused, naming both files: stores with different schema versions,
      tokenizers, label sets of a taught task, or teachers of one name that
      differ; a missing shard is reported by number.

      Examples:
        kd-merge data.sqlite 'data.shard-*-of-4.sqlite'
        kd-merge merged.sqlite a.sqlite b.sqlite --json

      \(KDExit.helpText)
      """)

  @Argument(help: "The merged store to write (replaced atomically; never a store kd-merge did not write).")
  var output: String

  @Argument(help: "Input stores: paths or quoted glob patterns.")
  var inputs: [String]

  @Option(help: "Seconds to wait for another kd-merge writing OUTPUT.")
  var lockTimeout: Double = 600

  @Flag(name: .long, help: "Print a machine-readable JSON summary on stdout.")
  var json = false

  @Flag(name: [.short, .long], help: "Only errors on stderr.")
  var quiet = false

  func run() throws {
    Log.quiet = quiet
    try runStage(tool: "kd-merge") {
      let paths = try StorePaths.expand(inputs)
      var lastLine = Date()
      var copied = 0
      // Tests slow the merge down to kill it half-way (tests only; undocumented).
      let testDelay = ProcessInfo.processInfo.environment["KD_MERGE_TEST_DELAY_MS"].flatMap { UInt32($0) } ?? 0
      let summary = try StoreMerge.merge(
        inputs: paths, output: output, commandLine: currentCommandLine, lockTimeout: lockTimeout,
        log: { Log.info($0) },
        afterSource: {
          copied += 1
          if testDelay > 0 { usleep(testDelay * 1000) }
          if Date().timeIntervalSince(lastLine) >= 30 {
            Log.info("merge: \(copied) source files copied")
            lastLine = Date()
          }
        })
      if json {
        printJSON(encodable: summary)
      } else if summary.upToDate {
        Log.info("nothing to do: \(output) is up to date with its \(paths.count) inputs (\(summary.examples) examples)")
      } else {
        Log.info("merged \(paths.count) stores into \(output): \(summary.sources) files, \(summary.documents) documents, \(summary.examples) examples (\(summary.duplicates) duplicates), \(summary.teachers) teachers with \(summary.teacherOutputs) outputs; \(String(format: "%.1f", summary.seconds)) s")
      }
      return KDExit.success
    }
  }
}
