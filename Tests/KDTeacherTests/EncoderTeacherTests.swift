import Foundation
import KDCore
import KDModels
@testable import KDStore
import KDTensor
import KDTestSupport
import Testing
@testable import KDTeacher

/// A tiny random BERT checkpoint written by the test: hidden 16, 2 layers,
/// vocab 64 (`vocab.txt`: [PAD] [UNK] [CLS] [SEP] w4…w63). Tokens 10–29 lean
/// one way along dimension 0 of the embeddings and 30–49 the other, so the
/// pooled embeddings of texts drawn from either set are linearly separable.
enum TinyCheckpoint {
  static let hidden = 16, vocab = 64, cls: Int32 = 2, sep: Int32 = 3

  struct Generator {
    var state: UInt64
    mutating func next() -> Float {
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000  // [-1, 1]
    }
  }

  /// Writes the checkpoint; with `classifierLabels` it is a BertForSequenceClassification with that id2label.
  @discardableResult
  static func write(_ dir: String, classifierLabels: [String]? = nil, maxPositions: Int = 64) throws -> String {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var g = Generator(state: 42)
    func random(_ count: Int, scale: Float) -> [Float] { (0..<count).map { _ in g.next() * scale } }
    let H = hidden, I = 24
    var word = random(vocab * H, scale: 0.3)
    for t in 10..<50 { word[t * H] += t < 30 ? 2 : -2 }
    var tensors: [SafetensorsWriter.Tensor] = [
      .init(name: "embeddings.word_embeddings.weight", shape: [vocab, H], values: word),
      .init(name: "embeddings.position_embeddings.weight", shape: [maxPositions, H], values: random(maxPositions * H, scale: 0.05)),
      .init(name: "embeddings.token_type_embeddings.weight", shape: [2, H], values: random(2 * H, scale: 0.05)),
      .init(name: "embeddings.LayerNorm.weight", shape: [H], values: [Float](repeating: 1, count: H)),
      .init(name: "embeddings.LayerNorm.bias", shape: [H], values: [Float](repeating: 0, count: H)),
      .init(name: "pooler.dense.weight", shape: [H, H], values: random(H * H, scale: 0.2)),
      .init(name: "pooler.dense.bias", shape: [H], values: [Float](repeating: 0, count: H)),
    ]
    for l in 0..<2 {
      let b = "encoder.layer.\(l)."
      for n in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
        tensors.append(.init(name: b + n + ".weight", shape: [H, H], values: random(H * H, scale: 0.05)))
        tensors.append(.init(name: b + n + ".bias", shape: [H], values: [Float](repeating: 0, count: H)))
      }
      tensors.append(.init(name: b + "intermediate.dense.weight", shape: [I, H], values: random(I * H, scale: 0.05)))
      tensors.append(.init(name: b + "intermediate.dense.bias", shape: [I], values: [Float](repeating: 0, count: I)))
      tensors.append(.init(name: b + "output.dense.weight", shape: [H, I], values: random(H * I, scale: 0.05)))
      tensors.append(.init(name: b + "output.dense.bias", shape: [H], values: [Float](repeating: 0, count: H)))
      for ln in ["attention.output.LayerNorm", "output.LayerNorm"] {
        tensors.append(.init(name: b + ln + ".weight", shape: [H], values: [Float](repeating: 1, count: H)))
        tensors.append(.init(name: b + ln + ".bias", shape: [H], values: [Float](repeating: 0, count: H)))
      }
    }
    var config: [String: Any] = [
      "model_type": "bert", "hidden_size": H, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": I,
      "hidden_act": "gelu", "max_position_embeddings": maxPositions, "type_vocab_size": 2, "vocab_size": vocab,
      "layer_norm_eps": 1e-12, "pad_token_id": 0, "architectures": ["BertModel"],
    ]
    if let labels = classifierLabels {
      config["architectures"] = ["BertForSequenceClassification"]
      var id2label: [String: String] = [:]
      for (i, l) in labels.enumerated() { id2label[String(i)] = l }
      config["id2label"] = id2label
      tensors.append(.init(name: "classifier.weight", shape: [labels.count, H], values: random(labels.count * H, scale: 1)))
      tensors.append(.init(name: "classifier.bias", shape: [labels.count], values: [Float](repeating: 0, count: labels.count)))
      tensors = tensors.map { var t = $0; t.name = "bert." + t.name; return t }.map {
        $0.name.hasPrefix("bert.classifier") ? .init(name: String($0.name.dropFirst(5)), shape: $0.shape, values: $0.values) : $0
      }
    }
    try SafetensorsWriter.write(tensors, to: dir + "/model.safetensors")
    let cfg = try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
    FileManager.default.createFile(atPath: dir + "/config.json", contents: cfg)
    let vocabText = (["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + (4..<vocab).map { "w\($0)" }).joined(separator: "\n") + "\n"
    FileManager.default.createFile(atPath: dir + "/vocab.txt", contents: Data(vocabText.utf8))
    return StableHash.hex(StableHash.fnv1a64(Array(vocabText.utf8)))
  }

  /// Examples for task labels ["neg", "pos"]: "pos" texts use tokens 10–29, "neg" 30–49.
  static func examples(train: Int, validation: Int, test: Int, seed: UInt64 = 7) -> [CorpusFixture.Example] {
    var g = Generator(state: seed)
    var out: [CorpusFixture.Example] = []
    for (split, n) in [(Split.train, train), (.validation, validation), (.test, test)] {
      for i in 0..<n {
        let pos = i % 2 == 0
        let len = 3 + Int(abs(g.next()) * 6)
        let toks = (0..<len).map { _ in Int32((pos ? 10 : 30) + Int(abs(g.next()) * 19.99)) }
        out.append(.init(text: "\(split.rawValue) \(i) " + toks.map { "w\($0)" }.joined(separator: " "),
                         label: pos ? "pos" : "neg", split: split, ids: [cls] + toks + [sep]))
      }
    }
    return out
  }
}

@Suite struct EncoderTeacherTests {
  func options(_ edit: (inout TeacherCacheOptions) -> Void = { _ in }) -> TeacherCacheOptions {
    var o = TeacherCacheOptions()
    o.batchSize = 8
    edit(&o)
    return o
  }

