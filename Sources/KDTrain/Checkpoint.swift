import Foundation
import KDCore

/// Minimal safetensors I/O for F32 tensors (the format of
/// <https://github.com/huggingface/safetensors>: an 8-byte little-endian header
/// length, a JSON header of `{name: {dtype, shape, data_offsets}}`, then the data).
public enum SafeTensorsF32 {
  /// Serialises tensors in the given order.
  public static func encode(_ tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String] = [:]) throws -> Data {
    var header: [String: Any] = [:]
    var offset = 0
    for t in tensors {
      let bytes = t.values.count * 4
      header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
      offset += bytes
    }
    if !metadata.isEmpty { header["__metadata__"] = metadata }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    var out = Data()
    out.reserveCapacity(8 + json.count + offset)
    var n = UInt64(json.count).littleEndian
    withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
    out.append(json)
    for t in tensors {
      t.values.withUnsafeBufferPointer { p in
        #if _endian(little)
          out.append(UnsafeBufferPointer(start: UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: UInt8.self),
                                         count: p.count * 4))
        #else
          for v in p { var b = v.bitPattern.littleEndian; withUnsafeBytes(of: &b) { out.append(contentsOf: $0) } }
        #endif
      }
    }
    return out
  }

  /// Reads every F32 tensor of a file.
  /// - Throws: `KDError(.input)` naming the file when it is truncated, malformed or not F32.
  public static func read(path: String) throws -> [String: (shape: [Int], values: [Float])] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw KDError(.io, "cannot read checkpoint weights", file: path)
    }
    return try decode(data, file: path)
  }

  public static func decode(_ data: Data, file: String) throws -> [String: (shape: [Int], values: [Float])] {
    guard data.count >= 8 else { throw KDError(.input, "not a safetensors file (shorter than 8 bytes)", file: file) }
    let n = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    guard n <= UInt64(data.count - 8) else { throw KDError(.input, "safetensors header length \(n) exceeds the file", file: file) }
    let headerData = data.subdata(in: 8..<(8 + Int(n)))
    guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
      throw KDError(.input, "safetensors header is not a JSON object", file: file)
    }
    let base = 8 + Int(n)
    var out: [String: (shape: [Int], values: [Float])] = [:]
    for (name, entry) in header where name != "__metadata__" {
      guard let e = entry as? [String: Any], let dtype = e["dtype"] as? String, let shape = e["shape"] as? [Int],
        let offs = e["data_offsets"] as? [Int], offs.count == 2
      else { throw KDError(.input, "malformed entry", file: file, field: name) }
      guard dtype == "F32" else { throw KDError(.input, "dtype \(dtype) (only F32 is supported here)", file: file, field: name) }
      let count = shape.reduce(1, *)
      guard offs[0] >= 0, offs[1] - offs[0] == count * 4, base + offs[1] <= data.count else {
        throw KDError(.input, "data offsets \(offs) do not match shape \(shape) or the file size", file: file, field: name)
      }
      var values = [Float](repeating: 0, count: count)
      values.withUnsafeMutableBytes { dst in
        data.copyBytes(to: dst.bindMemory(to: UInt8.self), from: (base + offs[0])..<(base + offs[1]))
      }
      #if !_endian(little)
        for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
      #endif
      out[name] = (shape, values)
    }
    return out
  }
}

