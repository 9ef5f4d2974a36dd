import Foundation
import KDCore
import KDModels
@testable import KDStore
import KDTestSupport
import KDTokenizers
import Testing
@testable import KDTeacher

@Suite struct TeacherCacheTests {
  func options(_ edit: (inout TeacherCacheOptions) -> Void = { _ in }) -> TeacherCacheOptions {
    var o = TeacherCacheOptions()
    o.batchSize = 4
    o.commitEvery = 2
    edit(&o)
    return o
  }

  @Test func secondRunComputesNothing() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, examples: CorpusFixture.simple(23))
    let teacher = FakeTeacher()
    let first = try TeacherCache(store: store, backend: teacher, options: options()).run(runID: nil)
    #expect(first.count == 1)
    #expect(first[0].teacher == "fake")
    #expect(first[0].cachedNow == 23)
    #expect(first[0].alreadyCached == 0)
    #expect(teacher.computed.count == 23)

    let again = FakeTeacher()
    let second = try TeacherCache(store: store, backend: again, options: options()).run(runID: nil)
    #expect(second[0].cachedNow == 0)
    #expect(second[0].alreadyCached == 23)
    #expect(again.computed.isEmpty)

    // New examples arrive: only they are computed.
    try CorpusFixture.populate(store, examples: [CorpusFixture.Example(text: "late", label: nil, split: .train, ids: [101, 7, 102])])
    let third = FakeTeacher()
    let s3 = try TeacherCache(store: store, backend: third, options: options()).run(runID: nil)
    #expect(s3[0].cachedNow == 1)
    #expect(third.computed.count == 1)
  }

  @Test func storedLogitsMatchTheTeacher() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let ids = try CorpusFixture.populate(store, examples: CorpusFixture.simple(6))
    _ = try TeacherCache(store: store, backend: FakeTeacher(numOutputs: 2), options: options()).run(runID: nil)
    let t = try #require(try store.teacher(named: "fake"))
    #expect(t.storage == .f32)
    #expect(t.tokenizerID != nil)
    #expect(t.checkpointHash == "fakehash")
    for (i, id) in ids.enumerated() {
      let out = try #require(try store.teacherOutput(teacher: t, exampleID: id))
      let tokens: [Int32] = [101] + [Int32](repeating: Int32(i + 1), count: i % 7 + 1) + [102]
      #expect(out.logits.values == FakeTeacher.logits(tokens, n: 2))
    }
  }

  @Test func crashMidRunKeepsCommittedChunksAndResumes() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, examples: CorpusFixture.simple(20))
    // batch 4, 2 batches per commit: batches 0-1 commit 8 examples, batch 2 fails.
    let crashing = FakeTeacher()
    crashing.failOnBatch = 2
    #expect(throws: KDError.self) {
      _ = try TeacherCache(store: store, backend: crashing, options: options()).run(runID: nil)
    }
    let t = try #require(try store.teacher(named: "fake"))
    #expect(try store.teacherOutputSizes(teacherID: t.id).count == 8)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM teacher_outputs") == 8)

    let resumed = FakeTeacher()
    let s = try TeacherCache(store: store, backend: resumed, options: options()).run(runID: nil)
    #expect(s[0].cachedNow == 12)
    #expect(s[0].alreadyCached == 8)
    #expect(resumed.computed.count == 12)
    #expect(try store.teacherOutputSizes(teacherID: t.id).count == 20)
  }

  @Test func abortedTransactionLeavesNoPartialOutputs() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let ids = try CorpusFixture.populate(store, examples: CorpusFixture.simple(5))
    _ = try TeacherCache(store: store, backend: FakeTeacher(), options: options { $0.limit = 2 }).run(runID: nil)
    let t = try #require(try store.teacher(named: "fake"))
    // A writer killed mid-transaction: its rows never become visible.
    try store.db.execute("BEGIN IMMEDIATE")
    try store.insertTeacherOutput(teacherID: t.id, exampleID: ids[4], logits: [0, 0, 0, 0, 0, 0, 0, 0], embedding: nil, runID: nil)
    try store.db.execute("ROLLBACK")
    let s = try TeacherCache(store: store, backend: FakeTeacher(), options: options()).run(runID: nil)
    #expect(s[0].cachedNow == 3)
    #expect(s[0].alreadyCached == 2)
  }

  @Test func interruptionCommitsTheCurrentChunkAndStops() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, examples: CorpusFixture.simple(30))
    let cache = TeacherCache(store: store, backend: FakeTeacher(), options: options())
    var commits = 0
    cache.afterCommit = { _ in commits += 1 }
    cache.isInterrupted = { commits >= 1 }
    let s = try cache.run(runID: nil)
    #expect(cache.interrupted)
    #expect(s[0].cachedNow == 8)
    #expect(s[0].skipped["interrupted"] == 22)
  }

  @Test func refusesExamplesTokenizedWithAnotherTokenizer() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, examples: CorpusFixture.simple(4), tokenizerHash: "1111111111111111")
    let teacher = FakeTeacher()
    let error = #expect(throws: KDError.self) {
      _ = try TeacherCache(store: store, backend: teacher, options: options()).run(runID: nil)
    }
    #expect(error?.message.contains("not tokenized with 'fixture' (\(CorpusFixture.tokenizerHash))") == true)
    #expect(error?.message.contains("4 tokenized with 'fixture' (1111111111111111)") == true)
    #expect(error?.message.contains("--retokenize") == true)
    #expect(teacher.computed.isEmpty)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM teacher_outputs") == 0)

    // With --retokenize the teacher's tokenizer is registered and used.
    let s = try TeacherCache(store: store, backend: FakeTeacher(), options: options { $0.retokenize = true }).run(runID: nil)
    #expect(s[0].tokenizedNow == 4)
    #expect(s[0].cachedNow == 4)
    let tok = try #require(try store.tokenizerID(contentHash: CorpusFixture.tokenizerHash))
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM tokenizations WHERE tokenizer_id = ?", [.int(tok)]) == 4)
  }

  @Test func untokenizedExamplesAreTokenizedWithTheTeachersTokenizer() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let ids = try CorpusFixture.populate(store, examples: CorpusFixture.simple(3), tokenizerHash: nil)
    let s = try TeacherCache(store: store, backend: FakeTeacher(), options: options()).run(runID: nil)
    #expect(s[0].tokenizedNow == 3)
    #expect(s[0].cachedNow == 3)
    let tok = try #require(try store.tokenizerID(contentHash: CorpusFixture.tokenizerHash))
    let stored = try store.teacherInputs([ids[0]], tokenizerID: tok)
    #expect(stored.first?.ids == [101] + "text 0".utf8.map { Int32($0) } + [102])
    let t = try #require(try store.teacher(named: "fake"))
    #expect(t.tokenizerID == tok)
  }

  @Test func duplicatesAreSkippedAndCounted() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    var ex = CorpusFixture.simple(4)
    ex.append(ex[1])
    try CorpusFixture.populate(store, examples: ex)
    let s = try TeacherCache(store: store, backend: FakeTeacher(), options: options()).run(runID: nil)
    #expect(s[0].cachedNow == 4)
    #expect(s[0].skipped["duplicate"] == 1)
  }

  @Test(arguments: [TeacherStorage.f32, .f16, .topK(3)])
  func storageRoundTripsThroughTheDatabase(storage: TeacherStorage) throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let ids = try CorpusFixture.populate(store, labels: (0..<10).map { "c\($0)" }, examples: CorpusFixture.simple(9, labels: (0..<10).map { "c\($0)" }))
    let teacher = FakeTeacher(numOutputs: 10)
    let s = try TeacherCache(store: store, backend: teacher, options: options { $0.storage = .fixed(storage); $0.storeEmbeddings = true }).run(runID: nil)
    let expectedBytes = TeacherCache.bytesByStorage(numOutputs: 10, topK: 3)[storage.name]!
    #expect(s[0].bytesPerExampleByStorage[storage.name] == expectedBytes)
    #expect(s[0].bytesPerExample == Double(expectedBytes + 2 * 3))
    let t = try #require(try store.teacher(named: "fake"))
    #expect(t.storage == storage)
    #expect(t.embeddingDim == 3)
    for (i, id) in ids.enumerated() {
      let tokens: [Int32] = [101] + [Int32](repeating: Int32(i + 1), count: i % 7 + 1) + [102]
      let want = FakeTeacher.logits(tokens, n: 10)
      let got = try #require(try store.teacherOutput(teacher: t, exampleID: id))
      #expect(got.embedding == (0..<3).map { Float($0) + Float(tokens.count) })
      switch storage {
      case .f32:
        #expect(got.logits.values == want)
      case .f16:
        for c in 0..<10 { #expect(abs(got.logits.values[c] - want[c]) <= 0.002 * max(1, abs(want[c]))) }
      case .topK(let k):
        let best = want.indices.sorted { want[$0] > want[$1] }.prefix(k)
        #expect(got.logits.indices == best.map { Int32($0) })
        #expect(!got.logits.isDense)
        for (j, c) in best.enumerated() { #expect(abs(got.logits.values[j] - want[c]) <= 0.002 * max(1, abs(want[c]))) }
      }
    }
  }

  @Test func autoStorageChoosesTopKForLargeOutputSpaces() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let labels = (0..<300).map { "l\($0)" }
    try CorpusFixture.populate(store, labels: labels, examples: CorpusFixture.simple(3, labels: labels))
    let s = try TeacherCache(store: store, backend: FakeTeacher(numOutputs: 300), options: options()).run(runID: nil)
    #expect(s[0].storage == "topk")
    #expect(s[0].topK == TeacherCache.defaultTopK)
    // 32 fp16 values + 32 indices of 9 bits = 64 + 36 bytes, against 1200 for f32.
    #expect(s[0].bytesPerExample == 100)
    #expect(s[0].bytesPerExampleByStorage["f32"] == 1200)
  }

  @Test func nanOutputIsAClearErrorAndKeepsEarlierChunks() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let ids = try CorpusFixture.populate(store, examples: (0..<20).map {
      CorpusFixture.Example(text: "t\($0)", label: "a", split: .train, ids: [101, Int32($0), 102])
    })
    let teacher = FakeTeacher()
    teacher.nanFor = ids[10]  // third chunk of 8 when sorted by length (all equal: by id)
    let error = #expect(throws: KDError.self) {
      _ = try TeacherCache(store: store, backend: teacher, options: options()).run(runID: nil)
    }
    #expect(error?.kind == .numeric)
    #expect(error?.message.contains("example \(ids[10])") == true)
    #expect(error?.message.contains("NaN") == true)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM teacher_outputs") == 8)
  }

  @Test func perExampleFailuresAreSkippedAndReported() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let ids = try CorpusFixture.populate(store, examples: CorpusFixture.simple(6))
    let teacher = FakeTeacher()
    teacher.refuse = ids[2]
    let s = try TeacherCache(store: store, backend: teacher, options: options()).run(runID: nil)
    #expect(s[0].cachedNow == 5)
    #expect(s[0].skipped["teacher_error"] == 1)
    #expect(s[0].failures == ["example \(ids[2]): cannot score this"])
  }

  @Test func longExamplesAreWindowedAndAveraged() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let long: [Int32] = [101] + (1...20).map { Int32($0) } + [102]
    let ids = try CorpusFixture.populate(store, examples: [
      CorpusFixture.Example(text: "long", label: "a", split: .train, ids: long),
      CorpusFixture.Example(text: "short", label: "b", split: .train, ids: [101, 5, 102]),
    ])
    let teacher = FakeTeacher(maxTokens: 10)
    let s = try TeacherCache(store: store, backend: teacher, options: options()).run(runID: nil)
    #expect(s[0].windowed == 1)
    #expect(s[0].cachedNow == 2)
    let windows = TokenWindows.split(long, maxTokens: 10)
    #expect(teacher.computed.count == windows.count + 1)
    var mean = [Float](repeating: 0, count: 2)
    for w in windows { for (c, v) in FakeTeacher.logits(w, n: 2).enumerated() { mean[c] += v / Float(windows.count) } }
    let t = try #require(try store.teacher(named: "fake"))
    let got = try #require(try store.teacherOutput(teacher: t, exampleID: ids[0]))
    for c in 0..<2 { #expect(abs(got.logits.values[c] - mean[c]) < 1e-5) }
  }

  @Test func windowsCoverEveryTokenWithinTheLimit() {
    let ids: [Int32] = [101] + (1...100).map { Int32($0) } + [102]
    for maxTokens in [3, 4, 10, 64, 101, 102, 200] {
      let w = TokenWindows.split(ids, maxTokens: maxTokens)
      if maxTokens >= ids.count {
        #expect(w == [ids])
        continue
      }
      var seen = Set<Int32>()
      for win in w {
        #expect(win.count <= maxTokens)
        #expect(win.first == 101 && win.last == 102)
        seen.formUnion(win.dropFirst().dropLast())
      }
      #expect(seen == Set((1...100).map { Int32($0) }), "maxTokens \(maxTokens)")
      #expect(w.last?.dropLast().last == 100)
    }
  }

  @Test func severalTeachersShareOneDatabase() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, examples: CorpusFixture.simple(7))
    let a = FakeTeacher()
    _ = try TeacherCache(store: store, backend: a, options: options { $0.name = "alpha" }).run(runID: nil)
    let b = FakeTeacher(numOutputs: 2)
    b.logitScale = 2
    let sb = try TeacherCache(store: store, backend: b, options: options { $0.name = "beta"; $0.storage = .fixed(.f16) }).run(runID: nil)
    #expect(sb[0].cachedNow == 7)
    #expect(b.computed.count == 7)
    #expect(try store.teachers().map(\.name) == ["alpha", "beta"])
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM teacher_outputs") == 14)
    // Same name, different settings: refused unless --replace.
    let error = #expect(throws: KDError.self) {
      _ = try TeacherCache(store: store, backend: FakeTeacher(), options: options { $0.name = "alpha"; $0.storage = .fixed(.f16) }).run(runID: nil)
    }
    #expect(error?.message.contains("storage f32 -> f16") == true)
    let replaced = try TeacherCache(store: store, backend: FakeTeacher(), options: options {
      $0.name = "alpha"; $0.storage = .fixed(.f16); $0.replace = true
    }).run(runID: nil)
    #expect(replaced[0].cachedNow == 7)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM teacher_outputs") == 14)
  }

  @Test func severalTasksGetOneTeacherEach() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, task: "sentiment", labels: ["neg", "pos"], examples: CorpusFixture.simple(4, labels: ["neg", "pos"]))
    try CorpusFixture.populate(store, task: "topic", labels: ["x", "y", "z"], examples: CorpusFixture.simple(5, labels: ["x", "y", "z"]))
    let teacher = FakeTeacher()
    // The fake has 2 outputs: the 3-label task is given to a second teacher below.
    let s = try TeacherCache(store: store, backend: teacher, options: options { $0.taskNames = ["sentiment"] }).run(runID: nil)
    #expect(s.map(\.teacher) == ["fake"])
    #expect(s[0].cachedNow == 4)
    final class PerTask: FakeTeacher {
      override func prepare(task: TaskRecord, context: TeacherPreparationContext) throws -> TeacherDescription {
        numOutputs = task.labels.count
        return try super.prepare(task: task, context: context)
      }
    }
    let all = try TeacherCache(store: store, backend: PerTask(), options: options { $0.name = "multi" }).run(runID: nil)
    #expect(all.map(\.teacher) == ["multi/sentiment", "multi/topic"])
    #expect(all.map(\.cachedNow) == [4, 5])
    #expect(all.map(\.numOutputs) == [2, 3])
  }

  @Test func clearErrorsForEmptyDatabases() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let e1 = #expect(throws: KDError.self) {
      _ = try TeacherCache(store: store, backend: FakeTeacher(), options: options()).run(runID: nil)
    }
    #expect(e1?.message.contains("no examples") == true)
    let task = try store.taskID(named: "topic")
    _ = try store.labelID(task: task, name: "a")
    _ = try store.labelID(task: task, name: "b")
    let e2 = #expect(throws: KDError.self) {
      _ = try TeacherCache(store: store, backend: FakeTeacher(), options: options()).run(runID: nil)
    }
    #expect(e2?.message.contains("task 'topic' has no examples") == true)
    let e3 = #expect(throws: KDError.self) {
      _ = try TeacherCache(store: store, backend: FakeTeacher(), options: options { $0.taskNames = ["nope"] }).run(runID: nil)
    }
    #expect(e3?.message.contains("no task named 'nope'") == true)
  }

  @Test func dumpPrintsOneJSONObjectPerExample() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let ids = try CorpusFixture.populate(store, examples: CorpusFixture.simple(5))
    _ = try TeacherCache(store: store, backend: FakeTeacher(), options: options()).run(runID: nil)
    let t = try #require(try store.teacher(named: "fake"))
    var lines: [String] = []
    let n = try TeacherDump.write(store: store, teacher: t, limit: 3) { lines.append($0) }
    #expect(n == 3)
    let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
    #expect((first["example_id"] as? Int).map(Int64.init) == ids[0])
    #expect(first["document"] as? String == "doc-topic-0")
    #expect(first["split"] as? String == "train")
    #expect(first["text"] as? String == "text 0")
    #expect(first["labels"] as? [String] == ["a"])
    let logits = try #require(first["logits"] as? [Double])
    let probs = try #require(first["probabilities"] as? [Double])
    #expect(logits.count == 2 && probs.count == 2)
    #expect(abs(probs.reduce(0, +) - 1) < 1e-5)
    #expect(first["top_class"] as? String == (logits[0] >= logits[1] ? "a" : "b"))
    var validation: [String] = []
    try TeacherDump.write(store: store, teacher: t, split: .validation) { validation.append($0) }
    #expect(validation.count == 1)
  }

  @Test func headBlobRoundTrips() throws {
    let head = try LinearHead(weight: [1, 2, 3, 4, 5, 6], bias: [0.5, -0.5], labels: ["x", "y\"z"], inputSize: 3)
    let back = try HeadBlob.decode(HeadBlob.encode(head))
    #expect(back.weight == head.weight && back.bias == head.bias && back.labels == head.labels && back.inputSize == 3)
    #expect(throws: KDError.self) { _ = try HeadBlob.decode([1, 2, 3]) }
  }
}

