import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing
@testable import KDTeacher

/// Issue 16, findings 4 and 13: the head fit keeps its work across `kill -9`; teachers are calibrated.
@Suite(.serialized) struct HeadFitResumeTests {
  /// A real `kill -9` of kd-teacher-cache while it embeds the labelled examples for its head: the
  /// embeddings computed so far survive, and the rerun embeds only the rest.
  @Test func killDuringTheHeadFitLosesAtMostOneBatch() throws {
    let bin = (TestPaths.binaries as NSString).appendingPathComponent("kd-teacher-cache")
    guard FileManager.default.isExecutableFile(atPath: bin) else {
      TestPaths.skipNote(bin)
      return
    }
    let dir = try TemporaryDirectory()
    let hash = try TinyCheckpoint.write(dir.file("tiny"))
    let db = dir.file("kill.sqlite")
    do {
      let store = try Store.open(path: db)
      try CorpusFixture.populate(store, labels: ["neg", "pos"],
                                 examples: TinyCheckpoint.examples(train: 3000, validation: 40, test: 40), tokenizerHash: hash)
    }
    let spillDir = db + ".kd-embeddings"
    func spilled() -> Int {
      guard let f = (try? FileManager.default.contentsOfDirectory(atPath: spillDir))?.first,
        let a = try? FileManager.default.attributesOfItem(atPath: spillDir + "/" + f)
      else { return 0 }
      return ((a[.size] as? Int) ?? 0) / (12 + 4 * TinyCheckpoint.hidden)
    }
    // Batches of one example, each saved (fsync) as it is computed: the fit takes seconds.
    let args = ["--db", db, "--teacher", dir.file("tiny"), "--batch-size", "1", "-q"]
    let p = Process()
    p.executableURL = URL(fileURLWithPath: bin)
    p.arguments = args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    let deadline = Date().addingTimeInterval(120)
    while spilled() < 200 && p.isRunning && Date() < deadline { usleep(20_000) }
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
    let kept = spilled()
    #expect(p.terminationReason == .uncaughtSignal, "kd-teacher-cache ended before the kill")
    #expect(kept >= 200 && kept < 3000, "\(kept) embeddings kept after kill -9 during the head fit")
    do {
      let store = try Store.open(path: db, readOnly: true)
      #expect(try store.db.scalarInt("SELECT COUNT(*) FROM teacher_outputs") == 0)
    }
    // The rerun reads them back and embeds only the others.
    let r = try runCommand(bin, ["--db", db, "--teacher", dir.file("tiny"), "--batch-size", "64", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderr.contains("reusing \(kept) embeddings saved by an earlier run; embedding \(3000 - kept)"), "\(r.stderr)")
    let store = try Store.open(path: db, readOnly: true)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM teacher_outputs") == 3080)
    // Done: the saved embeddings are deleted.
    #expect(!FileManager.default.fileExists(atPath: spillDir))
  }

  /// The spill file ignores a torn last record and appends after the last complete one.
  @Test func aTornRecordIsCutOff() throws {
    let dir = try TemporaryDirectory()
    let spill = EmbeddingSpill(databasePath: dir.file("a.sqlite"), key: "k")
    try spill.append([(1, [1, 2, 3]), (2, [4, 5, 6])])
    let h = try #require(FileHandle(forWritingAtPath: spill.path))
    try h.seekToEnd()
    try h.write(contentsOf: Data([9, 0, 0, 0, 0, 0, 0, 0, 3, 0]))  // half a record
    try h.close()
    let again = EmbeddingSpill(databasePath: dir.file("a.sqlite"), key: "k")
    #expect(again.load() == [1: [1, 2, 3], 2: [4, 5, 6]])
    try again.append([(3, [7, 8, 9])])
    #expect(EmbeddingSpill(databasePath: dir.file("a.sqlite"), key: "k").load() == [1: [1, 2, 3], 2: [4, 5, 6], 3: [7, 8, 9]])
    again.remove()
    #expect(!FileManager.default.fileExists(atPath: spill.path))
  }

  /// An underconfident teacher gets a temperature below 1, stored with it; its ECE on validation drops.
  @Test func aTeacherIsCalibratedOnValidation() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, labels: ["a", "b", "c"], examples: CorpusFixture.simple(200, labels: ["a", "b", "c"]))
    let fake = UnderconfidentTeacher(numOutputs: 3)
    let s = try TeacherCache(store: store, backend: fake, options: TeacherCacheOptions()).run(runID: nil)
    let c = try #require(s[0].calibration)
    #expect(c.temperature < 0.5, "T = \(c.temperature)")
    #expect(c.examples == 40)
    #expect(c.eceAfter < c.eceBefore && c.eceAfter <= 0.1, "ECE \(c.eceBefore) -> \(c.eceAfter)")
    let t = try #require(try store.teacher(named: "fake"))
    #expect(try store.teacherCalibration(teacherID: t.id) == c)
    // A rerun with nothing new keeps it.
    let again = try TeacherCache(store: store, backend: fake, options: TeacherCacheOptions()).run(runID: nil)
    #expect(again[0].calibration == c)
  }
}

/// Logits that rank the gold class first 80% of the time but with a tiny margin (underconfident).
final class UnderconfidentTeacher: FakeTeacher {
  override func compute(_ batch: [TeacherInput], wantEmbeddings: Bool) throws -> [TeacherResult] {
    batch.map { input in
      let ids = input.ids ?? []
      let i = Int(ids.dropFirst().first ?? 1) - 1  // "text i": label i % 3
      let gold = i % 3
      let right = (i * 7919) % 10 < 8
      let top = right ? gold : (gold + 1) % 3
      var l: [Float] = [0, 0, 0]
      l[top] = 0.3
      return .output(logits: l, embedding: nil)
    }
  }
}
