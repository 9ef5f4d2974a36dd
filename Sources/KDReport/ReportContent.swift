import Foundation
import KDCore
import KDStore

/// A teacher scored against the gold labels of one split, from its cached logits.
public struct TeacherEvaluation {
  public var teacher: TeacherSummary
  public var split: Split
  public var evaluation: ClassificationEvaluation
  /// Outputs whose logits were not finite (left out).
  public var invalid: Int
  /// The teacher's calibration (confidences are softmax(logits / temperature)); nil: raw logits.
  public var calibration: TeacherCalibration?
}

/// Everything the report shows about one task.
public struct TaskContent {
  public var task: TaskRecord
  public var splitCounts: [TaskSplitCount]
  /// Examples per label and split (this task's labels only).
  public var labelCounts: [LabelSplitCount]
  public var teacherEvaluations: [TeacherEvaluation]
  /// Why a teacher of the task could not be scored.
  public var teacherNotes: [String]
  /// nil: no training run yet.
  public var training: TaskTraining?

  public var anchor: String { "task-" + HTML.slug(task.name) }
  public var totalExamples: Int { splitCounts.reduce(0) { $0 + $1.examples } }
}

/// What the report reads from a store, before rendering.
public struct ReportContent {
  public var dbPath: String
  public var generatedAt: Date
  public var schemaVersion: Int
  public var counts: StoreTableCounts
  public var tokenizers: [TokenizerUsage]
  /// The tokenizer whose counts the dataset tables use (the most used one); nil: whitespace words.
  public var tokenizer: TokenizerUsage?
  public var exampleStats: [ExampleGroupStat]
  public var documentStats: [DocumentGroupStat]
  public var sourceStats: [SourceGroupStat]
  public var sourceProblems: [SourceProblem]
  /// Examples per (domain, length) in tokens, or words without a tokenizer.
  public var lengths: [LengthCount]
  public var documentLabelCounts: [LabelSplitCount]
  public var allTasks: [TaskRecord]
  public var runs: [RunRecord]
  public var teachers: [TeacherSummary]
  public var tasks: [TaskContent]
  /// Metric blocks that could not be attributed to a task.
  public var unattributedMetricBlocks: Int
}

/// Reads a store into `ReportContent`.
public enum ReportLoader {
  /// Loads everything in one read snapshot.
  /// - Parameter taskFilter: only this task's section (nil: every task with examples, a teacher or a model).
  /// - Throws: `KDError(.usage)` when `taskFilter` names no task; store errors.
  public static func load(store: Store, taskFilter: String? = nil, now: Date = Date()) throws -> ReportContent {
    try store.readSnapshot {
      let allTasks = try store.tasks()
      if let taskFilter, !allTasks.contains(where: { $0.name == taskFilter }) {
        let known = allTasks.map(\.name).sorted().joined(separator: ", ")
        throw KDError(.usage, "no task '\(taskFilter)' in the database (tasks: \(known.isEmpty ? "none" : known))",
                      file: store.path, field: "--task")
      }
      let tokenizers = try store.reportTokenizerUsage()
      let tokenizer = tokenizers.first { $0.examples > 0 }
      let taskSplits = try store.reportTaskSplitCounts()
      let labelCounts = try store.reportLabelCounts(tokenizerID: tokenizer?.id)
      let teachers = try store.reportTeachers()
      let models = try store.reportModels()
      let blocks = MetricAttribution.attribute(
        MetricAttribution.blocks(try store.reportMetricRows()), tasks: allTasks.map { ($0.id, $0.labels) },
        models: models)
      var tasks: [TaskContent] = []
      for task in allTasks {
        if let taskFilter, task.name != taskFilter { continue }
        let splits = taskSplits.filter { $0.taskID == task.id }
        let myTeachers = teachers.filter { $0.taskID == task.id }
        let training = TrainingViewBuilder.build(taskID: task.id, labels: task.labels, blocks: blocks, models: models)
        guard !splits.isEmpty || !myTeachers.isEmpty || training != nil || taskFilter != nil else { continue }
        var evaluations: [TeacherEvaluation] = []
        var notes: [String] = []
        for t in myTeachers {
          do {
            if let e = try evaluate(teacher: t, task: task, store: store) {
              evaluations.append(e)
            } else if t.outputs == 0 {
              notes.append("Teacher \(t.name) has no cached outputs yet.")
            } else {
              notes.append("Teacher \(t.name) has no outputs on labeled test or validation examples.")
            }
          } catch let e as KDError {
            notes.append("Teacher \(t.name) could not be scored: \(e.message)")
          }
        }
        tasks.append(TaskContent(
          task: task, splitCounts: splits, labelCounts: labelCounts.filter { $0.taskID == task.id },
          teacherEvaluations: evaluations, teacherNotes: notes, training: training))
      }
      return ReportContent(
        dbPath: store.path, generatedAt: now, schemaVersion: try store.schemaVersion(),
        counts: try store.reportTableCounts(), tokenizers: tokenizers, tokenizer: tokenizer,
        exampleStats: try store.reportExampleStats(tokenizerID: tokenizer?.id),
        documentStats: try store.reportDocumentStats(), sourceStats: try store.reportSourceStats(),
        sourceProblems: try store.reportSourceProblems(),
        lengths: try store.reportLengthCounts(tokenizerID: tokenizer?.id),
        documentLabelCounts: try store.reportDocumentLabelCounts(), allTasks: allTasks,
        runs: try store.reportRuns(), teachers: teachers, tasks: tasks,
        unattributedMetricBlocks: blocks.filter { $0.taskID == nil }.count)
    }
  }

  /// Scores a teacher on the test split (the validation split when test has no labeled outputs).
  /// - Returns: nil when the teacher has no outputs on labeled examples of either split.
  /// - Throws: `KDError(.input)` when its output space does not match the task's labels or a blob is corrupt.
  static func evaluate(teacher: TeacherSummary, task: TaskRecord, store: Store) throws -> TeacherEvaluation? {
    guard teacher.outputs > 0 else { return nil }
    let classes = task.labels.count
    guard teacher.numOutputs == classes else {
      throw KDError(.input, "it has \(teacher.numOutputs) outputs but task '\(task.name)' has \(classes) labels")
    }
    let storage = try TeacherStorage(name: teacher.storage, topK: teacher.topK)
    let calibration = try store.teacherCalibration(teacherID: teacher.id)
    let temperature = calibration?.temperature ?? 1
    for split in [Split.test, .validation] {
      var evaluation = ClassificationEvaluation(classes: classes)
      var invalid = 0
      try store.forEachTeacherPrediction(teacherID: teacher.id, storage: storage, numOutputs: teacher.numOutputs,
                                         taskID: task.id, split: split) { row in
        guard let p = ClassificationEvaluation.prediction(row.logits, temperature: temperature) else {
          invalid += 1
          return
        }
        evaluation.add(gold: row.gold, predicted: p.predicted, confidence: p.confidence)
      }
      if evaluation.examples > 0 {
        return TeacherEvaluation(teacher: teacher, split: split, evaluation: evaluation, invalid: invalid,
                                 calibration: calibration)
      }
    }
    return nil
  }
}