/// Writes checkpoint folders atomically: everything goes to a temporary
/// sibling folder, each file is flushed to disk, then the folder replaces the
/// old one by `rename`. A kill at any moment leaves either the old complete
/// checkpoint or the new complete one (and at worst a `*.tmp-*` folder that the
/// next save removes), never a half-written one.
public enum CheckpointWriter {
  /// Writes `files` (name → bytes) as folder `path`.
  public static func write(path: String, files: [String: Data]) throws {
    let fm = FileManager.default
    let url = URL(fileURLWithPath: path)
    let parent = url.deletingLastPathComponent()
    try fm.createDirectory(at: parent, withIntermediateDirectories: true)
    // Leftovers of a killed save.
    if let items = try? fm.contentsOfDirectory(atPath: parent.path) {
      for i in items where i.hasPrefix(url.lastPathComponent + ".tmp-") || i.hasPrefix(url.lastPathComponent + ".old-") {
        try? fm.removeItem(at: parent.appendingPathComponent(i))
      }
    }
    let tmp = parent.appendingPathComponent(url.lastPathComponent + ".tmp-\(getpid())")
    try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
    do {
      for (name, data) in files {
        let f = tmp.appendingPathComponent(name)
        guard fm.createFile(atPath: f.path, contents: data) else {
          let full = errno == ENOSPC
          throw KDError(.io, full ? "the disk is full: cannot write checkpoint file (\(data.count) bytes)" : "cannot write checkpoint file",
                        file: f.path)
        }
        let fd = open(f.path, O_RDONLY)
        if fd >= 0 {
          fsync(fd)
          close(fd)
        }
      }
      let old = parent.appendingPathComponent(url.lastPathComponent + ".old-\(getpid())")
      if fm.fileExists(atPath: url.path) { try fm.moveItem(at: url, to: old) }
      try fm.moveItem(at: tmp, to: url)
      try? fm.removeItem(at: old)
      let dfd = open(parent.path, O_RDONLY)
      if dfd >= 0 {
        fsync(dfd)
        close(dfd)
      }
    } catch {
      try? fm.removeItem(at: tmp)
      throw error
    }
  }

  /// Total size in bytes of the files in a folder.
  public static func size(of path: String) -> Int {
    let fm = FileManager.default
    guard let items = try? fm.contentsOfDirectory(atPath: path) else { return 0 }
    return items.reduce(0) { acc, i in
      let a = try? fm.attributesOfItem(atPath: (path as NSString).appendingPathComponent(i))
      return acc + ((a?[.size] as? NSNumber)?.intValue ?? 0)
    }
  }
}

/// A saved student: its architecture, label names and weights.
public struct StudentCheckpoint {
  public var config: StudentConfig
  public var labels: [String]
  public var model: StudentModel
  /// The tokenizer definition saved with the model (tokenizer.json or vocab.txt bytes), if any.
  public var tokenizerPath: String?

  /// The `config.json` document of a checkpoint folder.
  struct ConfigFile: Codable {
    var format = "kd-student-v1"
    var student: StudentConfig
    var labels: [String]
    var task: String
    var tokenizer: String?
    var training: TrainingOptions?
  }

  /// Loads a checkpoint folder written by the trainer.
  /// - Throws: `KDError(.input)` naming the file when config.json or model.safetensors is missing or inconsistent.
  public static func load(path: String) throws -> StudentCheckpoint {
    let configPath = (path as NSString).appendingPathComponent("config.json")
    guard let data = FileManager.default.contents(atPath: configPath) else {
      throw KDError(.io, "no config.json in the checkpoint folder", file: configPath)
    }
    let config: ConfigFile
    do {
      config = try JSONDecoder().decode(ConfigFile.self, from: data)
    } catch {
      throw KDError(.input, "config.json is not a kd student config: \(error)", file: configPath)
    }
    guard config.labels.count == config.student.numClasses else {
      throw KDError(.input, "\(config.labels.count) labels for \(config.student.numClasses) classes", file: configPath, field: "labels")
    }
    let model = try makeStudent(config.student, seed: 0)
    let weightsPath = (path as NSString).appendingPathComponent("model.safetensors")
    try loadWeights(into: model, path: weightsPath)
    var tok: String?
    for name in ["tokenizer.json", "vocab.txt"] {
      let p = (path as NSString).appendingPathComponent(name)
      if FileManager.default.fileExists(atPath: p) {
        tok = p
        break
      }
    }
    return StudentCheckpoint(config: config.student, labels: config.labels, model: model, tokenizerPath: tok)
  }

  /// Copies weights from a safetensors file into a model, checking every name and shape.
  public static func loadWeights(into model: StudentModel, path: String) throws {
    let tensors = try SafeTensorsF32.read(path: path)
    for p in model.parameters {
      guard let t = tensors[p.name] else { throw KDError(.input, "missing tensor", file: path, field: p.name) }
      guard t.shape == p.shape else {
        throw KDError(.input, "shape \(t.shape), expected \(p.shape)", file: path, field: p.name)
      }
      p.value = t.values
    }
  }

  /// The weights of a model as safetensors bytes.
  public static func weights(of model: StudentModel) throws -> Data {
    try SafeTensorsF32.encode(model.parameters.map { ($0.name, $0.shape, $0.value) },
                              metadata: ["format": "pt", "kd_student": model.config.kind])
  }
}
