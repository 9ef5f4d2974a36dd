import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing

@testable import KDTrain

@Suite struct PredictAndCLITests {
  static var wordpiece: [UInt8]? {
    FileManager.default.contents(atPath: TestPaths.packageRoot + "/Tests/KDTokenizersTests/Resources/wordpiece-cased.json")
      .map { Array($0) }
  }

  @Test func predictorUsesTheSavedTokenizer() throws {
    guard let json = Self.wordpiece else { return TestPaths.skipNote("Tests/KDTokenizersTests/Resources/wordpiece-cased.json") }
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    try SyntheticStore(tokenizerJSON: json).build(at: db)
    var o = TrainingOptions()
    o.dimension = 8
    o.buckets = 64
    o.epochs = 1
    o.patience = 0
    let plan = try TrainingPlan.resolve(dbPaths: [db], task: "topic", teacherNames: [])
    let r = try Trainer(plan: plan, options: o, name: "kd", layout: CheckpointLayout(root: dir.file("m"))).run()
    let p = try Predictor(checkpoint: r.checkpoint)
    #expect(p.labels == ["class0", "class1", "class2"])
    #expect(!p.tokenize("Hello world").isEmpty)
    let probs = p.probabilities(for: ["Hello world", "", "an entirely different line"])
    #expect(probs.count == 3)
    for row in probs { #expect(row.count == 3 && abs(row.reduce(0, +) - 1) < 1e-4) }
    // A folder that is not a checkpoint is a clear error naming the file.
    #expect { try Predictor(checkpoint: dir.path) } throws: { ($0 as? KDError)?.file?.hasSuffix("config.json") == true }
  }

  /// The executable: `kd-train --db X` with no other flags, `--compare --json`, then `predict`.
  @Test func commandLineEndToEnd() throws {
    let bin = TestPaths.binaries + "/kd-train"
    guard FileManager.default.isExecutableFile(atPath: bin) else { return TestPaths.skipNote(bin) }
    guard let json = Self.wordpiece else { return TestPaths.skipNote("wordpiece-cased.json") }
    let dir = try TemporaryDirectory()
    let db = dir.file("data.sqlite")
    try SyntheticStore(tokenizerJSON: json).build(at: db)
    let plain = try runCommand(bin, ["--db", db, "--epochs", "2", "--dim", "8", "--buckets", "64", "--quiet"])
    #expect(plain.status == 0, "\(plain.stderr)")
    #expect(plain.stdout.contains("| topic | kd (bow) |"))
    #expect(FileManager.default.fileExists(atPath: dir.file("kd-models/topic/kd/best/model.safetensors")))

    let compare = try runCommand(bin, ["--db", db, "--compare", "--json", "--epochs", "2", "--dim", "8", "--buckets", "64",
                                       "--label-fraction", "0.2", "--quiet"])
    #expect(compare.status == 0, "\(compare.stderr)")
    let object = try JSONSerialization.jsonObject(with: Data(compare.stdout.utf8)) as? [String: Any]
    let tasks = try #require(object?["tasks"] as? [[String: Any]])
    let rows = try #require(tasks.first?["rows"] as? [[String: Any]])
    #expect(rows.compactMap { $0["model"] as? String } == ["teacher", "kd", "baseline"])
    let store = try Store.open(path: db)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM models") == 3)
    #expect(try store.db.scalarText("SELECT status FROM runs WHERE stage = 'train' ORDER BY id DESC LIMIT 1") == "ok")

    let predict = try runCommand(bin, ["predict", "--model", dir.file("kd-models/topic/kd/best")], stdin: "first line\nsecond line\n")
    #expect(predict.status == 0, "\(predict.stderr)")
    let lines = predict.stdout.split(separator: "\n")
    #expect(lines.count == 2)
    #expect(lines.allSatisfy { $0.hasPrefix("class") && $0.contains("\t") })

    // Bad input: a teacher name that does not exist, an out-of-range alpha.
    let bad = try runCommand(bin, ["--db", db, "--teacher", "nobody", "--quiet"])
    #expect(bad.status == 1 && bad.stderr.contains("no teacher 'nobody'"))
    let usage = try runCommand(bin, ["--db", db, "--alpha", "2"])
    #expect(usage.status != 0 && usage.stderr.contains("alpha"))
  }
}
