import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing

@testable import KDTrain

/// Issue 16, findings 3, 9, 12, 13, 14 and 15: what kd-train compares and reuses.
@Suite struct HonestComparisonTests {
  func options() -> TrainingOptions {
    var o = TrainingOptions()
    o.dimension = 8
    o.buckets = 64
    o.epochs = 3
    o.batchSize = 16
    o.learningRate = 0.05
    o.patience = 0
    o.checkpointEvery = 0
    o.shuffleBuffer = 64
    return o
  }

  func request(_ dir: TemporaryDirectory, db: String, compare: Bool = false, options o: TrainingOptions? = nil) -> TrainingRequest {
    var r = TrainingRequest(databases: [db])
    r.tasks = ["topic"]
    r.options = o ?? options()
    r.compare = compare
    r.outputRoot = dir.file("models")
    r.measureTeacherSpeed = false
    r.lockTimeout = 5
    return r
  }

  /// Finding 3: a student trained on a partial teacher cache is not reused once the cache is complete.
  @Test func aStudentTrainedOnPartialTeacherOutputsIsRetrainedWhenTheyChange() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    let store = try SyntheticStore(teacherCoverage: 100).build(at: db)
    let first = try TrainingSession(request: request(dir, db: db)).run()
    #expect(first[0].results[0].resumed == false)
    // Same data, same teacher outputs: reused.
    var lines: [String] = []
    let again = TrainingSession(request: request(dir, db: db))
    again.log = { lines.append($0) }
    #expect(try again.run()[0].results[0].resumed == true)
    #expect(lines.contains { $0.contains("up to date") })
    // The teacher cache is completed (as kd-teacher-cache would after a partial run): retrained.
    let teacherID = try #require(try store.db.scalarInt("SELECT id FROM teachers"))
    let missing = try store.db.prepare(
      "SELECT e.id FROM examples e WHERE NOT EXISTS (SELECT 1 FROM teacher_outputs o WHERE o.example_id = e.id)")
    var ids: [Int64] = []
    while try missing.step() { ids.append(missing.int64(0)) }
    missing.reset()
    #expect(ids.count == 200)
    try store.db.transaction {
      for id in ids {
        try store.db.run("INSERT INTO teacher_outputs (example_id, teacher_id, logits) VALUES (?,?,?)",
                         [.int(id), .int(teacherID), .blob(TeacherOutputCodec.encode([1, 0, 0], storage: .f32))])
      }
    }
    lines = []
    let third = TrainingSession(request: request(dir, db: db))
    third.log = { lines.append($0) }
    #expect(try third.run()[0].results[0].resumed == false)
    #expect(!lines.contains { $0.contains("up to date") })
  }

  /// Finding 3: kd-train waits for a writer (kd-teacher-cache) and fails clearly after its timeout.
  @Test func waitsForTheWriterAndTimesOut() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    try SyntheticStore().build(at: db)
    var held: WriterLock? = try WriterLock(databasePath: db, stage: "teacher-cache", timeout: 1)
    var r = request(dir, db: db)
    r.lockTimeout = 0.5
    #expect { try TrainingSession(request: r).run() } throws: {
      ($0 as? KDError)?.kind == .lock && "\($0)".contains("teacher-cache")
    }
    // Released after a second: kd-train waits for it, then trains.
    DispatchQueue.global().asyncAfter(deadline: .now() + 1) { held?.release(); held = nil }
    r.lockTimeout = 30
    let start = Date()
    let out = try TrainingSession(request: r).run()
    #expect(Date().timeIntervalSince(start) >= 0.9)
    #expect(out[0].results.count == 1)
  }

  /// Finding 9: an up-to-date rerun adds no second `models` row.
  @Test func upToDateRerunAddsNoModelRow() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    let store = try SyntheticStore().build(at: db)
    for _ in 0..<3 { _ = try TrainingSession(request: request(dir, db: db)).run() }
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM models") == 1)
  }

  /// Finding 9: a full disk is reported as such.
  @Test func diskFullErrorsSayTheDiskIsFull() throws {
    let sqlite = DatabaseError(code: 13, message: "database or disk is full", sql: "INSERT INTO metrics ...", path: "/x/a.sqlite")
    let e = try #require(DiskFull.describe(sqlite) as? KDError)
    #expect(e.kind == .io && e.message.hasPrefix("the disk is full") && e.file == "/x/a.sqlite")
    let posix = NSError(domain: NSCocoaErrorDomain, code: NSFileWriteUnknownError,
                        userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))])
    #expect((DiskFull.describe(posix) as? KDError)?.message.hasPrefix("the disk is full") == true)
    let other = DatabaseError(code: 19, message: "constraint failed", sql: nil, path: "/x")
    #expect(DiskFull.describe(other) is DatabaseError)
  }

  /// Finding 12: the no-KD baseline, which sees only the labelled rows, gets the KD student's step
  /// budget and patience in steps instead of its epoch counts.
  @Test func theBaselineGetsTheKDStudentsStepBudget() throws {
    var o = TrainingOptions()
    o.epochs = 15
    o.patience = 4
    #expect(Trainer.budget(options: o, stepsPerEpoch: 8) == (15, 4))
    o.matchSteps = 15 * 80
    #expect(Trainer.budget(options: o, stepsPerEpoch: 8) == (150, 40))
    #expect(Trainer.budget(options: o, stepsPerEpoch: 100) == (15, 4))  // never fewer than given

    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    try SyntheticStore(train: 600).build(at: db)
    var opts = options()
    opts.labelFraction = 0.1
    opts.patience = 2
    let out = try TrainingSession(request: request(dir, db: db, compare: true, options: opts)).run()
    let kd = try #require(out[0].results.first { $0.name == "kd" })
    let baseline = try #require(out[0].results.first { $0.name == "baseline" })
    let kdBudget = try #require(kd.stepsPerEpoch) * 3
    #expect(try #require(baseline.stepsPerEpoch) < kd.stepsPerEpoch!)
    #expect(try #require(baseline.epochLimit) * baseline.stepsPerEpoch! >= kdBudget)
    #expect(try #require(baseline.patience) > 2)
  }

  /// Finding 12: a model that predicts one class on more than 90% of the test rows is flagged.
  @Test func aCollapsedModelIsFlaggedInTheTable() throws {
    var e = ClassificationEvaluation(classes: 3)
    for i in 0..<100 { e.add(gold: i % 3, predicted: i < 95 ? 1 : 0, confidence: 0.5) }
    #expect(e.isCollapsed && abs(e.dominantPredictionShare - 0.95) < 1e-9)
    var m = ClassificationMetrics(e)
    #expect(m.collapsed == true)
    var row = ComparisonRow(task: "t", model: "baseline", name: "baseline (bow)", testAccuracy: m.accuracy,
                            testMacroF1: m.macroF1, testExamples: 100, parameters: 10, sizeBytes: 2 << 20,
                            inferenceExamplesPerSecond: 1, checkpoint: nil, accuracyVsTeacher: nil)
    row.collapsed = m.collapsed
    row.dominantPredictionShare = m.dominantPredictionShare
    let table = comparisonTable([row])
    #expect(table.contains("baseline (bow) ⚠ collapsed") && table.contains("95% of the test rows"))
    #expect(table.contains("size on disk (MiB)") && table.contains("| 2.00 |"))
    var fine = ClassificationEvaluation(classes: 3)
    for i in 0..<100 { fine.add(gold: i % 3, predicted: i % 3, confidence: 0.9) }
    m = ClassificationMetrics(fine)
    #expect(m.collapsed == false)
    // A task whose majority class is 92% of the gold labels (claudette-like): predicting it on 94%
    // of the rows is not a collapse; on 99% (most minority rows swallowed) it is.
    var imbalanced = ClassificationEvaluation(classes: 2)
    for i in 0..<100 { imbalanced.add(gold: i < 92 ? 0 : 1, predicted: i < 94 ? 0 : 1, confidence: 0.9) }
    #expect(!imbalanced.isCollapsed && imbalanced.dominantPredictionShare > ClassificationEvaluation.collapseShare)
    var swallowed = ClassificationEvaluation(classes: 2)
    for i in 0..<100 { swallowed.add(gold: i < 92 ? 0 : 1, predicted: i < 99 ? 0 : 1, confidence: 0.9) }
    #expect(swallowed.isCollapsed)
  }

  /// Finding 13: the teacher's calibration temperature divides its logits where the loader reads them;
  /// the teacher row of --compare reports its ECE.
  @Test func teacherCalibrationIsAppliedToTargetsAndReportedECE() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    let store = try SyntheticStore().build(at: db)
    let teacherID = try #require(try store.db.scalarInt("SELECT id FROM teachers"))
    let plan0 = try TrainingPlan.resolve(dbPaths: [db], task: "topic", teacherNames: [])
    let raw = try teacherTestMetrics(plan: plan0)
    try store.setTeacherCalibration(teacherID: teacherID, TeacherCalibration(
      temperature: 0.5, split: "validation", examples: 60, eceBefore: 0.2, eceAfter: 0.05, nllBefore: 1, nllAfter: 0.5,
      outputs: 420))
    #expect(try store.teacherCalibration(teacherID: teacherID)?.temperature == 0.5)
    let plan = try TrainingPlan.resolve(dbPaths: [db], task: "topic", teacherNames: [])
    #expect(plan.databases[0].calibration == [0.5])
    let calibrated = try teacherTestMetrics(plan: plan)
    // Same predictions, sharper probabilities.
    #expect(calibrated.accuracy == raw.accuracy && calibrated.confusion == raw.confusion)
    #expect(try #require(calibrated.meanConfidence) > raw.meanConfidence! + 0.05)
    // Targets: softmax(z / 0.5 / T) equals softmax(z / (0.5 T)) of the raw logits.
    var o = LoaderOptions(numClasses: 3, vocabSize: 60)
    o.shuffle = false
    o.bucketing = false
    let a = try StreamingLoader(sources: plan.sources(split: .test, domains: []), options: o).allBatches()[0]
      .teacherTargets(temperature: 2)
    let b = try StreamingLoader(sources: plan0.sources(split: .test, domains: []), options: o).allBatches()[0]
      .teacherTargets(temperature: 1)
    for i in 0..<a.count { #expect(abs(a[i] - b[i]) < 1e-5) }
    // --compare: the teacher row carries its ECE and temperature.
    let out = try TrainingSession(request: request(dir, db: db, compare: true)).run()
    let teacherRow = try #require(out[0].rows.first { $0.model == "teacher" })
    #expect(teacherRow.testECE == calibrated.ece && teacherRow.calibrationTemperature == 0.5)
    #expect(out[0].rows.allSatisfy { $0.testECE != nil })
    #expect(out[0].teacherTemperatures == ["teacher-a": 0.5])
  }

  /// Finding 15: exact duplicates left out are counted per split in the summary.
  @Test func skippedDuplicatesAreReportedPerSplit() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    let store = try SyntheticStore().build(at: db)
    try store.db.run(
      "UPDATE examples SET duplicate_of = (SELECT MIN(id) FROM examples) WHERE id IN (SELECT id FROM examples WHERE split = 'test' ORDER BY id DESC LIMIT 7)")
    try store.db.run(
      "UPDATE examples SET duplicate_of = (SELECT MIN(id) FROM examples) WHERE id IN (SELECT id FROM examples WHERE split = 'train' ORDER BY id DESC LIMIT 3)")
    let out = try TrainingSession(request: request(dir, db: db)).run()
    #expect(out[0].skippedDuplicates == ["train": 3, "validation": 0, "test": 7])
    #expect(out[0].examples == ["train": 297, "validation": 60, "test": 53])
    #expect(out[0].results[0].test?.examples == 53)
    let text = duplicatesSummary(out)
    #expect(text.contains("topic: exact duplicates skipped: train 3 of 300 (1.0%), validation 0 of 60 (0.0%), test 7 of 60 (11.7%)"))
  }

  /// Finding 14: the default student is at most 1/20 of all-MiniLM-L6-v2 (22.7M parameters) for its
  /// vocabulary (30,522) and 77 classes.
  @Test func theDefaultStudentIsSmall() throws {
    let o = TrainingOptions()
    let config = StudentConfig(kind: o.student, vocabSize: 30522, buckets: o.buckets, dimension: o.dimension, hidden: [],
                               numClasses: 77, maxTokens: o.maxTokens)
    let model = try makeStudent(config, seed: 1)
    #expect(model.parameterCount * 20 <= 22_713_216, "\(model.parameterCount) parameters")
  }
}
