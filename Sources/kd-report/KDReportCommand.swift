import ArgumentParser
import Foundation
import KDCLI
import KDReport

@main
struct KDReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kd-report",
    abstract: "Render a kd database as one self-contained HTML report.",
    discussion: """
      Reads the database (read-only; safe while another stage writes) and
      writes one HTML file with inline SVG charts and no script: dataset
      statistics (documents, examples and tokens per domain, split and label;
      a length histogram), teachers, training curves, teacher vs KD student
      vs baseline, confusion matrices, teacher-student agreement and
      calibration. Sections without data yet (e.g. before kd-train) say so.

      The report goes to --out, by default kd-report.html in the database's
      folder. Open it in any browser; it loads nothing from the network.

      Examples:
        kd-report
        kd-report --db out/demo/data.sqlite --out report.html
        kd-report --db data.sqlite --task banking_intents --json

      \(KDExit.helpText)
      """)

  @OptionGroup var common: CommonOptions

  @Option(help: "The HTML file to write. Default: kd-report.html next to the database.")
  var out: String?

  @Option(help: "Only this task's section (the dataset overview still covers everything).")
  var task: String?

  func run() throws {
    common.configureLogging()
    try runStage(tool: "kd-report") {
      let database = try StoreView.resolve(common.db)
      // Several stores: the report goes beside the first of them, not beside the view.
      let firstDir = (try StoreView.paths(common.db).first.map { ($0 as NSString).deletingLastPathComponent }) ?? ""
      let defaultOut = database == common.db ? nil : ((firstDir.isEmpty ? "." : firstDir) as NSString).appendingPathComponent("kd-report.html")
      let options = ReportOptions(databasePath: database, outputPath: out ?? defaultOut, task: task)
      let summary = try KDReportGenerator.write(options) { Log.info($0) }
      if common.json { printJSON(encodable: summary) }
      return KDExit.success
    }
  }
}
