import Foundation
import KDCore
import KDTensor
import Testing

@testable import KDModels

/// Missing or corrupt model files and bad batches fail with errors that name the file and cause.
@Suite struct BadInputTests {
  func expectError(_ kind: KDError.Kind, containing parts: [String], _ body: () throws -> Void,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    do {
      try body()
      Issue.record("expected a \(kind) error", sourceLocation: sourceLocation)
    } catch let e as KDError {
      #expect(e.kind == kind, "\(e)", sourceLocation: sourceLocation)
      for p in parts {
        #expect(e.description.contains(p), "\"\(e)\" should mention \(p)", sourceLocation: sourceLocation)
      }
    } catch {
      Issue.record("expected KDError, got \(error)", sourceLocation: sourceLocation)
    }
  }

  @Test func missingFiles() throws {
    let dir = try Fixtures.tempDirectory()
    expectError(.io, containing: ["config.json"]) { _ = try BertEncoder.load(directory: dir, threads: 1) }
    let copy = try Fixtures.copyFixture("tiny-bert")
    try FileManager.default.removeItem(atPath: copy + "/model.safetensors")
    expectError(.io, containing: ["model.safetensors", "not found"]) { _ = try BertEncoder.load(directory: copy, threads: 1) }
  }

  @Test func truncatedSafetensors() throws {
    let copy = try Fixtures.copyFixture("tiny-bert")
    let path = copy + "/model.safetensors"
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: path))
    expectError(.model, containing: ["model.safetensors", "truncated"]) { _ = try BertEncoder.load(directory: copy, threads: 1) }
    try data.prefix(5).write(to: URL(fileURLWithPath: path))
    expectError(.model, containing: ["too short"]) { _ = try SafetensorsFile(path: path) }
    try data.prefix(200).write(to: URL(fileURLWithPath: path))
    expectError(.model, containing: ["header length"]) { _ = try SafetensorsFile(path: path) }
  }

  @Test func badHeader() throws {
    let path = try Fixtures.tempDirectory() + "/bad.safetensors"
    var d = Data()
    let header = Data("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]".utf8)  // no closing brace
    var n = UInt64(header.count).littleEndian
    withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
    d.append(header)
    d.append(Data(count: 8))
    try d.write(to: URL(fileURLWithPath: path))
    expectError(.model, containing: ["bad.safetensors", "JSON"]) { _ = try SafetensorsFile(path: path) }

    func file(_ json: String, dataBytes: Int) throws -> String {
      var d = Data()
      let h = Data(json.utf8)
      var n = UInt64(h.count).littleEndian
      withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
      d.append(h)
      d.append(Data(count: dataBytes))
      try d.write(to: URL(fileURLWithPath: path))
      return path
    }
    expectError(.model, containing: ["\"a\"".replacingOccurrences(of: "\"", with: ""), "do not match"]) {
      _ = try SafetensorsFile(path: try file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", dataBytes: 8))
    }
    expectError(.unsupported, containing: ["F8_E4M3"]) {
      _ = try SafetensorsFile(path: try file("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]}}", dataBytes: 8))
    }
    expectError(.model, containing: ["past the end"]) {
      _ = try SafetensorsFile(path: try file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", dataBytes: 8))
    }
  }

  func editConfig(_ dir: String, _ edit: (inout [String: Any]) -> Void) throws {
    let path = dir + "/config.json"
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    var obj = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    edit(&obj)
    try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: path))
  }

  @Test func shapesThatContradictTheConfig() throws {
    let copy = try Fixtures.copyFixture("tiny-bert")
    try editConfig(copy) { $0["intermediate_size"] = 64 }
    expectError(.model, containing: ["model.safetensors", "intermediate.dense.weight", "contradicts the config"]) {
      _ = try BertEncoder.load(directory: copy, threads: 1)
    }
    try editConfig(copy) { $0["intermediate_size"] = 48; $0["num_hidden_layers"] = 3 }
    expectError(.model, containing: ["encoder.layer.2", "missing"]) { _ = try BertEncoder.load(directory: copy, threads: 1) }
    try editConfig(copy) { $0["num_hidden_layers"] = 2; $0["num_attention_heads"] = 5 }
    expectError(.model, containing: ["config.json", "num_attention_heads"]) { _ = try BertEncoder.load(directory: copy, threads: 1) }
    try editConfig(copy) { $0["num_attention_heads"] = 4; $0["id2label"] = ["0": "a", "1": "b"] }
    expectError(.model, containing: ["id2label", "3 outputs"]) { _ = try BertEncoder.load(directory: copy, threads: 1) }
    try editConfig(copy) { $0.removeValue(forKey: "hidden_size") }
    expectError(.model, containing: ["config.json", "hidden_size"]) { _ = try BertEncoder.load(directory: copy, threads: 1) }
  }

  @Test func unsupportedArchitecturesAndActivations() throws {
    let copy = try Fixtures.copyFixture("tiny-bert")
    try editConfig(copy) { $0["architectures"] = ["GPT2LMHeadModel"] }
    expectError(.unsupported, containing: ["GPT2LMHeadModel", "architectures"]) { _ = try BertEncoder.load(directory: copy, threads: 1) }
    try editConfig(copy) { $0["architectures"] = ["BertForSequenceClassification"]; $0["hidden_act"] = "relu" }
    expectError(.unsupported, containing: ["relu", "hidden_act"]) { _ = try BertEncoder.load(directory: copy, threads: 1) }
    try editConfig(copy) { $0["hidden_act"] = "gelu" }
    try FileManager.default.createDirectory(atPath: copy + "/1_Pooling", withIntermediateDirectories: true)
    try Data("{\"pooling_mode_max_tokens\": true}".utf8).write(to: URL(fileURLWithPath: copy + "/1_Pooling/config.json"))
    expectError(.unsupported, containing: ["1_Pooling/config.json", "pooling"]) { _ = try BertEncoder.load(directory: copy, threads: 1) }
    try Data("{\"pooling_mode_mean_tokens\": true}".utf8).write(to: URL(fileURLWithPath: copy + "/1_Pooling/config.json"))
    #expect(try BertEncoder.load(directory: copy, threads: 1).pooling == .mean)
  }

  @Test func nanWeightsAreANumericError() throws {
    let copy = try Fixtures.copyFixture("tiny-bert")
    let path = copy + "/model.safetensors"
    let st = try SafetensorsFile(path: path)
    var tensors: [SafetensorsWriter.Tensor] = []
    for name in st.tensors.keys.sorted() {
      let info = try st.info(name)
      var v = try st.floats(name)
      if name == "bert.encoder.layer.1.output.dense.weight" { v[3] = .nan }
      tensors.append(.init(name: name, shape: info.shape, values: v))
    }
    try SafetensorsWriter.write(tensors, to: path)
    let enc = try BertEncoder.load(directory: copy, threads: 1)
    expectError(.numeric, containing: ["NaN"]) { _ = try enc.forward([[5, 6, 7]]) }
  }

  @Test func badBatches() throws {
    let enc = try BertEncoder.load(directory: Fixtures.resources + "/tiny-bert", threads: 1)
    expectError(.input, containing: ["batch[1]", "empty"]) { _ = try enc.forward([[1, 2], []]) }
    expectError(.input, containing: ["96", "vocabulary"]) { _ = try enc.forward([[1, 96]]) }
    expectError(.input, containing: ["41 tokens", "at most 40"]) { _ = try enc.forward([[Int32](repeating: 4, count: 41)]) }
  }
}
