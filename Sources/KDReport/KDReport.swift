import Foundation
import KDCore
import KDStore
@_exported import KDEval

/// What `kd-report` does, for callers that are not the command line.
public struct ReportOptions: Sendable {
  /// The kd database to read (opened read-only).
  public var databasePath: String
  /// Where to write the HTML; nil: `kd-report.html` next to the database.
  public var outputPath: String?
  /// Only this task's section (nil: every task).
  public var task: String?

  public init(databasePath: String, outputPath: String? = nil, task: String? = nil) {
    self.databasePath = databasePath
    self.outputPath = outputPath
    self.task = task
  }

  /// The output path: `outputPath`, else `kd-report.html` in the database's folder.
  public var resolvedOutputPath: String {
    if let outputPath { return outputPath }
    let dir = (databasePath as NSString).deletingLastPathComponent
    return ((dir.isEmpty ? "." : dir) as NSString).appendingPathComponent("kd-report.html")
  }
}

/// The machine-readable summary of a written report (`kd-report --json`).
public struct ReportSummary: Codable, Sendable, Equatable {
  /// The HTML file written.
  public var path: String
  public var database: String
  public var bytes: Int
  /// Section ids in page order that had data to show.
  public var sections: [String]
  /// Section ids that only say what is missing (e.g. "no training run yet").
  public var emptySections: [String]
  /// Tasks with a section, in page order.
  public var tasks: [String]
  /// Tasks with at least one training run.
  public var trainedTasks: [String]
  public var teachers: [String]
  /// Per task: examples and skipped duplicates by split, and each teacher's scores (ECE after calibration).
  public var taskDetails: [ReportTaskDetail] = []
}

/// `kd-report --json`: one task's split sizes and teacher scores.
public struct ReportTaskDetail: Codable, Sendable, Equatable {
  public struct SplitCount: Codable, Sendable, Equatable {
    public var split: String
    /// Stored examples, duplicates included.
    public var examples: Int
    /// Exact duplicates of an earlier text: left out of teacher outputs, training and evaluation.
    public var duplicatesSkipped: Int
  }
  public struct TeacherScore: Codable, Sendable, Equatable {
    public var teacher: String
    /// The split scored (test, else validation).
    public var split: String
    public var examples: Int
    public var accuracy: Double
    public var macroF1: Double
    /// Expected calibration error of the calibrated probabilities (15 bins).
    public var ece: Double?
    /// The calibration temperature applied (1: uncalibrated) and the ECE without it, on the calibration split.
    public var calibrationTemperature: Double
    public var eceUncalibratedOnValidation: Double?
  }
  public var task: String
  public var splits: [SplitCount]
  public var teachers: [TeacherScore]
}

/// Renders kd databases as one self-contained HTML report.
///
/// For example:
/// ```swift
/// let store = try Store.open(path: "data.sqlite", readOnly: true)
/// let page = try KDReportGenerator.render(store: store)
/// print(page.summary.sections)
/// ```
public enum KDReportGenerator {
  /// Reads the store and renders the page in memory.
  /// - Parameters:
  ///   - task: only this task's section.
  ///   - now: the generation time printed on the page.
  /// - Throws: `KDError(.usage)` for an unknown task; store errors.
  public static func render(store: Store, task: String? = nil, now: Date = Date()) throws
    -> (html: String, summary: ReportSummary)
  {
    let content = try ReportLoader.load(store: store, taskFilter: task, now: now)
    var renderer = ReportRenderer(content: content)
    let html = renderer.render()
    let summary = ReportSummary(
      path: "", database: store.path, bytes: html.utf8.count,
      sections: renderer.sections.filter(\.rendered).map(\.id),
      emptySections: renderer.sections.filter { !$0.rendered }.map(\.id),
      tasks: renderer.orderedTasks.map(\.task.name),
      trainedTasks: renderer.orderedTasks.filter { $0.training != nil }.map(\.task.name),
      teachers: content.teachers.map(\.name),
      taskDetails: content.tasks.map { t in
        ReportTaskDetail(
          task: t.task.name,
          splits: t.splitCounts.map { .init(split: $0.split, examples: $0.examples, duplicatesSkipped: $0.duplicates) },
          teachers: t.teacherEvaluations.map { e in
            .init(teacher: e.teacher.name, split: e.split.rawValue, examples: e.evaluation.examples,
                  accuracy: e.evaluation.accuracy, macroF1: e.evaluation.macroF1, ece: e.evaluation.ece,
                  calibrationTemperature: e.calibration?.temperature ?? 1,
                  eceUncalibratedOnValidation: e.calibration?.eceBefore)
          })
      })
    return (html, summary)
  }

  /// Opens the database read-only, renders it and writes the HTML atomically.
  /// - Throws: `KDError(.io)` when the database is missing or the file cannot be written;
  ///   `KDError(.usage)` for an unknown task; `KDError(.database/.schema)` for a file that is not a kd store.
  public static func write(_ options: ReportOptions, log: (String) -> Void = { _ in }) throws -> ReportSummary {
    let store = try Store.open(path: options.databasePath, readOnly: true)
    log("reading \(options.databasePath)")
    var (html, summary) = try render(store: store, task: options.task)
    let out = options.resolvedOutputPath
    let url = URL(fileURLWithPath: out)
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: out, isDirectory: &isDir), isDir.boolValue {
      throw KDError(.io, "is a directory (give a file name, e.g. \(out)/kd-report.html)", file: out, field: "--out")
    }
    do {
      try Data(html.utf8).write(to: url, options: .atomic)
    } catch {
      throw KDError(.io, "cannot write the report: \((error as NSError).localizedDescription)", file: out, field: "--out")
    }
    summary.path = url.standardizedFileURL.path
    log("wrote \(summary.path) (\(Format.bytes(summary.bytes)); \(summary.tasks.count) task\(summary.tasks.count == 1 ? "" : "s"), \(summary.trainedTasks.count) trained)")
    return summary
  }
}
