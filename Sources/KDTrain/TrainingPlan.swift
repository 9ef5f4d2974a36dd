import Foundation
import KDCore
import KDStore

/// What to train on, resolved and checked against the databases: the task,
/// its labels, the teachers and the tokenizer, per database.
public struct TrainingPlan: Sendable {
  public struct Database: Sendable {
    public var path: String
    public var taskID: Int64
    public var tokenizerID: Int64
    public var teachers: [TrainingTeacher]
    /// Calibration temperature of each teacher (1: uncalibrated), `TeacherCalibration`.
    public var calibration: [Float] = []
  }

  public var task: String
  public var labels: [String]
  public var teacherNames: [String]
  public var vocabSize: Int
  public var tokenizerName: String
  /// The stored tokenizer definition (written next to checkpoints for `predict`).
  public var tokenizerDefinition: [UInt8]
  public var databases: [Database]

  /// Tasks to train when none is named: every task with cached teacher outputs (in the first database).
  public static func defaultTasks(dbPath: String) throws -> [String] {
    let store = try Store.open(path: dbPath)
    try store.useStreamingCache()
    let tasks = try store.tasksWithTeacherOutputs()
    if tasks.isEmpty {
      let all = try store.tasks().map(\.name)
      throw KDError(
        .input,
        all.isEmpty
          ? "the database has no tasks (run kd-ingest first)"
          : "no task has cached teacher outputs (tasks: \(all.joined(separator: ", "))); run kd-teacher-cache first",
        file: dbPath)
    }
    return tasks.map(\.name)
  }

