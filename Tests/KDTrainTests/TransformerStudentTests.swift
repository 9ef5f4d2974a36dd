import Foundation
import KDCore
import KDModels
import KDStore
import KDTestSupport
import Testing

@testable import KDTrain

/// The transformer student through the trainer, on the synthetic store (small shapes).
@Suite struct TransformerStudentTests {
  func options() -> TrainingOptions {
    var o = TrainingOptions()
    o.student = "transformer"
    var t = TransformerOptions()
    t.layers = 2
    t.hiddenSize = 16
    t.heads = 2
    t.intermediateSize = 32
    t.initialization = "random"
    t.threads = 1
    o.transformer = t
    o.maxTokens = 32
    o.epochs = 6
    o.batchSize = 16
    o.learningRate = 5e-3
    o.patience = 0
    o.checkpointEvery = 0
    o.shuffleBuffer = 64
    return o
  }

  func trainer(_ dir: TemporaryDirectory, db: String, options: TrainingOptions, name: String = "kd") throws -> Trainer {
    let plan = try TrainingPlan.resolve(dbPaths: [db], task: "topic", teacherNames: [])
    return try Trainer(plan: plan, options: options, name: name, layout: CheckpointLayout(root: dir.file("models/\(name)")))
  }

  @Test func trainsAndSavesHuggingFaceNamedWeights() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    _ = try SyntheticStore().build(at: db)
    let t = try trainer(dir, db: db, options: options())
    let r = try t.run()
    #expect(r.student == "transformer")
    #expect(r.validation.accuracy > 0.75, "validation accuracy \(r.validation.accuracy)")
    let loaded = try StudentCheckpoint.load(path: r.checkpoint)
    #expect(loaded.config.kind == "transformer")
    #expect(loaded.config.layers == 2 && loaded.config.hiddenSize == 16 && loaded.config.heads == 2)
    #expect(loaded.config.intermediateSize == 32 && loaded.config.maxTokens == 32 && loaded.config.hiddenAct == "gelu")
    let testLoader = try StreamingLoader(sources: t.plan.sources(split: .test, domains: []), options: t.loaderOptions(train: false))
    #expect(try t.evaluate(loaded.model, testLoader).accuracy == r.test?.accuracy)
    // Hugging Face BertForSequenceClassification names and [out, in] shapes.
    let tensors = try SafeTensorsF32.read(path: r.checkpoint + "/model.safetensors")
    #expect(tensors["bert.embeddings.word_embeddings.weight"]?.shape == [60, 16])
    #expect(tensors["bert.embeddings.position_embeddings.weight"]?.shape == [32, 16])
    #expect(tensors["bert.encoder.layer.1.intermediate.dense.weight"]?.shape == [32, 16])
    #expect(tensors["bert.encoder.layer.1.output.dense.weight"]?.shape == [16, 32])
    #expect(tensors["bert.encoder.layer.0.attention.output.LayerNorm.bias"]?.shape == [16])
    #expect(tensors["bert.pooler.dense.weight"]?.shape == [16, 16])
    #expect(tensors["classifier.weight"]?.shape == [3, 16])
    #expect(tensors.count == 5 + 16 * 2 + 4)
    #expect(FileManager.default.fileExists(atPath: r.checkpoint + "/tokenizer.json"))
    // The config names the fields the exporter reads.
    let json = try String(contentsOfFile: r.checkpoint + "/config.json", encoding: .utf8)
    for key in ["\"kind\" : \"transformer\"", "\"layers\"", "\"hiddenSize\"", "\"heads\"", "\"intermediateSize\"", "\"maxTokens\"",
                "\"vocabSize\"", "\"typeVocabSize\"", "\"layerNormEps\"", "\"hiddenAct\"", "\"padTokenId\"", "\"numClasses\"",
                "\"initialization\" : \"random\""] {
      #expect(json.contains(key), "config.json lacks \(key)")
    }
  }

  @Test func sameSeedSameModel() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    _ = try SyntheticStore().build(at: db)
    var o = options()
    o.epochs = 1
    let a = try trainer(dir, db: db, options: o, name: "a").run()
    let b = try trainer(dir, db: db, options: o, name: "b").run()
    let ta = try SafeTensorsF32.read(path: a.checkpoint + "/model.safetensors")
    let tb = try SafeTensorsF32.read(path: b.checkpoint + "/model.safetensors")
    for (k, v) in ta { #expect(tb[k]?.values == v.values, "\(k) differs between two runs with one seed") }
  }

  @Test func teacherInitThatDoesNotFitIsAUsageErrorNamingInit() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    _ = try SyntheticStore().build(at: db)
    var o = options()
    o.transformer?.initialization = "teacher"
    o.transformer?.teacherDirectory = dir.file("no-such-model")
    #expect(throws: KDError.self) { try trainer(dir, db: db, options: o).run() }
    do {
      _ = try trainer(dir, db: db, options: o).run()
    } catch let e as KDError {
      #expect(e.kind == .usage && e.field == "--init")
    }
    let miniLM = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path + "/models/all-MiniLM-L6-v2"
    guard FileManager.default.fileExists(atPath: miniLM + "/config.json") else {
      print("note: skipping the vocabulary check: \(miniLM) is absent")
      return
    }
    // The synthetic tokenizer has 60 ids, the teacher 30522.
    o.transformer?.teacherDirectory = miniLM
    o.transformer?.hiddenSize = nil
    o.transformer?.heads = nil
    o.transformer?.intermediateSize = nil
    do {
      _ = try trainer(dir, db: db, options: o).run()
      Issue.record("expected a usage error")
    } catch let e as KDError {
      #expect(e.kind == .usage && e.field == "--init" && e.message.contains("vocabulary"), "\(e)")
    }
  }

  /// A tiny Hugging Face BERT folder with the synthetic vocabulary (60 ids), random weights.
  func tinyTeacher(_ dir: TemporaryDirectory, hidden: Int = 16, layers: Int = 4) throws -> String {
    let path = dir.file("tiny-teacher")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    let c = TrainableBertConfig(layers: layers, hiddenSize: hidden, heads: 2, intermediateSize: 2 * hidden, maxTokens: 64,
                                vocabSize: 60, numClasses: 3, dropout: 0)
    let bert = try TrainableBert(config: c, seed: 77)
    let tensors = bert.parameters.filter { !$0.name.hasPrefix("classifier") }.map { (String($0.name.dropFirst(5)), $0.shape, $0.value) }
    try SafeTensorsF32.encode(tensors).write(to: URL(fileURLWithPath: path + "/model.safetensors"))
    let config = """
      {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": 60, "hidden_size": \(hidden),
       "num_hidden_layers": \(layers), "num_attention_heads": 2, "intermediate_size": \(2 * hidden),
       "max_position_embeddings": 64, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
      """
    try config.write(toFile: path + "/config.json", atomically: true, encoding: .utf8)
    return path
  }

  @Test func teacherInitAndIntermediateLossesTrain() throws {
    let dir = try TemporaryDirectory()
    let db = dir.file("a.sqlite")
    _ = try SyntheticStore().build(at: db)
    let teacher = try tinyTeacher(dir)
    var o = options()
    o.epochs = 2
    o.transformer?.initialization = "teacher"
    o.transformer?.teacherDirectory = teacher
    o.transformer?.hiddenSize = nil
    o.transformer?.heads = nil
    o.transformer?.intermediateSize = nil
    o.transformer?.hiddenLoss = 1
    o.transformer?.attentionLoss = 1
    let r = try trainer(dir, db: db, options: o).run()
    let loaded = try StudentCheckpoint.load(path: r.checkpoint)
    #expect(loaded.config.initialization == "teacher" && loaded.config.layerMap == [1, 3])
    #expect(r.validation.accuracy > 0.5, "validation accuracy \(r.validation.accuracy)")
    // Projection parameters of the hidden loss are not part of the saved student.
    let tensors = try SafeTensorsF32.read(path: r.checkpoint + "/model.safetensors")
    #expect(!tensors.keys.contains { $0.hasPrefix("distill.") })
    // A wider teacher needs projections (hidden loss) and still trains.
    let wide = try tinyTeacher(try TemporaryDirectory(), hidden: 24, layers: 2)
    o.transformer?.initialization = "random"
    o.transformer?.teacherDirectory = wide
    o.transformer?.hiddenSize = 16
    o.transformer?.heads = 2
    o.transformer?.intermediateSize = 32
    o.transformer?.attentionLoss = 0
    o.epochs = 1
    _ = try trainer(dir, db: db, options: o, name: "wide").run()
  }

  @Test func defaultLayerMapSpreadsTeacherLayers() {
    #expect(TransformerStudent.defaultLayerMap(studentLayers: 3, teacherLayers: 6) == [1, 3, 5])
    #expect(TransformerStudent.defaultLayerMap(studentLayers: 6, teacherLayers: 12) == [1, 3, 5, 7, 9, 11])
    #expect(TransformerStudent.defaultLayerMap(studentLayers: 1, teacherLayers: 6) == [5])
    #expect(TransformerStudent.defaultLayerMap(studentLayers: 6, teacherLayers: 6) == [0, 1, 2, 3, 4, 5])
  }
}
