import Foundation
import KDCore
import KDTensor
import KDTestSupport
import XCTest

@testable import KDTrain

/// Teacher fine-tuning (`kd-train teacher`) on the tiny BERT fixture and a small text task.
final class TeacherFineTuningTests: XCTestCase {
  func makeTuner(_ dir: TemporaryDirectory, _ o: FineTuneOptions, state: String = "state") throws -> TeacherFineTuner {
    let teacher = dir.file("tiny-teacher")
    if !FileManager.default.fileExists(atPath: teacher) { _ = try FineTuneFixture.teacher(in: dir) }
    let db = dir.file("ft.sqlite")
    if !FileManager.default.fileExists(atPath: db) { try FineTuneFixture.store(at: db) }
    let data = try FineTuneData.load(db: db, task: "topic", tokenizerPath: teacher + "/vocab.txt", options: o)
    return try TeacherFineTuner(teacherDirectory: teacher, data: data, options: o, stateDirectory: dir.file(state))
  }

  func options() -> FineTuneOptions {
    var o = FineTuneOptions()
    o.learningRate = 2e-3
    o.epochs = 4
    o.batchSize = 8
    o.patience = 0
    o.warmup = 0
    o.checkpointEvery = 5
    o.headInit = "random"
    return o
  }

  func testFineTuningReducesTrainingLossAndLeavesTheSourceUnchanged() throws {
    let dir = try TemporaryDirectory()
    var o = options()
    o.epochs = 6
    let tuner = try makeTuner(dir, o)
    let before = try FineTuneFixture.fingerprint(dir.file("tiny-teacher"))
    XCTAssertEqual(tuner.data.train.count, 120)
    XCTAssertEqual(tuner.data.validation.count, 30)
    // Tokenized with the teacher's vocabulary: [CLS] … [SEP].
    XCTAssertEqual(tuner.data.train[0].ids.first, 2)
    XCTAssertEqual(tuner.data.train[0].ids.last, 3)
    let loss0 = tuner.trainingLoss()
    let result = try tuner.run()
    let loss1 = tuner.trainingLoss()
    XCTAssertLessThan(loss1, loss0 * 0.8, "training loss \(loss0) → \(loss1)")
    XCTAssertEqual(result.epochs.count, 6)
    XCTAssertGreaterThan(result.bestValidationMacroF1, 0.5)
    XCTAssertNotNil(result.test)
    XCTAssertEqual(try FineTuneFixture.fingerprint(dir.file("tiny-teacher")), before, "the source teacher folder changed")
  }

  func testEarlyStoppingKeepsTheBestValidationEpoch() throws {
    let dir = try TemporaryDirectory()
    var o = options()
    o.learningRate = 3e-2  // large enough that validation F1 moves up and down
    o.epochs = 8
    o.patience = 2
    let tuner = try makeTuner(dir, o)
    let r = try tuner.run()
    let f1s = r.epochs.map(\.validationMacroF1)
    let best = f1s.indices.max { f1s[$0] < f1s[$1] || (f1s[$0] == f1s[$1] && $0 > $1) }!
    XCTAssertEqual(r.bestEpoch, best + 1, "history \(f1s)")
    XCTAssertEqual(r.bestValidationMacroF1, f1s[best])
    // Stops `patience` epochs after the best one, or at the last epoch.
    XCTAssertEqual(r.epochs.count, min(o.epochs, r.bestEpoch + o.patience), "history \(f1s)")
    XCTAssertEqual(r.stoppedEarly, r.epochs.count < o.epochs)
    // The weights left in the model are the best epoch's, not the last one's.
    XCTAssertEqual(tuner.evaluate(tuner.data.validation).macroF1, r.bestValidationMacroF1, accuracy: 1e-9)
  }

  func testResumesFromTheSavedStateAfterAnInterruption() throws {
    let dir = try TemporaryDirectory()
    var o = options()
    o.epochs = 3
    let first = try makeTuner(dir, o)
    var stopAt = 0
    first.afterStep = { stopAt = $0 }
    first.shouldStop = { stopAt >= 22 }  // mid-epoch 2 (15 steps per epoch), after the checkpoint at step 20
    XCTAssertThrowsError(try first.run()) { e in
      XCTAssertTrue((e as? KDError)?.message.hasPrefix("interrupted") ?? false, "\(e)")
    }
    let second = try makeTuner(dir, o)
    let r = try second.run()
    XCTAssertEqual(r.resumedFromStep, 22)
    XCTAssertEqual(r.epochs.map(\.epoch), [1, 2, 3])
    // Other options cannot resume that state.
    var other = o
    other.learningRate = 1e-4
    let third = try makeTuner(dir, other)
    XCTAssertThrowsError(try third.run()) { e in XCTAssertEqual((e as? KDError)?.kind, .input) }
    XCTAssertNoThrow(try makeTuner(dir, other, state: "fresh").run())
  }