  /// Resolves a task and its teachers in every database.
  ///
  /// - Parameters:
  ///   - teacherNames: teachers to distil from; empty picks the task's only teacher with outputs.
  ///   - needTeachers: false for a baseline alone (teachers are still used for agreement when present).
  /// - Throws: `KDError(.input)` for a missing task, an ambiguous or missing teacher, a teacher
  ///   without cached outputs, a label vocabulary mismatch, or databases that disagree.
  public static func resolve(dbPaths: [String], task: String, teacherNames: [String], needTeachers: Bool = true) throws
    -> TrainingPlan
  {
    guard let first = dbPaths.first else { throw KDError(.usage, "no database given", field: "--db") }
    var names = teacherNames
    var labels: [String] = []
    var vocab = 0
    var tokName = ""
    var tokDef: [UInt8] = []
    var dbs: [Database] = []
    for (i, path) in dbPaths.enumerated() {
      // The planning queries scan the task's tokenizations once: a small page
      // cache keeps memory independent of the database size.
      let store = try Store.open(path: path)
      try store.useStreamingCache()
      guard let t = try store.task(named: task) else {
        let known = try store.tasks().map(\.name)
        throw KDError(.input, "no task '\(task)' (tasks: \(known.isEmpty ? "none" : known.joined(separator: ", ")))",
                      file: path, field: "--task")
      }
      if t.multiLabel {
        throw KDError(.unsupported, "task '\(task)' is multi-label; kd-train trains single-label classifiers", file: path)
      }
      guard t.labels.count >= 2 else {
        throw KDError(.input, "task '\(task)' has \(t.labels.count) label(s); a classifier needs at least 2", file: path)
      }
      if i == 0 {
        labels = t.labels
      } else if t.labels != labels {
        throw KDError(.input, "label vocabulary of task '\(task)' differs from \(first)'s (\(t.labels.count) vs \(labels.count) labels, in class order)",
                      file: path, field: "labels")
      }
      let available = try store.teachers(task: t.id)
      if names.isEmpty {
        let withOutputs = available.filter { $0.outputs > 0 }
        if withOutputs.count == 1 {
          names = [withOutputs[0].teacher.name]
        } else if withOutputs.isEmpty {
          if needTeachers {
            throw KDError(.input, "no cached teacher outputs for task '\(task)' (run kd-teacher-cache first)", file: path)
          }
        } else {
          throw KDError(.usage, "task '\(task)' has several teachers with outputs (\(withOutputs.map(\.teacher.name).joined(separator: ", "))); choose with --teacher",
                        file: path, field: "--teacher")
        }
      }
      var teachers: [TrainingTeacher] = []
      for n in names {
        guard let found = available.first(where: { $0.teacher.name == n }) else {
          throw KDError(.input, "no teacher '\(n)' for task '\(task)' (teachers: \(available.map(\.teacher.name).joined(separator: ", ")))",
                        file: path, field: "--teacher")
        }
        if found.teacher.numOutputs != labels.count {
          throw KDError(.input, "teacher '\(n)' has \(found.teacher.numOutputs) outputs but task '\(task)' has \(labels.count) labels (label vocabulary mismatch)",
                        file: path, field: "teachers.num_outputs")
        }
        if needTeachers {
          let n2 = try store.teacherOutputCount(teacher: found.teacher.id, task: t.id, split: .train)
          if n2 == 0 {
            throw KDError(.input, "no cached outputs of teacher '\(n)' on the train split of task '\(task)' (run kd-teacher-cache)",
                          file: path)
          }
        }
        teachers.append(found.teacher)
      }
      // The tokenizer: the teacher's, else the one most examples of the task use.
      let toks = try store.tokenizers(task: t.id)
      guard !toks.isEmpty else {
        throw KDError(.input, "task '\(task)' has no tokenized examples (run kd-ingest with a tokenizer)", file: path)
      }
      let preferred = teachers.first?.tokenizerID
      let tok = toks.first(where: { $0.id == preferred }) ?? toks[0]
      guard let def = try store.tokenizerDefinition(id: tok.id) else {
        throw KDError(.input, "tokenizer \(tok.id) is missing", file: path)
      }
      if i == 0 {
        vocab = tok.vocabSize
        tokName = tok.name
        tokDef = def.json
      } else if tok.vocabSize != vocab {
        throw KDError(.input, "tokenizer '\(tok.name)' (vocab \(tok.vocabSize)) differs from \(first)'s (vocab \(vocab))", file: path)
      }
      let calibration = try teachers.map { Float(try store.teacherCalibration(teacherID: $0.id)?.temperature ?? 1) }
      dbs.append(Database(path: path, taskID: t.id, tokenizerID: tok.id, teachers: teachers, calibration: calibration))
    }
    return TrainingPlan(task: task, labels: labels, teacherNames: names, vocabSize: vocab, tokenizerName: tokName,
                        tokenizerDefinition: tokDef, databases: dbs)
  }

  /// Loader sources for a split.
  public func sources(split: Split, domains: [String]) -> [LoaderSource] {
    databases.map { d in
      LoaderSource(path: d.path,
                   query: TrainingQuery(taskID: d.taskID, split: split, tokenizerID: d.tokenizerID,
                                        teacherIDs: d.teachers.map(\.id), domains: domains),
                   teachers: d.teachers, calibration: d.calibration)
    }
  }

  /// What the students of this plan learned from: every teacher's identity, head, calibration and
  /// outputs (`Store.teacherOutputsFingerprint`). A finished student is reused only while it is unchanged.
  public func teacherFingerprint() throws -> String {
    var parts: [String] = []
    for d in databases where !d.teachers.isEmpty {
      let store = try Store.open(path: d.path, readOnly: true)
      for t in d.teachers { parts.append(try store.teacherOutputsFingerprint(teacherID: t.id)) }
    }
    return StableHash.hex(StableHash.fnv1a64(parts.joined(separator: ";")))
  }

  /// Examples of a split over all databases.
  public func counts(split: Split) throws -> SplitCounts {
    var c = SplitCounts(examples: 0, labeled: 0)
    for d in databases {
      let store = try Store.open(path: d.path)
      try store.useStreamingCache()
      let s = try store.splitCounts(task: d.taskID, split: split)
      c.examples += s.examples
      c.labeled += s.labeled
    }
    return c
  }
}
