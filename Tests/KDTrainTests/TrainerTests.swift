import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing

@testable import KDTrain

@Suite struct TrainerTests {
  func smallOptions() -> TrainingOptions {
    var o = TrainingOptions()
    o.dimension = 8
    o.buckets = 64
    o.epochs = 4
    o.batchSize = 16
    o.learningRate = 0.05
    o.patience = 0
    o.checkpointEvery = 0
    o.shuffleBuffer = 64
    return o
  }

  func trainer(_ dir: TemporaryDirectory, db: String, options: TrainingOptions, name: String = "kd") throws -> Trainer {
    let plan = try TrainingPlan.resolve(dbPaths: [db], task: "topic", teacherNames: [])
    return try Trainer(plan: plan, options: options, name: name, layout: CheckpointLayout(root: dir.file("models/\(name)")))
  }

  @Test func trainsSavesAndReloadsTheBestCheckpoint() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    let store = try SyntheticStore().build(at: db)
    let runID = try store.beginRun(stage: "train", commandLine: ["test"])
    for kind in ["bow", "mlp"] {
      var o = smallOptions()
      o.student = kind
      o.hidden = [16]
      let t = try trainer(dir, db: db, options: o, name: kind)
      t.resultStore = store
      t.runID = runID
      let r = try t.run()
      #expect(r.validation.accuracy > 0.8, "\(kind) validation accuracy \(r.validation.accuracy)")
      let test = try #require(r.test)
      #expect(test.accuracy > 0.8 && test.examples == 60)
      #expect(r.validation.teacherAgreement != nil)
      #expect(r.inferenceExamplesPerSecond > 0)
      // The saved checkpoint gives the same test metrics.
      let loaded = try StudentCheckpoint.load(path: r.checkpoint)
      #expect(loaded.labels == ["class0", "class1", "class2"])
      #expect(loaded.config.kind == kind)
      let testLoader = try StreamingLoader(sources: t.plan.sources(split: .test, domains: []), options: t.loaderOptions(train: false))
      #expect(try t.evaluate(loaded.model, testLoader).accuracy == test.accuracy)
      #expect(FileManager.default.fileExists(atPath: r.checkpoint + "/tokenizer.json"))
      // Metrics as JSON lines: one train + one validation line per epoch, one test line.
      let lines = try String(contentsOfFile: t.layout.metricsFile, encoding: .utf8).split(separator: "\n")
      #expect(lines.count == 2 * 4 + 1)
    }
    // Metrics and models in the DB.
    let n = try store.db.scalarInt("SELECT COUNT(*) FROM metrics WHERE run_id = ? AND model = 'bow' AND split = 'validation' AND name = 'macro_f1'", [.int(runID)])
    #expect(n == 4)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM models WHERE run_id = ?", [.int(runID)]) == 2)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM metrics WHERE name = 'f1:class1' AND split = 'test'") == 2)
  }

  /// A run killed mid-way resumes from its saved state and ends with exactly the weights of an uninterrupted run.
  /// The student's validation temperature is folded into its output layer: the saved checkpoint's
  /// logits are already calibrated (a refit gives 1), and a rerun does not scale it again.
  @Test func studentTemperatureIsFittedOnValidationAndFoldedIntoTheOutputLayer() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    try SyntheticStore().build(at: db)
    var o = smallOptions()
    o.epochs = 6
    let t = try trainer(dir, db: db, options: o)
    let r = try t.run()
    let fitted = try #require(r.calibrationTemperature)
    #expect(fitted > 0.05 && fitted < 20)
    let loaded = try StudentCheckpoint.load(path: r.checkpoint)
    let validation = try StreamingLoader(sources: t.plan.sources(split: .validation, domains: []), options: t.loaderOptions(train: false))
    let again = try #require(try t.fitTemperature(loaded.model, validation))
    #expect(abs(again - 1) < 2e-3, "refit on the calibrated checkpoint: \(again)")
    let rerun = try trainer(dir, db: db, options: o).run()
    #expect(rerun.test?.accuracy == r.test?.accuracy)
    let reloaded = try StudentCheckpoint.load(path: rerun.checkpoint)
    #expect(reloaded.model.parameters.map(\.value) == loaded.model.parameters.map(\.value), "a rerun scaled the checkpoint again")
  }

  @Test func resumeAfterInterruptionMatchesAnUninterruptedRun() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    try SyntheticStore().build(at: db)
    var o = smallOptions()
    o.checkpointEvery = 7
    let straight = try trainer(dir, db: db, options: o, name: "straight").run()

    let t1 = try trainer(dir, db: db, options: o, name: "killed")
    var steps = 0
    t1.shouldStop = {
      steps += 1
      return steps == 30  // mid-epoch 2
    }
    #expect { try t1.run() } throws: { ($0 as? KDError)?.kind == .interrupted }
    let t2 = try trainer(dir, db: db, options: o, name: "killed")
    let resumed = try t2.run()
    #expect(resumed.resumed)
    #expect(resumed.steps == straight.steps)
    let a = try SafeTensorsF32.read(path: straight.checkpoint + "/model.safetensors")
    let b = try SafeTensorsF32.read(path: resumed.checkpoint + "/model.safetensors")
    #expect(a.keys.sorted() == b.keys.sorted())
    for k in a.keys { #expect(a[k]!.values == b[k]!.values, "tensor \(k) differs after resume") }
    // A finished run with the same settings and data is reused, not retrained ...
    let again = try trainer(dir, db: db, options: o, name: "killed").run()
    #expect(again.resumed && again.steps == straight.steps)
    let c = try SafeTensorsF32.read(path: again.checkpoint + "/model.safetensors")
    for k in a.keys { #expect(a[k]!.values == c[k]!.values) }
    // ... and --restart trains again from scratch.
    let fresh = try trainer(dir, db: db, options: o, name: "killed")
    fresh.restart = true
    #expect(try fresh.run().resumed == false)
  }

  @Test func kdUsesUnlabeledTextAndBaselineUsesOnlyKeptLabels() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    try SyntheticStore(train: 400).build(at: db)
    var o = smallOptions()
    o.labelFraction = 0.1
    o.alpha = 0.5
    let kd = try trainer(dir, db: db, options: o, name: "kd").run()
    o.alpha = 1
    let baseline = try trainer(dir, db: db, options: o, name: "baseline").run()
    #expect(kd.trainExamples == 400)
    #expect(baseline.trainExamples > 20 && baseline.trainExamples < 70)
  }

  @Test func emptySplitsAndNaNAreClearErrorsWithoutCheckpoints() throws {
    let dir = try TemporaryDirectory()
    // No validation examples.
    let noVal = dir.file("noval.sqlite")
    try SyntheticStore(validation: 0).build(at: noVal)
    #expect { try trainer(dir, db: noVal, options: smallOptions()).run() } throws: {
      ($0 as? KDError)?.message.contains("validation split") == true
    }
    // No train examples.
    let noTrain = dir.file("notrain.sqlite")
    try SyntheticStore(train: 0).build(at: noTrain)
    #expect {
      try TrainingPlan.resolve(dbPaths: [noTrain], task: "topic", teacherNames: [])
    } throws: { ($0 as? KDError)?.message.contains("no cached outputs") == true }
    var baseline = smallOptions()
    baseline.alpha = 1
    let plan = try TrainingPlan.resolve(dbPaths: [noTrain], task: "topic", teacherNames: [], needTeachers: false)
    #expect {
      try Trainer(plan: plan, options: baseline, name: "baseline", layout: CheckpointLayout(root: dir.file("m/b"))).run()
    } throws: { ($0 as? KDError)?.message.contains("train split of task 'topic' is empty") == true }
    // NaN teacher logits: a clear error, and no checkpoint folder.
    let nan = dir.file("nan.sqlite")
    try SyntheticStore(nanLogits: true).build(at: nan)
    let t = try trainer(dir, db: nan, options: smallOptions(), name: "nan")
    #expect { try t.run() } throws: { ($0 as? KDError)?.kind == .numeric }
    #expect(!FileManager.default.fileExists(atPath: t.layout.best))
    // A learning rate that blows up: the NaN loss is caught.
    let ok = dir.file("ok.sqlite")
    try SyntheticStore().build(at: ok)
    var wild = smallOptions()
    wild.learningRate = 1e30
    wild.clip = 0
    #expect { try trainer(dir, db: ok, options: wild, name: "wild").run() } throws: {
      ($0 as? KDError)?.kind == .numeric && ($0 as? KDError)?.message.contains("loss became") == true
    }
  }

  @Test func checkpointWritesAreAtomic() throws {
    let dir = try TemporaryDirectory()
    let path = dir.file("ckpt/best")
    try CheckpointWriter.write(path: path, files: ["a.txt": Data("one".utf8)])
    try CheckpointWriter.write(path: path, files: ["a.txt": Data("two".utf8), "b.txt": Data("x".utf8)])
    #expect(try String(contentsOfFile: path + "/a.txt", encoding: .utf8) == "two")
    let siblings = try FileManager.default.contentsOfDirectory(atPath: dir.file("ckpt"))
    #expect(siblings == ["best"])
    // A truncated weights file is refused with the file named.
    let model = try makeStudent(StudentConfig(kind: "bow", vocabSize: 10, buckets: 4, dimension: 3, numClasses: 2), seed: 1)
    var data = try StudentCheckpoint.weights(of: model)
    data.removeLast(10)
    try data.write(to: URL(fileURLWithPath: dir.file("bad.safetensors")))
    #expect { try StudentCheckpoint.loadWeights(into: model, path: dir.file("bad.safetensors")) } throws: {
      ($0 as? KDError)?.file == dir.file("bad.safetensors")
    }
  }
}