  @Test func fittedHeadPicksAStrengthAndBeatsChance() throws {
    let dir = try TemporaryDirectory()
    let hash = try TinyCheckpoint.write(dir.file("tiny"))
    let store = try makeTemporaryStore(dir)
    let ids = try CorpusFixture.populate(
      store, labels: ["neg", "pos"], examples: TinyCheckpoint.examples(train: 40, validation: 12, test: 20), tokenizerHash: hash)
    let teacher = try EncoderTeacher.load(directory: dir.file("tiny"), threads: 1)
    #expect(teacher.defaultName == "tiny")
    let s = try TeacherCache(store: store, backend: teacher, options: options()).run(runID: nil)
    #expect(s[0].head == "fitted")
    #expect(s[0].cachedNow == 72)
    #expect(s[0].embeddingDim == nil)
    let t = try #require(try store.teacher(named: "tiny"))
    #expect(t.kind == "bert")
    #expect(t.headBlob != nil)
    let head = try #require(try JSONSerialization.jsonObject(with: Data((t.headJSON ?? "").utf8)) as? [String: Any])
    let strength = try #require(head["strength"] as? Double)
    let tried = try #require(head["candidates"] as? [[String: Any]]).compactMap { $0["strength"] as? Double }
    #expect(tried.count == EncoderTeacher.defaultStrengths.count)
    #expect(tried.contains(strength))
    #expect(head["train_examples"] as? Int == 40)
    #expect(head["validation_examples"] as? Int == 12)
    #expect(head["validation_source"] as? String == "validation split")
    #expect((head["validation_accuracy"] as? Double ?? 0) >= 0.9)
    // Test split: argmax of the cached logits against the labels (chance = 0.5).
    var correct = 0, total = 0
    try store.forEachTeacherOutput(teacher: t, split: .test) { row in
      let v = row.logits.values
      let predicted = v[1] > v[0] ? "pos" : "neg"
      if row.labels == [predicted] { correct += 1 }
      total += 1
      return true
    }
    #expect(total == 20)
    #expect(Double(correct) / Double(total) >= 0.9)
    // Training examples reuse their fitting embeddings; test examples get a
    // forward pass: both must equal the encoder + stored head run afresh.
    let fresh = try BertEncoder.load(directory: dir.file("tiny"), threads: 1)
    try fresh.attachFittedHead(try HeadBlob.decode(try #require(t.headBlob)))
    let tok = try store.tokenizerID(contentHash: hash)
    for id in [ids[0], ids[45], ids[71]] {
      let toks = try #require(try store.teacherInputs([id], tokenizerID: tok).first?.ids)
      let direct = try #require(try fresh.forward([toks]).logits)
      let cached = try #require(try store.teacherOutput(teacher: t, exampleID: id)).logits.values
      for c in 0..<2 { #expect(abs(cached[c] - direct[c]) < 1e-4, "example \(id)") }
    }
  }

  @Test func aRecordedHeadIsReusedForTheSameEncoderAndLabels() throws {
    let dir = try TemporaryDirectory()
    let hash = try TinyCheckpoint.write(dir.file("tiny"))
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, labels: ["neg", "pos"], examples: TinyCheckpoint.examples(train: 20, validation: 6, test: 0), tokenizerHash: hash)
    _ = try TeacherCache(store: store, backend: try EncoderTeacher.load(directory: dir.file("tiny"), threads: 1), options: options()).run(runID: nil)
    let cache = TeacherCache(store: store, backend: try EncoderTeacher.load(directory: dir.file("tiny"), threads: 1), options: options { $0.name = "again" })
    var logs: [String] = []
    cache.logger = { logs.append($0) }
    _ = try cache.run(runID: nil)
    #expect(logs.contains { $0.contains("reusing the head") })
    let a = try #require(try store.teacher(named: "tiny")), b = try #require(try store.teacher(named: "again"))
    #expect(a.headBlob == b.headBlob)
    #expect(a.headJSON == b.headJSON)

    // A label fraction is a different labeled set: fitted anew and recorded.
    let c = TeacherCache(store: store, backend: try EncoderTeacher.load(directory: dir.file("tiny"), threads: 1), options: options {
      $0.name = "tenth"; $0.head.labelFraction = 0.5; $0.head.labelSeed = 3
    })
    var logs2: [String] = []
    c.logger = { logs2.append($0) }
    _ = try c.run(runID: nil)
    #expect(!logs2.contains { $0.contains("reusing the head") })
    let t = try #require(try store.teacher(named: "tenth"))
    let head = try #require(try JSONSerialization.jsonObject(with: Data((t.headJSON ?? "").utf8)) as? [String: Any])
    #expect(head["label_fraction"] as? Double == 0.5)
    #expect(head["label_seed"] as? Int == 3)
    let used = try #require(head["train_examples"] as? Int)
    #expect(used > 0 && used < 20)
    let expected = try store.labeledExamples(taskID: t.taskID ?? 0, split: .train)
      .filter { LabelFraction.keeps(contentKey: $0.contentKey, fraction: 0.5, seed: 3) }.count
    #expect(used == expected)
  }

  /// A cache filled with fp32 and continued on AMX (or the reverse, e.g. on another machine) keeps its
  /// teacher and head, and the run says that its outputs come from the other mode.
  @Test(.enabled(if: MatmulPrecision.amxAvailable, "this CPU has no AMX-BF16"))
  func continuingACacheInAnotherMatmulModeWarns() throws {
    let dir = try TemporaryDirectory()
    let hash = try TinyCheckpoint.write(dir.file("tiny"))
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, labels: ["neg", "pos"], examples: TinyCheckpoint.examples(train: 20, validation: 6, test: 4), tokenizerHash: hash)
    let first = TeacherCache(store: store, backend: try EncoderTeacher.load(directory: dir.file("tiny"), threads: 1, matmul: .fp32),
                             options: options { $0.limit = 10 })
    _ = try first.run(runID: nil)
    let config = try #require(try store.teacher(named: "tiny")?.configJSON)
    #expect(config.contains("\"matmul\":\"fp32\""))
    let second = TeacherCache(store: store, backend: try EncoderTeacher.load(directory: dir.file("tiny"), threads: 1, matmul: .amxBF16x3),
                              options: options())
    var logs: [String] = []
    second.logger = { logs.append($0) }
    let s = try second.run(runID: nil)
    #expect(s.first?.cachedNow ?? 0 > 0)
    #expect(logs.contains { $0.contains("was cached with --matmul fp32") && $0.contains("amx-bf16x3") })
  }

  @Test func anExistingTeacherKeepsItsHeadWhenLabelsAreAdded() throws {
    let dir = try TemporaryDirectory()
    let hash = try TinyCheckpoint.write(dir.file("tiny"))
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, labels: ["neg", "pos"], examples: TinyCheckpoint.examples(train: 12, validation: 4, test: 0), tokenizerHash: hash)
    _ = try TeacherCache(store: store, backend: try EncoderTeacher.load(directory: dir.file("tiny"), threads: 1), options: options()).run(runID: nil)
    let before = try #require(try store.teacher(named: "tiny"))
    // New labeled examples arrive (a cron ingest): the next run caches them with the same head.
    try CorpusFixture.populate(store, labels: ["neg", "pos"], examples: TinyCheckpoint.examples(train: 6, validation: 0, test: 0, seed: 99), tokenizerHash: hash)
    let cache = TeacherCache(store: store, backend: try EncoderTeacher.load(directory: dir.file("tiny"), threads: 1), options: options())
    var logs: [String] = []
    cache.logger = { logs.append($0) }
    let s = try cache.run(runID: nil)
    #expect(s[0].cachedNow == 6)
    #expect(logs.contains { $0.contains("keeping the head of teacher tiny") })
    #expect(try store.teacher(named: "tiny")?.headBlob == before.headBlob)
    // --replace refits on all labels and recomputes everything.
    let r = try TeacherCache(store: store, backend: try EncoderTeacher.load(directory: dir.file("tiny"), threads: 1), options: options { $0.replace = true }).run(runID: nil)
    #expect(r[0].cachedNow == 22)
    let head = try #require(try JSONSerialization.jsonObject(with: Data((try store.teacher(named: "tiny")?.headJSON ?? "").utf8)) as? [String: Any])
    #expect(head["train_examples"] as? Int == 18)
  }

