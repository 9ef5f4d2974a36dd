import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing

@testable import KDTrain

@Suite struct LoaderTests {
  func loader(_ paths: [String], split: Split = .train, configure: (inout LoaderOptions) -> Void = { _ in }) throws
    -> StreamingLoader
  {
    let plan = try TrainingPlan.resolve(dbPaths: paths, task: "topic", teacherNames: [])
    var o = LoaderOptions(numClasses: plan.labels.count, vocabSize: plan.vocabSize)
    o.batchSize = 8
    o.blockSize = 37
    o.shuffleBuffer = 50
    o.bucketPool = 4
    o.seed = 3
    configure(&o)
    return try StreamingLoader(sources: plan.sources(split: split, domains: []), options: o)
  }

  func ids(_ batches: [Batch]) -> [Int64] { batches.flatMap(\.exampleIDs) }

  /// Content keys of the labeled train examples of the synthetic store's task, by example id.
  func contentKeys(_ path: String) throws -> [Int64: UInt64] {
    let store = try Store.open(path: path, readOnly: true)
    let task = try #require(try store.task(named: "topic"))
    return Dictionary(uniqueKeysWithValues: try store.labeledExamples(taskID: task.id, split: .train).map { ($0.exampleID, $0.contentKey) })
  }

  @Test func epochsAreDeterministicPermutations() throws {
    let dir = try TemporaryDirectory()
    try SyntheticStore().build(at: dir.file("a.sqlite"))
    let l = try loader([dir.file("a.sqlite")])
    let e0 = try l.allBatches(epoch: 0)
    let again = try l.allBatches(epoch: 0)
    let e1 = try l.allBatches(epoch: 1)
    #expect(ids(e0) == ids(again))
    #expect(ids(e0) != ids(e1))
    #expect(Set(ids(e0)) == Set(ids(e1)))
    #expect(ids(e0).count == 300 && Set(ids(e0)).count == 300)
    #expect(ids(e0) != ids(e0).sorted(), "training order is shuffled")
    #expect(try l.countExamples() == 300)
    // The background stream yields the same batches as the synchronous path.
    let stream = l.batches(from: LoaderPosition(epoch: 1, offset: 0, seed: 3))
    var streamed: [Batch] = []
    while let b = try stream.next() { streamed.append(b) }
    #expect(ids(streamed) == ids(e1))
  }

  @Test func resumedPositionSkipsConsumedBatches() throws {
    let dir = try TemporaryDirectory()
    try SyntheticStore().build(at: dir.file("a.sqlite"))
    let l = try loader([dir.file("a.sqlite")])
    let full = try l.allBatches(epoch: 2)
    let stream = l.batches(from: LoaderPosition(epoch: 2, offset: 5, seed: 3))
    var rest: [Batch] = []
    while let b = try stream.next() { rest.append(b) }
    #expect(ids(rest) == ids(Array(full.dropFirst(5))))
  }

  @Test func lengthBucketingReducesPadding() throws {
    let dir = try TemporaryDirectory()
    try SyntheticStore(train: 800).build(at: dir.file("a.sqlite"))
    func padding(_ bucketing: Bool) throws -> Int {
      let l = try loader([dir.file("a.sqlite")]) {
        $0.bucketing = bucketing
        $0.bucketPool = 16
      }
      return try l.allBatches().reduce(0) { $0 + $1.maxLength * $1.count - $1.tokens.count }
    }
    let with = try padding(true), without = try padding(false)
    #expect(with * 3 < without, "padding with bucketing \(with), without \(without)")
  }

