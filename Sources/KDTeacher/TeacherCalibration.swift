import Foundation
import KDCore
import KDEval
import KDStore

extension TeacherCache {
  /// Fits the teacher's calibration temperature on its validation outputs (NLL, `TemperatureScaling`) and
  /// stores it with the teacher, for every head (fitted, the checkpoint's own, external).
  ///
  /// A fitted logistic-regression head is L2-regularised and fitted on few labels, so on many classes it
  /// is underconfident (30 clause types: mean confidence 0.28 at 68% accuracy); one temperature fixes that
  /// without changing any prediction. The fit is kept while the output count is unchanged.
  /// - Returns: the calibration in force, or nil when the task's validation split has fewer than
  ///   `TemperatureScaling.minimumExamples` labelled outputs (the logits are then used as they are).
  func calibrate(teacher: TeacherRecord, task: TaskRecord) throws -> TeacherCalibration? {
    let outputs = try store.teacherOutputSizes(teacherID: teacher.id).count
    if let existing = try store.teacherCalibration(teacherID: teacher.id), existing.outputs == outputs {
      return existing
    }
    guard let c = try store.fitTeacherCalibration(teacher: teacher, taskID: task.id) else {
      let usable = try store.teacherLogitsWithLabels(
        teacherID: teacher.id, storage: teacher.storage, numOutputs: teacher.numOutputs, taskID: task.id, split: .validation
      ).labels.count
      if usable > 0 {
        log("\(teacher.name): not calibrated (\(usable) labelled validation outputs, \(TemperatureScaling.minimumExamples) needed); probabilities use the raw logits")
      }
      return nil
    }
    let t = c.temperature
    log(String(format: "%@: calibration temperature %.3f on %d validation outputs (ECE %.3f -> %.3f)", teacher.name, t,
               c.examples, c.eceBefore, c.eceAfter))
    return c
  }
}
