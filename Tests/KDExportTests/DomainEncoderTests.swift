import Foundation
import KDCore
import KDExport
import KDModels
import KDStore
import KDTensor
import KDTestSupport
import KDTokenizers
import XCTest

@testable import KDTrain

/// Domain distillation (`kd-train encoder`, `DomainDistiller`) on the tiny BERT fixture: the loss
/// falls, domain text without a task is used, the state resumes, bad input is a usage error naming
/// the flag, and the written `BertModel` folder reloads as a student init and as an encoder.
final class DomainEncoderTests: XCTestCase {
  /// The fixture teacher and store (`topic` task, domain `fixture`) plus `extra` unlabeled examples of
  /// the same domain that belong to no task; every example tokenized with the teacher's vocabulary.
  func makeFixture(_ dir: TemporaryDirectory, extra: Int = 40, tokenize: Bool = true) throws -> (teacher: String, db: String) {
    let teacher = try FineTuneFixture.teacher(in: dir)
    let db = dir.file("enc.sqlite")
    let store = try FineTuneFixture.store(at: db, train: 90, validation: 24, test: 10)
    let source = try store.insertSource(NewSource(
      root: "/fixture", path: "unlabeled.txt", contentHash: "1", size: 0, mtime: 0, format: "text", domain: "fixture",
      taskID: nil, configHash: "", status: "ok", error: nil, errorCount: 0, runID: nil))
    var state: UInt64 = 77
    func next() -> UInt64 {  // an LCG is plenty for fixture words
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return state >> 33
    }
    try store.transaction {
      for i in 0..<extra {
        let doc = try store.insertDocument(sourceID: source, position: i, externalID: nil, docKey: "u\(i)", domain: "fixture", title: nil,
                                           split: i % 5 == 0 ? .validation : .train, metadataJSON: nil)
        let words = (0..<(5 + Int(next() % 6))).map { _ in "tok\(next() % 91)" } + ["u\(i)"]
        _ = try store.insertExample(documentID: doc, position: 0, text: words.joined(separator: " "), charStart: nil, charEnd: nil,
                                    section: nil, split: i % 5 == 0 ? .validation : .train, domain: "fixture", taskID: nil)
      }
    }
    if tokenize {
      let tok = try Tokenizer.load(path: teacher + "/vocab.txt")
      let bytes = try Data(contentsOf: URL(fileURLWithPath: teacher + "/vocab.txt"))
      try store.transaction {
        let id = try store.tokenizerID(name: "tiny/vocab.txt", contentHash: tok.contentHash, vocabSize: tok.vocabularySize, json: Array(bytes))
        for e in try store.examplesLackingTokenIDs(after: 0, upTo: Int64.max, tokenizerID: id, limit: 100_000) {
          let ids = tok.encode(e.text, addSpecialTokens: true, truncation: nil, padding: nil).ids
          try store.insertTokenization(example: e.id, tokenizer: id, ids: ids, vocabSize: tok.vocabularySize)
        }
      }
    }
    return (teacher, db)
  }

  func options() -> DomainDistillationOptions {
    var o = DomainDistillationOptions()
    o.domains = ["fixture"]
    o.layers = 1
    o.layerMap = [1]
    o.maxTokens = 16
    o.batchSize = 8
    o.learningRate = 3e-3
    o.epochs = 3
    o.warmup = 0
    o.patience = 0
    o.checkpointEvery = 4
    o.threads = 1
    return o
  }