  @Test func noLabeledTrainingExamplesIsAClearError() throws {
    let dir = try TemporaryDirectory()
    let hash = try TinyCheckpoint.write(dir.file("tiny"))
    let store = try makeTemporaryStore(dir)
    let unlabeled = TinyCheckpoint.examples(train: 4, validation: 0, test: 0).map { var e = $0; e.label = nil; return e }
    try CorpusFixture.populate(store, labels: ["neg", "pos"], examples: unlabeled, tokenizerHash: hash)
    let e = #expect(throws: KDError.self) {
      _ = try TeacherCache(store: store, backend: try EncoderTeacher.load(directory: dir.file("tiny"), threads: 1), options: options()).run(runID: nil)
    }
    #expect(e?.message.contains("no labeled training examples to fit a head") == true)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM teacher_outputs") == 0)
  }

  @Test func ownHeadIsMappedOntoTheTaskLabels() throws {
    let dir = try TemporaryDirectory()
    let hash = try TinyCheckpoint.write(dir.file("cls"), classifierLabels: ["pos", "neg"])
    let store = try makeTemporaryStore(dir)
    let ids = try CorpusFixture.populate(store, labels: ["neg", "pos"], examples: TinyCheckpoint.examples(train: 4, validation: 0, test: 0), tokenizerHash: hash)
    let teacher = try EncoderTeacher.load(directory: dir.file("cls"), threads: 1)
    let s = try TeacherCache(store: store, backend: teacher, options: options()).run(runID: nil)
    #expect(s[0].head == "own")
    // The stored logits are in task order (neg, pos): the checkpoint's (pos, neg) swapped.
    let raw = try BertEncoder.load(directory: dir.file("cls"), threads: 1)
    let toks = try #require(try store.teacherInputs([ids[0]], tokenizerID: store.tokenizerID(contentHash: hash)).first?.ids)
    let direct = try raw.forward([toks])
    let t = try #require(try store.teacher(named: "cls"))
    let cached = try #require(try store.teacherOutput(teacher: t, exampleID: ids[0]))
    let l = try #require(direct.logits)
    #expect(abs(cached.logits.values[0] - l[1]) < 1e-5 && abs(cached.logits.values[1] - l[0]) < 1e-5)
  }

