import Foundation
import KDCore
import KDEval

/// The temperature that calibrates a teacher's logits: probabilities are softmax(z / temperature).
/// Fitted by kd-teacher-cache on the validation split (NLL) and stored in the teacher's
/// `head_json` under `"calibration"`; kd-train divides the cached logits by it where it
/// reads them, kd-report before computing confidences.
public struct TeacherCalibration: Codable, Sendable, Equatable {
  public var temperature: Double
  /// Split and number of labelled outputs it was fitted on.
  public var split: String
  public var examples: Int
  /// ECE and NLL on that split before (T = 1) and after scaling.
  public var eceBefore: Double
  public var eceAfter: Double
  public var nllBefore: Double
  public var nllAfter: Double
  /// The teacher's output count when it was fitted (a later run with more outputs refits).
  public var outputs: Int

  public init(temperature: Double, split: String, examples: Int, eceBefore: Double, eceAfter: Double, nllBefore: Double,
              nllAfter: Double, outputs: Int) {
    self.temperature = temperature
    self.split = split
    self.examples = examples
    self.eceBefore = eceBefore
    self.eceAfter = eceAfter
    self.nllBefore = nllBefore
    self.nllAfter = nllAfter
    self.outputs = outputs
  }

  enum CodingKeys: String, CodingKey {
    case temperature, split, examples, outputs
    case eceBefore = "ece_before", eceAfter = "ece_after", nllBefore = "nll_before", nllAfter = "nll_after"
  }
}

extension Store {
  /// The calibration recorded with a teacher, or nil (an uncalibrated teacher: T = 1).
  public func teacherCalibration(teacherID: Int64) throws -> TeacherCalibration? {
    guard let text = try db.scalarText("SELECT json_extract(head_json, '$.calibration') FROM teachers WHERE id = ? AND json_valid(head_json)",
                                       [.int(teacherID)])
    else { return nil }
    guard let c = try? JSONDecoder().decode(TeacherCalibration.self, from: Data(text.utf8)),
      c.temperature > 0, c.temperature.isFinite
    else {
      throw KDError(.input, "the teacher's calibration is not a positive temperature: \(text.prefix(200))", file: path,
                    field: "teachers.head_json.calibration")
    }
    return c
  }

  /// Records (replaces) a teacher's calibration inside its `head_json`.
  public func setTeacherCalibration(teacherID: Int64, _ calibration: TeacherCalibration) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    let json = String(decoding: try enc.encode(calibration), as: UTF8.self)
    try db.transaction {
      try db.run(
        """
        UPDATE teachers SET head_json = json_set(CASE WHEN json_valid(head_json) THEN head_json ELSE '{}' END,
                                                 '$.calibration', json(?)) WHERE id = ?
        """, [.text(json), .int(teacherID)])
    }
  }

  /// Fits a teacher's calibration temperature on its validation outputs (NLL, `TemperatureScaling`) and
  /// records it with the teacher (or removes a recorded one when too few labelled validation outputs are
  /// left). One code path for kd-teacher-cache, which fits after caching, and kd-merge, which refits on the
  /// merged outputs: shards each fitted on their own quarter, and a merged store or several stores read
  /// together must give the temperature one unsharded run gives.
  /// - Returns: the calibration now recorded, or nil (the logits are used as they are, T = 1).
  @discardableResult
  public func fitTeacherCalibration(teacher: TeacherRecord, taskID: Int64) throws -> TeacherCalibration? {
    let outputs = try teacherOutputSizes(teacherID: teacher.id).count
    let (logits, labels) = try teacherLogitsWithLabels(
      teacherID: teacher.id, storage: teacher.storage, numOutputs: teacher.numOutputs, taskID: taskID, split: .validation)
    guard let t = TemperatureScaling.fit(logits: logits, labels: labels) else {
      if try teacherCalibration(teacherID: teacher.id) != nil {
        try db.transaction {
          try db.run("UPDATE teachers SET head_json = json_remove(head_json, '$.calibration') WHERE id = ? AND json_valid(head_json)",
                     [.int(teacher.id)])
        }
      }
      return nil
    }
    let classes = teacher.numOutputs
    let before = TemperatureScaling.evaluation(logits: logits, labels: labels, temperature: 1, classes: classes)
    let after = TemperatureScaling.evaluation(logits: logits, labels: labels, temperature: t, classes: classes)
    let c = TeacherCalibration(
      temperature: t, split: Split.validation.rawValue, examples: labels.count, eceBefore: before.ece ?? 0,
      eceAfter: after.ece ?? 0,
      nllBefore: TemperatureScaling.negativeLogLikelihood(logits: logits, labels: labels, temperature: 1),
      nllAfter: TemperatureScaling.negativeLogLikelihood(logits: logits, labels: labels, temperature: t), outputs: outputs)
    try setTeacherCalibration(teacherID: teacher.id, c)
    return c
  }

  /// Raw logits of a teacher on the labelled, non-duplicate examples of a task's split, with the gold class
  /// (the lowest label position). Rows whose blob does not decode are an error naming the example.
  public func teacherLogitsWithLabels(teacherID: Int64, storage: TeacherStorage, numOutputs: Int, taskID: Int64,
                                      split: Split) throws -> (logits: [[Float]], labels: [Int]) {
    var logits: [[Float]] = []
    var labels: [Int] = []
    try forEachTeacherPrediction(teacherID: teacherID, storage: storage, numOutputs: numOutputs, taskID: taskID,
                                 split: split) { row in
      // Top-k outputs: the kept classes only; the rest get -inf (probability 0), as the loader treats them.
      var dense = [Float](repeating: -.infinity, count: numOutputs)
      for (j, c) in row.logits.indices.enumerated() where Int(c) < numOutputs { dense[Int(c)] = row.logits.values[j] }
      logits.append(dense)
      labels.append(row.gold)
    }
    return (logits, labels)
  }

  /// What a student trained on a teacher depends on: its identity, head (with calibration) and outputs.
  /// A finished student is reused only while this is unchanged.
  public func teacherOutputsFingerprint(teacherID: Int64) throws -> String {
    let s = try db.prepare(
      """
      SELECT h.id, h.created_at, COALESCE(h.checkpoint_hash, ''), COALESCE(h.head_json, ''), length(h.head_blob),
             (SELECT COUNT(*) FROM teacher_outputs o WHERE o.teacher_id = h.id),
             (SELECT MAX(o.example_id) FROM teacher_outputs o WHERE o.teacher_id = h.id),
             (SELECT MAX(o.run_id) FROM teacher_outputs o WHERE o.teacher_id = h.id)
      FROM teachers h WHERE h.id = ?
      """)
    try s.bind([.int(teacherID)])
    guard try s.step() else { return "missing:\(teacherID)" }
    let head = StableHash.hex(StableHash.fnv1a64(s.text(3)))
    return "\(s.int64(0))|\(s.text(1))|\(s.text(2))|\(head)|\(s.optionalInt(4) ?? 0)|\(s.int(5))|\(s.optionalInt(6) ?? 0)|\(s.optionalInt(7) ?? 0)"
  }

  /// The id of the newest `models` row with this name, task, checkpoint path and configuration, if any:
  /// an up-to-date rerun that reuses the checkpoint adds no new row.
  public func existingModel(name: String, taskID: Int64, path: String, configJSON: String) throws -> Int64? {
    try db.scalarInt(
      "SELECT MAX(id) FROM models WHERE name = ? AND task_id = ? AND path = ? AND config_json = ?",
      [.text(name), .int(taskID), .text(path), .text(configJSON)])
  }
}
