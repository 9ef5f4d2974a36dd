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
    let dir = try TemporaryDirectory()
    let teacher = try FineTuneFixture.teacher(in: dir)
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
    _ = try tuner.run()
    let out = dir.file("ft-mean")
    let files = try FineTunedTeacherExport.write(bert: tuner.bert, source: teacher, labels: data.labels, out: out)
    XCTAssertTrue(files.contains("2_Dense/model.safetensors"), "\(files)")
    let modules = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/modules.json"))) as? [[String: Any]])
    XCTAssertEqual(modules.map { $0["type"] as? String }, ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
                                                           "sentence_transformers.models.Dense"])
    let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
    XCTAssertEqual(config["architectures"] as? [String], ["BertModel"])
    XCTAssertEqual(config["id2label"] as? [String: String], ["0": "class0", "1": "class1", "2": "class2"])
    XCTAssertNil(config["kd_distilled_from"])

    let enc = try BertEncoder.load(directory: out, threads: 1)
    XCTAssertEqual(enc.pooling, .mean)
    XCTAssertFalse(enc.normalizeEmbeddings)
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
    XCTAssertEqual(encModules.map { $0["path"] as? String }, ["", "1_Pooling"])
    XCTAssertNil(try BertEncoder.load(directory: encOut, threads: 1).classifier)
    // A Dense module whose config is missing is an error naming the file.
    try FileManager.default.removeItem(atPath: out + "/2_Dense/config.json")
    XCTAssertThrowsError(try BertEncoder.load(directory: out, threads: 1)) { e in
      XCTAssertTrue((e as? KDError)?.file?.hasSuffix("2_Dense/config.json") ?? false, "\(e)")
    }
  }
}