  func testLossFallsOnDomainTextOfAnyTaskAndTheFolderReloads() throws {
    let dir = try TemporaryDirectory()
    let (teacher, db) = try makeFixture(dir)
    let d = try DomainDistiller(database: db, teacherDirectory: teacher, options: options(), stateDirectory: dir.file("state"))
    // 90 labelled train rows of the task + 32 of the 40 task-less rows.
    XCTAssertEqual(d.trainExamples, 122)
    XCTAssertEqual(d.validationExamples, 24 + 8)
    XCTAssertFalse(d.distillation.attentionAsRelations)
    let before = try d.trainingLoss(examples: 64)
    let r = try d.run()
    let after = try d.trainingLoss(examples: 64)
    XCTAssertLessThan(after, before * 0.8, "distillation loss \(before) → \(after)")
    XCTAssertEqual(r.epochs.count, 3)
    XCTAssertNotNil(r.epochs.last?.validation)
    XCTAssertGreaterThan(r.epochs[0].validation?.value ?? 0, 0)
    // Only --task: the task's rows alone.
    var o = options()
    o.domains = []
    o.task = "topic"
    XCTAssertEqual(try DomainDistiller(database: db, teacherDirectory: teacher, options: o, stateDirectory: dir.file("s2")).trainExamples, 90)

    // The BertModel folder: Hugging Face names, the tokenizer, and the same encoder when reloaded.
    let out = dir.file("encoder")
    // Never into the teacher folder (it is only read).
    let source = try FineTuneFixture.fingerprint(teacher)
    XCTAssertThrowsError(try EncoderExport.write(bert: d.student, source: teacher, out: teacher + "/sub")) {
      XCTAssertEqual(($0 as? KDError)?.field, "--out", "\($0)")
    }
    // …also through a symbolic link to the teacher, into a folder that does not exist yet.
    let link = dir.file("teacher-link")
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: teacher)
    XCTAssertThrowsError(try EncoderExport.checkOutput(link + "/new/encoder", source: link)) {
      XCTAssertEqual(($0 as? KDError)?.field, "--out", "\($0)")
    }
    XCTAssertThrowsError(try EncoderExport.checkOutput(link + "/encoder", source: teacher))
    XCTAssertNoThrow(try EncoderExport.checkOutput(dir.file("elsewhere/encoder"), source: link))
    XCTAssertEqual(try FineTuneFixture.fingerprint(teacher), source)
    try EncoderExport.write(bert: d.student, source: teacher, out: out)
    let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
    XCTAssertEqual(config["architectures"] as? [String], ["BertModel"])
    XCTAssertEqual(config["num_hidden_layers"] as? Int, 1)
    XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/vocab.txt"))
    let names = try SafetensorsFile(path: out + "/model.safetensors").tensors.keys
    XCTAssertTrue(names.contains("encoder.layer.0.attention.self.value.weight"))
    XCTAssertFalse(names.contains { $0.hasPrefix("bert.") || $0.hasPrefix("classifier") })
    let c = d.student.config
    var sc = c
    sc.maxTokens = 16
    let reloaded = try TrainableBert.fromTeacher(directory: out, config: sc, layerMap: [0], seed: 3)
    let seqs: [[Int32]] = [[2, 10, 11, 40, 3], [2, 7, 3]]
    XCTAssertEqual(reloaded.encode(seqs, training: false), d.student.encode(seqs, training: false))
    // …and as an encoder (inference path of kd-teacher-cache): mean pooling, no classifier.
    let enc = try BertEncoder.load(directory: out, threads: 1)
    XCTAssertNil(enc.classifier)
    XCTAssertEqual(enc.pooling, .mean)
  }

  func testNarrowRandomStudentUsesRelationsAndHiddenProjections() throws {
    let dir = try TemporaryDirectory()
    let (teacher, db) = try makeFixture(dir)
    var o = options()
    o.initialization = "random"
    o.layerMap = nil
    o.hiddenSize = 16
    o.heads = 2
    o.intermediateSize = 32
    o.hiddenLoss = 1
    o.epochs = 2
    o.learningRate = 1e-2
    let d = try DomainDistiller(database: db, teacherDirectory: teacher, options: o, stateDirectory: dir.file("state"))
    XCTAssertTrue(d.distillation.attentionAsRelations)  // 2 heads vs the teacher's 4: Q-Q and K-K relations
    XCTAssertEqual(d.distillation.relationHeads, 4)
    let before = try d.trainingLoss(examples: 64)
    _ = try d.run()
    let after = try d.trainingLoss(examples: 64)
    XCTAssertLessThan(after, before * 0.8, "distillation loss \(before) → \(after)")
  }

  /// Long texts keep [CLS] and end in [SEP] as Hugging Face tokenizers cut them (the encoder ships that tokenizer).
  func testLongTextsAreCutAsHuggingFaceTokenizersCut() throws {
    let dir = try TemporaryDirectory()
    let (teacher, db) = try makeFixture(dir)
    var o = options()
    o.maxTokens = 4  // every fixture text is longer
    let d = try DomainDistiller(database: db, teacherDirectory: teacher, options: o, stateDirectory: dir.file("state"))
    let seqs = try d.train.allBatches(epoch: 0).flatMap { TransformerStudent.sequences($0) }
    XCTAssertEqual(seqs.count, d.trainExamples)
    for s in seqs {
      XCTAssertEqual(s.count, 4, "\(s)")
      XCTAssertEqual(s.first, 2, "[CLS] first: \(s)")
      XCTAssertEqual(s.last, 3, "[SEP] last: \(s)")
    }
  }

  func testResumesAfterAnInterruption() throws {
    let dir = try TemporaryDirectory()
    let (teacher, db) = try makeFixture(dir)
    var o = options()
    o.epochs = 2
    let first = try DomainDistiller(database: db, teacherDirectory: teacher, options: o, stateDirectory: dir.file("state"))
    var step = 0
    first.afterStep = { step = $0 }
    first.shouldStop = { step >= 21 }  // epoch 2 (16 steps per epoch), after the checkpoint at step 20
    XCTAssertThrowsError(try first.run()) { XCTAssertEqual(($0 as? KDError)?.kind, .interrupted, "\($0)") }
    let second = try DomainDistiller(database: db, teacherDirectory: teacher, options: o, stateDirectory: dir.file("state"))
    let r = try second.run()
    XCTAssertEqual(r.resumedFromStep, 21)
    XCTAssertEqual(r.steps, 32)
    XCTAssertEqual(r.epochs.map(\.epoch), [1, 2])
    // Other options cannot resume that state.
    o.learningRate = 1e-4
    let third = try DomainDistiller(database: db, teacherDirectory: teacher, options: o, stateDirectory: dir.file("state"))
    XCTAssertThrowsError(try third.run()) { XCTAssertEqual(($0 as? KDError)?.kind, .input) }
  }

  func testBadInputIsAUsageErrorNamingTheFlagOrFile() throws {
    let dir = try TemporaryDirectory()
    let (teacher, db) = try makeFixture(dir)
    func field(_ o: DomainDistillationOptions, teacher t: String = teacher, db d: String = db) -> String? {
      do {
        _ = try DomainDistiller(database: d, teacherDirectory: t, options: o, stateDirectory: dir.file("s"))
        return "no error"
      } catch let e as KDError {
        return e.kind == .usage || e.kind == .input ? e.field : "kind \(e.kind)"
      } catch { return "\(error)" }
    }
    var o = options()
    o.hiddenSize = 64  // wider than the teacher's 32 with --init teacher
    XCTAssertEqual(field(o), "--hidden-size")
    o = options()
    o.layers = 3
    o.layerMap = nil
    XCTAssertEqual(field(o), "--layers")
    o = options()
    o.domains = ["nowhere"]
    XCTAssertEqual(field(o), "--domain")
    o.domains = []
    XCTAssertThrowsError(try o.validate()) { XCTAssertEqual(($0 as? KDError)?.field, "--domain") }
    // A teacher folder without a tokenizer.
    let bare = dir.file("bare")
    try FileManager.default.createDirectory(atPath: bare, withIntermediateDirectories: true)
    for f in ["config.json", "model.safetensors"] { try FileManager.default.copyItem(atPath: teacher + "/" + f, toPath: bare + "/" + f) }
    XCTAssertEqual(field(options(), teacher: bare), "--teacher")
    // Text not tokenized with the teacher's tokenizer.
    let dir2 = try TemporaryDirectory()
    let (teacher2, db2) = try makeFixture(dir2, tokenize: false)
    XCTAssertEqual(field(options(), teacher: teacher2, db: db2), "--teacher")
  }
}