  @Test func ownHeadWithOtherLabelsIsRefused() throws {
    let dir = try TemporaryDirectory()
    let hash = try TinyCheckpoint.write(dir.file("cls"), classifierLabels: ["negative", "positive"])
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, labels: ["neg", "pos"], examples: TinyCheckpoint.examples(train: 6, validation: 2, test: 0), tokenizerHash: hash)
    let e = #expect(throws: KDError.self) {
      _ = try TeacherCache(store: store, backend: try EncoderTeacher.load(directory: dir.file("cls"), threads: 1), options: options()).run(runID: nil)
    }
    #expect(e?.message.contains("--fit-head") == true)
    #expect(e?.field == "id2label")
    // --fit-head ignores the checkpoint's classifier.
    let s = try TeacherCache(store: store, backend: try EncoderTeacher.load(directory: dir.file("cls"), threads: 1), options: options { $0.head.forceFit = true }).run(runID: nil)
    #expect(s[0].head == "fitted")
  }

  @Test func examplesLongerThanThePositionTableAreWindowed() throws {
    let dir = try TemporaryDirectory()
    let hash = try TinyCheckpoint.write(dir.file("short"), classifierLabels: ["neg", "pos"], maxPositions: 12)
    let store = try makeTemporaryStore(dir)
    let long = [TinyCheckpoint.cls] + (0..<30).map { Int32(10 + $0 % 20) } + [TinyCheckpoint.sep]
    try CorpusFixture.populate(store, labels: ["neg", "pos"], examples: [
      .init(text: "long", label: "pos", split: .train, ids: long),
      .init(text: "short", label: "neg", split: .train, ids: [2, 31, 32, 3]),
    ], tokenizerHash: hash)
    let s = try TeacherCache(store: store, backend: try EncoderTeacher.load(directory: dir.file("short"), threads: 1), options: options { $0.storeEmbeddings = true }).run(runID: nil)
    #expect(s[0].cachedNow == 2)
    #expect(s[0].windowed == 1)
    #expect(s[0].embeddingDim == TinyCheckpoint.hidden)
  }

  @Test func missingTeacherDirectoryIsAClearError() {
    let e = #expect(throws: KDError.self) { _ = try EncoderTeacher.load(directory: "/nonexistent/all-MiniLM-L6-v2", threads: 1) }
    #expect(e?.message.contains("make models") == true)
  }
}

