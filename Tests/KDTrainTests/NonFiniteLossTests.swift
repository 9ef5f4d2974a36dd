import Foundation
import KDCore
import KDStore
import KDTestSupport
import Testing

@testable import KDTrain

/// A loss that becomes NaN, or weights that overflow, in the middle of training stops training
/// with its epoch and step, and keeps the last good best model and resumable state on disk
/// exactly as they were (issue 13, bad input). The fault is injected at a chosen step with
/// `TrainingFailpoint` (`KD_TRAIN_FAILPOINT` for the executable), so the test does not depend on
/// how fast a given learning rate overflows on a given machine.
@Suite struct NonFiniteLossTests {
  /// Every file of a folder, by name (empty when the folder does not exist).
  static func snapshot(_ folder: String) -> [String: Data] {
    var out: [String: Data] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
      out[name] = FileManager.default.contents(atPath: (folder as NSString).appendingPathComponent(name))
    }
    return out
  }

  /// The epoch and step a numeric error names ("... at epoch E, step S ...").
  static func epochAndStep(_ message: String) -> (epoch: Int, step: Int)? {
    guard let r = message.range(of: #"epoch (\d+), step (\d+)"#, options: .regularExpression) else { return nil }
    let numbers = message[r].split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
    return numbers.count == 2 ? (numbers[0], numbers[1]) : nil
  }

  static func allFinite(_ file: String) throws -> Bool {
    try SafeTensorsF32.read(path: file).values.allSatisfy { $0.values.allSatisfy(\.isFinite) }
  }

  func options(student: String) -> TrainingOptions {
    var o = TrainingOptions()
    o.student = student
    o.epochs = 4
    o.batchSize = 16
    o.patience = 0
    o.decay = .constant
    o.warmup = 0
    o.clip = 0
    o.checkpointEvery = 5
    o.shuffleBuffer = 64
    if student == "transformer" {
      var t = TransformerOptions()
      t.layers = 1
      t.hiddenSize = 16
      t.heads = 2
      t.intermediateSize = 32
      t.initialization = "random"
      t.threads = 1
      t.dropout = 0
      o.transformer = t
      o.maxTokens = 32
      o.learningRate = 1e-3
    } else {
      o.dimension = 8
      o.buckets = 64
      o.learningRate = 0.05
    }
    return o
  }

  /// The first step after `step` at which a checkpoint is saved (`checkpointEvery` 5).
  static func checkpointStep(after step: Int) -> Int { (step / 5 + 1) * 5 }

  /// Optimizer steps per epoch of `options` on the synthetic store (from a one-epoch run).
  func stepsPerEpoch(_ options: TrainingOptions, plan: TrainingPlan, dir: TemporaryDirectory) throws -> Int {
    var o = options
    o.epochs = 1
    let r = try Trainer(plan: plan, options: o, name: "probe", layout: CheckpointLayout(root: dir.file("models/probe"))).run()
    return try #require(r.stepsPerEpoch)
  }

  @Test(arguments: ["bow", "transformer"], [TrainingFailpoint.Kind.nanLoss, .infWeight])
  func nonFiniteLossStopsWithEpochAndStepAndKeepsTheLastGoodFiles(student: String, fault: TrainingFailpoint.Kind) throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    try SyntheticStore().build(at: db)
    let plan = try TrainingPlan.resolve(dbPaths: [db], task: "topic", teacherNames: [])
    let options = options(student: student)
    let spe = try stepsPerEpoch(options, plan: plan, dir: dir)
    // A step of epoch 3 at which a checkpoint is due (every 5 steps): best/ holds an epoch-1 or
    // epoch-2 model, state/ a mid-epoch save, and an overflowing weight is caught before it is saved.
    let failAt = Self.checkpointStep(after: 2 * spe)
    let trainer = try Trainer(plan: plan, options: options, name: "kd",
                              layout: CheckpointLayout(root: dir.file("models/kd")))
    trainer.failpoint = TrainingFailpoint(fault, step: failAt)
    // The files as they were before each step: the last snapshot is the state just before the failure.
    var best: [String: Data] = [:]
    var state: [String: Data] = [:]
    trainer.shouldStop = {
      best = Self.snapshot(trainer.layout.best)
      state = Self.snapshot(trainer.layout.state)
      return false
    }
    var error: KDError?
    do {
      _ = try trainer.run()
    } catch let e as KDError {
      error = e
    }
    let e = try #require(error, "\(student): training with \(fault) at step \(failAt) did not fail")
    #expect(e.kind == .numeric, "\(student): \(e)")
    #expect(e.message.contains(fault == .nanLoss ? "loss became" : "weights became non-finite"), "\(e.message)")
    let at = try #require(Self.epochAndStep(e.message), "\(student): no epoch and step in '\(e.message)'")
    #expect(at.epoch == 3, "\(student): \(e.message)")
    // A NaN loss is caught at its own step, an overflowing weight at the save that follows its update.
    #expect(at.step == failAt, "\(e.message)")
    // The best model and the resumable state are those of before the failure, byte for byte, finite and loadable.
    #expect(best["model.safetensors"] != nil && state["trainer_state.json"] != nil)
    #expect(Self.snapshot(trainer.layout.best) == best, "\(student): best/ changed after the failure")
    #expect(Self.snapshot(trainer.layout.state) == state, "\(student): state/ changed after the failure")
    #expect(try Self.allFinite(trainer.layout.best + "/model.safetensors"))
    #expect(try Self.allFinite(trainer.layout.state + "/model.safetensors"))
    let loaded = try StudentCheckpoint.load(path: trainer.layout.best)
    #expect(loaded.config.kind == student)
    let logits = loaded.model.forward(Batch.of(tokens: [[0, 10, 11, 12]], numClasses: 3), training: false)
    #expect(logits.count == 3 && logits.allSatisfy(\.isFinite))
  }

  /// The same through the executable: exit 1 (a fatal error, the code of numeric errors), the
  /// message names epoch and step, and best/ holds the weights of the last good epoch: byte-equal
  /// to those of a run that stops before the failing epoch.
  @Test func kdTrainExitsWithTheNumericErrorCodeAndKeepsTheBestModel() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    try SyntheticStore().build(at: db)
    let bin = (TestPaths.binaries as NSString).appendingPathComponent("kd-train")
    guard FileManager.default.isExecutableFile(atPath: bin) else {
      TestPaths.skipNote("kd-train at \(bin)")
      return
    }
    let common = ["--db", db, "--dim", "8", "--buckets", "64", "--batch-size", "16", "--lr", "0.05",
                  "--schedule", "constant", "--warmup", "0", "--clip", "0", "--patience", "0", "--checkpoint-every", "5",
                  "--quiet"]
    // Fail in epoch 3 (steps per epoch from the library, on the same store and options).
    let plan = try TrainingPlan.resolve(dbPaths: [db], task: "topic", teacherNames: [])
    let spe = try stepsPerEpoch(options(student: "bow"), plan: plan, dir: dir)
    let failed = try runCommand(bin, common + ["--epochs", "4"],
                                environment: [TrainingFailpoint.environmentVariable: "nan-loss@\(Self.checkpointStep(after: 2 * spe))"])
    #expect(failed.status == 1, "exit \(failed.status): \(failed.stderr)")
    let at = try #require(Self.epochAndStep(failed.stderr), "no epoch and step in: \(failed.stderr)")
    #expect(at.epoch == 3, "\(failed.stderr)")
    #expect(failed.stderr.contains("loss became"))
    let best = dir.file("kd-models/topic/kd/best")
    let weights = try #require(FileManager.default.contents(atPath: best + "/model.safetensors"))
    #expect(try Self.allFinite(best + "/model.safetensors"))
    // A run that ends before the failing epoch saves the same best weights.
    // (A finished run then folds its validation temperature into the output layer; a failed one
    // never gets there, so the reference's output layer is compared after undoing that scale.)
    let reference = try runCommand(bin, common + ["--epochs", "\(at.epoch - 1)", "--name", "reference", "--json"])
    #expect(reference.status == 0, "\(reference.stderr)")
    let summary = try #require(try JSONSerialization.jsonObject(with: Data(reference.stdout.utf8)) as? [String: Any])
    let result = try #require(((summary["tasks"] as? [[String: Any]])?.first?["results"] as? [[String: Any]])?.first)
    let t = Float(result["calibration_temperature"] as? Double ?? 1)
    let expected = try SafeTensorsF32.read(path: dir.file("kd-models/topic/reference/best/model.safetensors"))
    let got = try SafeTensorsF32.read(path: best + "/model.safetensors")
    #expect(Set(expected.keys) == Set(got.keys))
    _ = weights
    for (name, e) in expected {
      let g = try #require(got[name])
      if name.hasPrefix("output.") {
        let close = zip(e.values, g.values).allSatisfy { abs($0 * t - $1) <= 1e-5 * max(1, abs($1)) }
        #expect(close, "\(name): best/ of the failed run is not the last good epoch's model (T \(t))")
      } else {
        #expect(e.values == g.values, "\(name): best/ of the failed run is not the last good epoch's model")
      }
    }
  }
}
