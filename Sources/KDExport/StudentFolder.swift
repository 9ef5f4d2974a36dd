import Foundation
import KDCore
import KDTensor

/// A saved student folder read for export: its kd `config.json`, label names,
/// weights and tokenizer, decoded leniently so that every student kind
/// (`bow`, `mlp`, `transformer`) and older or newer config layouts load.
///
/// The config is kd's checkpoint document (`{"format": "kd-student-v1",
/// "student": {...}, "labels": [...], "task": ...}`); the student object may
/// also sit at the top level. Field names are accepted in kd's camelCase and in
/// snake_case.
public struct StudentFolder {
  /// The folder.
  public let path: String
  /// `bow`, `mlp`, `transformer`, or whatever the config says (export refuses kinds it cannot express).
  public let kind: String
  /// Class names in output order.
  public let labels: [String]
  /// The task the student was trained for, when recorded.
  public let task: String?
  /// The student object of config.json.
  public let student: [String: Any]
  /// `tokenizer.json` (or `vocab.txt`) beside the weights, if any.
  public let tokenizerPath: String?
  /// `model.safetensors`.
  public let weightsPath: String

  var configPath: String { (path as NSString).appendingPathComponent("config.json") }

  /// Reads `config.json` and locates the weights and tokenizer.
  /// - Throws: `KDError(.io)` for a missing folder or file, `KDError(.input)`
  ///   naming config.json and the field when it is not a kd student config.
  public static func load(path: String) throws -> StudentFolder {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
      throw KDError(.io, "not a folder (expected a student checkpoint folder with config.json and model.safetensors)", file: path)
    }
    let configPath = (path as NSString).appendingPathComponent("config.json")
    guard let data = FileManager.default.contents(atPath: configPath) else {
      throw KDError(.io, "no config.json in the student folder", file: configPath)
    }
    guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
      throw KDError(.input, "config.json is not a JSON object", file: configPath)
    }
    let student: [String: Any]
    if let s = root["student"] as? [String: Any] {
      student = s
    } else if root["kind"] is String {
      student = root
    } else if root["architectures"] != nil || root["model_type"] != nil {
      throw KDError(.input, "this is a Hugging Face config.json, not a kd student: the folder is already in Hugging Face form",
                    file: configPath, field: "architectures")
    } else {
      throw KDError(.input, "config.json has no \"student\" object (not a kd student checkpoint)", file: configPath, field: "student")
    }
    guard let kind = student["kind"] as? String else {
      throw KDError(.input, "the student has no \"kind\"", file: configPath, field: "student.kind")
    }
    var labels: [String] = []
    if let l = root["labels"] as? [String] {
      labels = l
    } else if let l = student["labels"] as? [String] {
      labels = l
    } else if let m = (root["id2label"] ?? student["id2label"]) as? [String: String] {
      let pairs = try m.map { (k, v) -> (Int, String) in
        guard let i = Int(k) else { throw KDError(.input, "id2label key \"\(k)\" is not an integer", file: configPath, field: "id2label") }
        return (i, v)
      }
      labels = pairs.sorted { $0.0 < $1.0 }.map(\.1)
    }
    let weights = (path as NSString).appendingPathComponent("model.safetensors")
    guard FileManager.default.fileExists(atPath: weights) else {
      throw KDError(.io, "no model.safetensors in the student folder", file: weights)
    }
    var tok: String?
    for name in ["tokenizer.json", "vocab.txt"] {
      let p = (path as NSString).appendingPathComponent(name)
      if FileManager.default.fileExists(atPath: p) {
        tok = p
        break
      }
    }
    let folder = StudentFolder(path: path, kind: kind, labels: labels, task: root["task"] as? String,
                               student: student, tokenizerPath: tok, weightsPath: weights)
    if let n = folder.optionalInt("numClasses", "num_classes", "num_labels"), !labels.isEmpty, n != labels.count {
      throw KDError(.input, "\(labels.count) labels for \(n) classes", file: configPath, field: "labels")
    }
    return folder
  }

  /// An integer field under any of the given names (camelCase or snake_case).
  func optionalInt(_ names: String...) -> Int? { optionalInt(names) }

  func optionalInt(_ names: [String]) -> Int? {
    for n in names {
      if let v = student[n] as? Int { return v }
      if let v = student[n] as? Double, v == v.rounded() { return Int(v) }
    }
    return nil
  }

  func int(_ names: String...) throws -> Int {
    guard let v = optionalInt(names) else {
      throw KDError(.input, "missing integer field", file: configPath, field: "student." + names[0])
    }
    return v
  }

  func optionalDouble(_ names: String...) -> Double? {
    for n in names { if let v = student[n] as? Double { return v } }
    return nil
  }

  func optionalString(_ names: String...) -> String? {
    for n in names { if let v = student[n] as? String { return v } }
    return nil
  }

  func optionalInts(_ names: String...) -> [Int]? {
    for n in names { if let v = student[n] as? [Int] { return v } }
    return nil
  }

  /// Label names, or `LABEL_i` when the config names none.
  func labelNames(count: Int) -> [String] {
    labels.count == count ? labels : (0..<count).map { "LABEL_\($0)" }
  }
}

/// The weights of a student folder, read as fp32 whatever the stored dtype (F32, F16, BF16).
struct StudentWeights {
  let file: SafetensorsFile

  init(path: String) throws { file = try SafetensorsFile(path: path) }

  var names: [String] { file.tensors.keys.sorted() }

  func has(_ name: String) -> Bool { file.tensors[name] != nil }

  func shape(_ name: String) throws -> [Int] { try file.info(name).shape }

  /// The values of `name`, checked against `shape` when given.
  /// - Throws: `KDError(.model)` naming the file and tensor when it is missing or has another shape.
  func floats(_ name: String, _ shape: [Int]? = nil) throws -> [Float] { try file.floats(name, shape: shape) }
}