/// The default teacher, when `models/all-MiniLM-L6-v2` is present (`make models`).
@Suite(.enabled(if: TestPaths.defaultTeacher != nil, "models/all-MiniLM-L6-v2 is absent (run `make models`)"))
struct DefaultTeacherTests {
  @Test func miniLMFitsAHeadAndWindowsLongExamples() throws {
    let model = try #require(TestPaths.defaultTeacher)
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let pos = ["a wonderful, moving film", "great acting and a superb story", "I loved every minute", "brilliant and funny"]
    let neg = ["a dull, boring mess", "terrible acting and an awful plot", "I hated every minute", "tedious and unfunny"]
    var examples: [CorpusFixture.Example] = []
    for (i, t) in pos.enumerated() { examples.append(.init(text: t, label: "pos", split: i < 3 ? .train : .validation, ids: [])) }
    for (i, t) in neg.enumerated() { examples.append(.init(text: t, label: "neg", split: i < 3 ? .train : .validation, ids: [])) }
    let long = Array(repeating: "the plot was wonderful and the actors were great", count: 40).joined(separator: " ")
    examples.append(.init(text: long, label: nil, split: .test, ids: []))
    let ids = try CorpusFixture.populate(store, labels: ["neg", "pos"], examples: examples, tokenizerHash: nil)
    let teacher = try EncoderTeacher.load(directory: model, threads: 2)
    #expect(teacher.maxTokens == 256)
    var o = TeacherCacheOptions()
    o.batchSize = 8
    let s = try TeacherCache(store: store, backend: teacher, options: o).run(runID: nil)
    #expect(s[0].teacher == "all-MiniLM-L6-v2")
    #expect(s[0].head == "fitted")
    #expect(s[0].tokenizedNow == 9)
    #expect(s[0].cachedNow == 9)
    #expect(s[0].windowed == 1)
    let t = try #require(try store.teacher(named: "all-MiniLM-L6-v2"))
    let out = try #require(try store.teacherOutput(teacher: t, exampleID: ids[8]))
    #expect(out.logits.values[1] > out.logits.values[0], "a text repeating 'wonderful … great' should lean positive")
  }
}