  @Test func labelFractionAndSignalFilters() throws {
    let dir = try TemporaryDirectory()
    try SyntheticStore(teacherCoverage: 100).build(at: dir.file("a.sqlite"))
    // Baseline view: labels only, 30% kept.
    let baseline = try loader([dir.file("a.sqlite")]) {
      $0.labelFraction = 0.3
      $0.labelSeed = 9
      $0.useTeachers = false
    }
    let b = try baseline.allBatches()
    let kept = ids(b)
    let keys = try contentKeys(dir.file("a.sqlite"))
    #expect(kept.allSatisfy { LabelFraction.keeps(contentKey: keys[$0] ?? 0, fraction: 0.3, seed: 9) })
    #expect(kept.count > 50 && kept.count < 130)
    #expect(b.allSatisfy { $0.hasTeacher.allSatisfy { !$0 } && $0.labels.allSatisfy { $0 >= 0 } })
    // KD view: rows with a teacher output or a kept label; unkept labels read as -1.
    let kd = try loader([dir.file("a.sqlite")]) {
      $0.labelFraction = 0.3
      $0.labelSeed = 9
    }
    let k = try kd.allBatches()
    var unlabeledWithTeacher = 0
    for batch in k {
      for i in 0..<batch.count {
        #expect(batch.labels[i] >= 0 || batch.hasTeacher[i])
        if batch.labels[i] >= 0 { #expect(LabelFraction.keeps(contentKey: keys[batch.exampleIDs[i]] ?? 0, fraction: 0.3, seed: 9)) }
        if batch.labels[i] < 0 { unlabeledWithTeacher += 1 }
        if batch.hasTeacher[i] {
          var row = [Float]()
          #expect(batch.teacherTarget(i, temperature: 2, into: &row))
          #expect(abs(row.reduce(0, +) - 1) < 1e-4)
        }
      }
    }
    #expect(unlabeledWithTeacher > 40)
    #expect(ids(k).count == Set(ids(k)).count)
    // Split filter: validation ids are disjoint from train ids.
    let v = try loader([dir.file("a.sqlite")], split: .validation) { $0.shuffle = false; $0.requireLabel = true }
    #expect(Set(ids(try v.allBatches())).isDisjoint(with: Set(ids(k))))
    #expect(ids(try v.allBatches()).count == 60)
  }

  @Test func severalDatabasesAtOnce() throws {
    let dir = try TemporaryDirectory()
    try SyntheticStore(train: 120, seed: 1).build(at: dir.file("a.sqlite"))
    try SyntheticStore(train: 80, seed: 2).build(at: dir.file("b.sqlite"))
    let l = try loader([dir.file("a.sqlite"), dir.file("b.sqlite")])
    let batches = try l.allBatches()
    let sources = batches.flatMap(\.sources)
    #expect(sources.filter { $0 == 0 }.count == 120)
    #expect(sources.filter { $0 == 1 }.count == 80)
  }

  @Test func topKTargetsAreRenormalisedOverKeptClasses() throws {
    let dir = try TemporaryDirectory()
    try SyntheticStore(classes: 5, storage: .topK(2)).build(at: dir.file("a.sqlite"))
    let l = try loader([dir.file("a.sqlite")])
    for batch in try l.allBatches() {
      let targets = batch.teacherTargets(temperature: 2)
      for i in 0..<batch.count {
        let row = Array(targets[(i * 5)..<(i * 5 + 5)])
        #expect(row.filter { $0 > 0 }.count == 2)
        #expect(abs(row.reduce(0, +) - 1) < 1e-3)
      }
    }
  }

  @Test func badInputsAreClearErrors() throws {
    let dir = try TemporaryDirectory()
    // Vocabulary mismatch: 4 teacher outputs for 3 labels.
    try SyntheticStore(teacherOutputs: 4).build(at: dir.file("mismatch.sqlite"))
    #expect {
      try TrainingPlan.resolve(dbPaths: [dir.file("mismatch.sqlite")], task: "topic", teacherNames: [])
    } throws: { ($0 as? KDError)?.message.contains("label vocabulary mismatch") == true }
    // No cached outputs for the requested teacher.
    try SyntheticStore(teacherCoverage: 0).build(at: dir.file("nocache.sqlite"))
    #expect {
      try TrainingPlan.resolve(dbPaths: [dir.file("nocache.sqlite")], task: "topic", teacherNames: ["teacher-a"])
    } throws: { ($0 as? KDError)?.message.contains("no cached outputs of teacher 'teacher-a'") == true }
    #expect {
      try TrainingPlan.resolve(dbPaths: [dir.file("nocache.sqlite")], task: "topic", teacherNames: ["nobody"])
    } throws: { ($0 as? KDError)?.message.contains("no teacher 'nobody'") == true }
    #expect {
      try TrainingPlan.resolve(dbPaths: [dir.file("nocache.sqlite")], task: "nope", teacherNames: [])
    } throws: { ($0 as? KDError)?.message.contains("no task 'nope'") == true }
    #expect(try TrainingPlan.defaultTasks(dbPath: dir.file("nocache.sqlite")) == ["topic"])
    let empty = try SyntheticStore().build(at: dir.file("empty.sqlite"))
    try empty.db.execute("DELETE FROM teacher_outputs")
    #expect { try TrainingPlan.defaultTasks(dbPath: dir.file("empty.sqlite")) } throws: {
      ($0 as? KDError)?.message.contains("no task has cached teacher outputs") == true
    }
    // Several databases whose label vocabularies differ.
    try SyntheticStore(classes: 4).build(at: dir.file("four.sqlite"))
    try SyntheticStore().build(at: dir.file("three.sqlite"))
    #expect {
      try TrainingPlan.resolve(dbPaths: [dir.file("three.sqlite"), dir.file("four.sqlite")], task: "topic", teacherNames: [])
    } throws: { ($0 as? KDError)?.message.contains("label vocabulary") == true }
    // Corrupt teacher blob: error names the example.
    let store = try SyntheticStore().build(at: dir.file("corrupt.sqlite"))
    try store.db.execute("UPDATE teacher_outputs SET logits = x'0102' WHERE example_id = 5")
    let l = try loader([dir.file("corrupt.sqlite")])
    #expect { try l.allBatches() } throws: { ($0 as? KDError)?.message.contains("example 5") == true }
  }
}