  /// LP-FT: the fitted head on the frozen encoder is epoch 0 of the selection; mean pooling trains.
  func testFittedHeadIsEpochZeroAndMeanPoolingFineTunes() throws {
    let dir = try TemporaryDirectory()
    var o = options()
    o.headInit = "fit"
    o.pooling = "mean"
    o.epochs = 2
    o.learningRate = 1e-3
    let tuner = try makeTuner(dir, o)
    XCTAssertEqual(tuner.bert.classifierPooling, .mean)
    let loss0 = tuner.trainingLoss()
    let r = try tuner.run()
    XCTAssertEqual(r.epochs.map(\.epoch), [0, 1, 2])
    // The fitted head already separates the classes better than chance (3 balanced classes).
    XCTAssertGreaterThan(r.epochs[0].validationMacroF1, 0.4, "\(r.epochs)")
    XCTAssertGreaterThanOrEqual(r.bestValidationMacroF1, r.epochs[0].validationMacroF1)
    XCTAssertEqual(tuner.evaluate(tuner.data.validation).macroF1, r.bestValidationMacroF1, accuracy: 1e-9)
    XCTAssertLessThan(tuner.trainingLoss(), loss0 * 0.8)
    // auto: cls for a checkpoint without sentence-transformers pooling, mean with it.
    var auto = FineTuneOptions()
    XCTAssertEqual(try auto.resolvedPooling(teacherDirectory: dir.file("tiny-teacher")), .cls)
    try FileManager.default.createDirectory(atPath: dir.file("st/1_Pooling"), withIntermediateDirectories: true)
    try Data(#"{"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": false}"#.utf8).write(to: URL(fileURLWithPath: dir.file("st/1_Pooling/config.json")))
    XCTAssertEqual(try auto.resolvedPooling(teacherDirectory: dir.file("st")), .mean)
    auto.pooling = "max"
    XCTAssertThrowsError(try auto.validate()) { XCTAssertEqual(($0 as? KDError)?.field, "--pooling") }
  }

  /// Long texts: training reads the first `maxTokens` window, while the validation selection, the test
  /// line and the LP-FT head see every window, averaged, as kd-teacher-cache scores a long text.
  func testLongTextsAreScoredByTheAverageOfTheirWindows() throws {
    let dir = try TemporaryDirectory()
    var o = options()
    o.maxTokens = 6
    o.epochs = 1
    o.headInit = "fit"
    o.pooling = "mean"
    let tuner = try makeTuner(dir, o)
    for e in tuner.data.train + tuner.data.validation {
      XCTAssertEqual(e.ids, e.windows[0])
      XCTAssertTrue(e.windows.allSatisfy { $0.count <= 6 && $0.first == 2 && $0.last == 3 }, "\(e.windows)")
    }
    XCTAssertGreaterThan(tuner.data.validation.filter { $0.windows.count > 1 }.count, 20)
    let r = try tuner.run()
    let C = tuner.data.labels.count
    func score(_ windows: (FineTuneExample) -> [[Int32]]) -> (accuracy: Double, loss: Double) {
      var correct = 0, loss = 0.0
      for e in tuner.data.validation {
        let ws = windows(e)
        var z = [Float](repeating: 0, count: C)
        for w in ws {
          let l = tuner.bert.forward([w], training: false)
          for j in 0..<C { z[j] += l[j] / Float(ws.count) }
        }
        let p = classSoftmax(z[...])
        if p.indices.max(by: { p[$0] < p[$1] }) == e.label { correct += 1 }
        loss -= Foundation.log(Double(max(p[e.label], 1e-12)))
      }
      return (Double(correct) / Double(tuner.data.validation.count), loss / Double(tuner.data.validation.count))
    }
    let all = score(\.windows), first = score { [$0.ids] }
    let got = tuner.evaluate(tuner.data.validation)
    XCTAssertEqual(got.accuracy, all.accuracy, accuracy: 1e-9)
    XCTAssertEqual(try XCTUnwrap(got.loss), all.loss, accuracy: 1e-4)
    XCTAssertGreaterThan(abs(all.loss - first.loss), 1e-3, "the windows should change the score")
    XCTAssertEqual(got.macroF1, r.bestValidationMacroF1, accuracy: 1e-9)
  }

  /// `--train-windows all`: every window of a long text is a training row with the text's label
  /// (more steps per epoch), and the run trains; the default reads first windows only.
  func testTrainingOnEveryWindow() throws {
    let dir = try TemporaryDirectory()
    var o = options()
    o.maxTokens = 6
    o.epochs = 1
    let first = try makeTuner(dir, o, state: "first")
    XCTAssertEqual(first.trainItems.count, first.data.train.count)
    XCTAssertTrue(first.trainItems.allSatisfy { $0.window == 0 })
    o.trainWindows = "all"
    let all = try makeTuner(dir, o, state: "all")
    let windows = all.data.train.map(\.windows.count).reduce(0, +)
    XCTAssertEqual(all.trainItems.count, windows)
    XCTAssertGreaterThan(windows, all.data.train.count + 20)
    XCTAssertGreaterThan(all.stepsPerEpoch, first.stepsPerEpoch)
    XCTAssertNotEqual(all.fingerprint, first.fingerprint)
    let r = try all.run()
    XCTAssertTrue(r.epochs.allSatisfy { $0.trainLoss.isFinite })
    o.trainWindows = "some"
    XCTAssertThrowsError(try o.validate()) { XCTAssertEqual(($0 as? KDError)?.field, "--train-windows") }
  }

  /// A kill during epoch 1 after the fitted head resumes from the saved state, not from a new fit.
  func testResumeAfterTheFittedHead() throws {
    let dir = try TemporaryDirectory()
    var o = options()
    o.headInit = "fit"
    o.epochs = 2
    let first = try makeTuner(dir, o)
    var stopAt = 0
    first.afterStep = { stopAt = $0 }
    first.shouldStop = { stopAt >= 6 }
    XCTAssertThrowsError(try first.run())
    let second = try makeTuner(dir, o)
    let r = try second.run()
    XCTAssertEqual(r.resumedFromStep, 6)
    XCTAssertEqual(r.epochs.map(\.epoch), [0, 1, 2])
  }

  /// WiSE-FT: `--interpolate auto` tries α = 0, 0.1, …, 1 on validation, keeps the best, and leaves
  /// `(1 − α)·start + α·selected` in the model; it is not part of the resume fingerprint.
  func testInterpolationKeepsTheBestMixOfStartAndFineTunedWeights() throws {
    let dir = try TemporaryDirectory()
    var o = options()
    o.headInit = "fit"
    o.pooling = "mean"
    o.epochs = 3
    o.learningRate = 1e-3
    o.dropout = 0
    o.interpolate = "auto"
    let tuner = try makeTuner(dir, o)
    var plain = o
    plain.interpolate = nil
    XCTAssertEqual(tuner.fingerprint, try makeTuner(dir, plain, state: "other").fingerprint)
    let r = try tuner.run()
    XCTAssertGreaterThan(r.bestEpoch, 0, "fine-tuning should beat the fitted head here: \(r.epochs)")
    let interp = try XCTUnwrap(r.interpolation)
    XCTAssertEqual(interp.validationMacroF1.map { $0[0] }, (0...10).map { Double(Float($0) / 10) })
    // α = 0 is epoch 0, α = 1 the selected epoch; the kept α has the best validation score.
    XCTAssertEqual(interp.validationMacroF1.first?[1], r.epochs[0].validationMacroF1)
    XCTAssertEqual(interp.validationMacroF1.last?[1], r.bestValidationMacroF1)
    let bestF1 = interp.validationMacroF1.map { $0[1] }.max()!
    let kept = try XCTUnwrap(interp.validationMacroF1.first { Float($0[0]) == interp.alpha })
    XCTAssertEqual(kept[1], bestF1)
    XCTAssertEqual(tuner.evaluate(tuner.data.validation).macroF1, bestF1, accuracy: 1e-9)
    XCTAssertNotNil(interp.testFineTuned)
    // The weights are the mix of the two saved files.
    let start = try SafetensorsFile(path: dir.file("state/best-e0.safetensors"))
    let tuned = try SafetensorsFile(path: dir.file("state/best-e\(r.bestEpoch).safetensors"))
    let a = interp.alpha
    for p in tuner.bert.parameters {
      let s = try start.floats(p.name), t = try tuned.floats(p.name)
      for j in Swift.stride(from: 0, to: p.count, by: max(1, p.count / 7)) {
        XCTAssertEqual(p.value[j], (1 - a) * s[j] + a * t[j], accuracy: 1e-6, "\(p.name)[\(j)]")
      }
    }
    // A fixed α needs the fitted start; out-of-range values are usage errors.
    var bad = FineTuneOptions()
    bad.interpolate = "1.5"
    XCTAssertThrowsError(try bad.validate()) { XCTAssertEqual(($0 as? KDError)?.field, "--interpolate") }
    bad.interpolate = "0.5"
    bad.headInit = "random"
    XCTAssertThrowsError(try bad.validate()) { XCTAssertEqual(($0 as? KDError)?.field, "--interpolate") }
    bad.interpolate = "auto"
    XCTAssertNoThrow(try bad.validate())
  }

  func testClassWeightsAndOptionErrors() throws {
    var o = FineTuneOptions()
    o.classWeights = "balanced"
    XCTAssertEqual(try o.weights(counts: [30, 10]), [40 / 60, 40 / 20])
    o.classWeights = "1,2"
    XCTAssertEqual(try o.weights(counts: [3, 4]), [1, 2])
    o.classWeights = "1,2,3"
    XCTAssertThrowsError(try o.weights(counts: [3, 4])) { XCTAssertEqual(($0 as? KDError)?.field, "--class-weights") }
    o = FineTuneOptions()
    o.layerDecay = 1.5
    XCTAssertThrowsError(try o.validate()) { XCTAssertEqual(($0 as? KDError)?.field, "--layer-decay") }
  }
}
