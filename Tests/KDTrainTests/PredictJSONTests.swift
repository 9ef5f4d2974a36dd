import Foundation
import KDCore
import KDStore
import KDTestSupport
import Testing

@testable import KDTrain

/// `kd-train predict --json`: one object per input line with the label, every class's
/// probability and the model's name (issue 17).
@Suite struct PredictJSONTests {
  @Test func jsonLinesCarryLabelAllProbabilitiesAndModelName() throws {
    let bin = TestPaths.binaries + "/kd-train"
    guard FileManager.default.isExecutableFile(atPath: bin) else { return TestPaths.skipNote(bin) }
    guard let json = PredictAndCLITests.wordpiece else { return TestPaths.skipNote("wordpiece-cased.json") }
    let dir = try TemporaryDirectory()
    let db = dir.file("data.sqlite")
    try SyntheticStore(tokenizerJSON: json).build(at: db)
    let train = try runCommand(bin, ["--db", db, "--epochs", "2", "--dim", "8", "--buckets", "64", "--quiet"])
    try #require(train.status == 0, "\(train.stderr)")
    let model = dir.file("kd-models/topic/kd/best")
    let lines = ["first line", "", "an entirely different line"]
    let r = try runCommand(bin, ["predict", "--model", model, "--json", "--top", "2"], stdin: lines.joined(separator: "\n") + "\n")
    #expect(r.status == 0, "\(r.stderr)")
    let objects = try r.stdout.split(separator: "\n").map {
      try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
    #expect(objects.count == lines.count)
    let predictor = try Predictor(checkpoint: model)
    for (object, line) in zip(objects, lines) {
      #expect(object["text"] as? String == line)
      #expect(object["model"] as? String == "topic/kd")
      #expect(object["student"] as? String == "bow")
      let probabilities = try #require(object["probabilities"] as? [String: Double])
      #expect(Set(probabilities.keys) == Set(predictor.labels))
      #expect(abs(probabilities.values.reduce(0, +) - 1) < 1e-4)
      // The label is the most probable class, and the values are the predictor's.
      let best = probabilities.max { $0.value < $1.value }?.key
      #expect(object["label"] as? String == best)
      let expected = predictor.probabilities(for: [line])[0]
      for (c, name) in predictor.labels.enumerated() {
        #expect(abs((probabilities[name] ?? -1) - Double(expected[c])) < 1e-6)
      }
      #expect((object["top"] as? [[String: Any]])?.count == 2)
    }
  }

  @Test func modelNameComesFromTheCheckpointFolderAndTask() throws {
    let dir = try TemporaryDirectory()
    try dir.write("m/banking77/baseline/best/config.json", #"{"task": "banking77"}"#)
    try dir.write("plain/config.json", "{}")
    let name = { (path: String) in StudentCheckpoint.displayName(path: path) }
    #expect(name(dir.file("m/banking77/baseline/best")) == "banking77/baseline")
    #expect(name(dir.file("plain")) == "plain")
  }
}
