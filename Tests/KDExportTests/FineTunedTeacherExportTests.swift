import Foundation
import KDCore
import KDExport
import KDModels
import KDTensor
import KDTestSupport
import XCTest

@testable import KDTrain

/// A teacher fine-tuned with mean pooling is written as a sentence-transformers folder
/// (Transformer → mean Pooling → Dense head) that kd's inference encoder reads back as a head
/// on the pooled embedding, with the trained model's logits.
final class FineTunedTeacherExportTests: XCTestCase {
  func testMeanPooledTeacherRoundTripsThroughTheSentenceTransformersFolder() throws {
    try roundTrip(normalize: false)
  }

  /// A teacher whose pipeline normalises (all-MiniLM-L6-v2): the classifier reads the normalised embedding.
  func testNormalisingTeacherKeepsItsNormalizeModule() throws {
    try roundTrip(normalize: true)
  }

  func roundTrip(normalize: Bool) throws {
    let dir = try TemporaryDirectory()
    let teacher = try FineTuneFixture.teacher(in: dir)
    if normalize {
      try Data(#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}, {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}, {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]"#.utf8)
        .write(to: URL(fileURLWithPath: teacher + "/modules.json"))
    }
    let db = dir.file("ft.sqlite")
    try FineTuneFixture.store(at: db, train: 60, validation: 15, test: 5)
    var o = FineTuneOptions()
    o.pooling = "mean"
    o.epochs = 1
    o.batchSize = 8
    o.learningRate = 1e-3
    o.evaluateTest = false
    let data = try FineTuneData.load(db: db, task: "topic", tokenizerPath: teacher + "/vocab.txt", options: o)
    let tuner = try TeacherFineTuner(teacherDirectory: teacher, data: data, options: o, stateDirectory: dir.file("state"))
    XCTAssertEqual(tuner.bert.normalizePooled, normalize)
    _ = try tuner.run()
    let out = dir.file("ft-mean")
    let files = try FineTunedTeacherExport.write(bert: tuner.bert, source: teacher, labels: data.labels, out: out)
    let dense = normalize ? "3_Dense" : "2_Dense"
    XCTAssertTrue(files.contains(dense + "/model.safetensors"), "\(files)")
    let modules = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/modules.json"))) as? [[String: Any]])
    XCTAssertEqual(modules.map { $0["type"] as? String }, ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling"]
                     + (normalize ? ["sentence_transformers.models.Normalize"] : []) + ["sentence_transformers.models.Dense"])
    let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
    XCTAssertEqual(config["architectures"] as? [String], ["BertModel"])
    XCTAssertEqual(config["id2label"] as? [String: String], ["0": "class0", "1": "class1", "2": "class2"])
    XCTAssertNil(config["kd_distilled_from"])

    let enc = try BertEncoder.load(directory: out, threads: 1)
    XCTAssertEqual(enc.pooling, .mean)
    XCTAssertEqual(enc.normalizeEmbeddings, normalize)
    XCTAssertEqual(enc.classifierInput, .pooledEmbedding)
    XCTAssertEqual(enc.classifier?.labels, data.labels)
    let seqs = Array(data.validation.prefix(6).map(\.ids))
    let expected = tuner.bert.forward(seqs, training: false)
    let got = try enc.forward(seqs)
    for i in seqs.indices {
      let row = try XCTUnwrap(got.logits(i))
      for j in 0..<data.labels.count { XCTAssertEqual(row[row.startIndex + j], expected[i * data.labels.count + j], accuracy: 1e-4) }
    }
    // An encoder distilled from this folder keeps its pipeline without the classifier module.
    let encOut = dir.file("enc")
    try EncoderExport.write(bert: tuner.bert, source: out, out: encOut)
    let encModules = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: encOut + "/modules.json"))) as? [[String: Any]])
    XCTAssertEqual(encModules.map { $0["path"] as? String }, ["", "1_Pooling"] + (normalize ? ["2_Normalize"] : []))
    XCTAssertNil(try BertEncoder.load(directory: encOut, threads: 1).classifier)
    // A Dense module whose config is missing is an error naming the file.
    try FileManager.default.removeItem(atPath: out + "/\(dense)/config.json")
    XCTAssertThrowsError(try BertEncoder.load(directory: out, threads: 1)) { e in
      XCTAssertTrue((e as? KDError)?.file?.hasSuffix(dense + "/config.json") ?? false, "\(e)")
    }
  }
}
