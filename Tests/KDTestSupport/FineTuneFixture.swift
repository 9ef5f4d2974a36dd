import Foundation
import KDCore
import KDStore

/// A tiny BERT teacher folder and a store with a text task it can be fine-tuned on
/// (teacher fine-tuning tests in KDTrainTests and KDCLITests).
public enum FineTuneFixture {
  /// The tiny BertForSequenceClassification fixture (2 layers, hidden 32, vocabulary 96, 40 positions).
  public static var tinyBert: String {
    (TestPaths.packageRoot as NSString).appendingPathComponent("Tests/KDModelsTests/Resources/tiny-bert")
  }

  /// The 96 tokens of the fixture's vocabulary: BERT specials, then `tok0`…`tok90`.
  public static var vocabulary: [String] { ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (0..<91).map { "tok\($0)" } }

  /// Copies the tiny BERT (config.json, model.safetensors) into `dir/name` with a `vocab.txt`; returns the folder.
  @discardableResult
  public static func teacher(in dir: TemporaryDirectory, name: String = "tiny-teacher") throws -> String {
    let folder = dir.file(name)
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for f in ["config.json", "model.safetensors"] {
      try FileManager.default.copyItem(atPath: (tinyBert as NSString).appendingPathComponent(f), toPath: folder + "/" + f)
    }
    try Data(vocabulary.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: folder + "/vocab.txt"))
    return folder
  }

  /// A store at `path` with task `task`: `classes` labels, texts whose words depend on the class
  /// (`tok(10c+k)`) mixed with noise words, in train/validation/test.
  @discardableResult
  public static func store(at path: String, task: String = "topic", classes: Int = 3, train: Int = 120, validation: Int = 30,
                           test: Int = 30, seed: UInt64 = 11) throws -> Store {
    let store = try Store.open(path: path)
    var rng = FixtureRandom(state: seed)
    let taskID = try store.taskID(named: task)
    var labelIDs: [Int64] = []
    for c in 0..<classes { labelIDs.append(try store.labelID(task: taskID, name: "class\(c)")) }
    let sourceID = try store.insertSource(NewSource(
      root: "/fixture", path: "data.csv", contentHash: "0", size: 0, mtime: 0, format: "csv", domain: "fixture",
      taskID: taskID, configHash: "", status: "ok", error: nil, errorCount: 0, runID: nil))
    try store.transaction {
      var position = 0
      for (split, n) in [(Split.train, train), (.validation, validation), (.test, test)] {
        for _ in 0..<n {
          let label = Int(rng.next() % UInt64(classes))
          let doc = try store.insertDocument(sourceID: sourceID, position: position, externalID: nil, docKey: "d\(position)",
                                             domain: "fixture", title: nil, split: split, metadataJSON: nil)
          let length = 4 + Int(rng.next() % 8)
          var words: [String] = []
          for _ in 0..<length {
            if rng.next() % 100 < 45 {
              words.append("tok\(label * 10 + Int(rng.next() % 10))")
            } else {
              words.append("tok\(classes * 10 + Int(rng.next() % UInt64(91 - classes * 10)))")
            }
          }
          words.append("n\(position)")  // unique text (an unknown word)
          position += 1
          let ex = try store.insertExample(documentID: doc, position: 0, text: words.joined(separator: " "), charStart: nil,
                                           charEnd: nil, section: nil, split: split, domain: "fixture", taskID: taskID)
          try store.addExampleLabel(example: ex, label: labelIDs[label])
        }
      }
    }
    return store
  }

  /// Content fingerprint of every file in `folder` (name → FNV-1a of the bytes), to check it is unchanged.
  public static func fingerprint(_ folder: String) throws -> [String: String] {
    var out: [String: String] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: folder).sorted() {
      let p = (folder as NSString).appendingPathComponent(name)
      let d = try Data(contentsOf: URL(fileURLWithPath: p))
      out[name] = StableHash.hex(StableHash.fnv1a64(d))
    }
    return out
  }
}

/// splitmix64, for fixtures.
struct FixtureRandom {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }
}
