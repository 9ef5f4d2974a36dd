import Foundation
import KDCore
import KDTensor

/// Safetensors I/O of checkpoint tensors in the shape the trainer keeps them (name, shape, fp32
/// values), on KDTensor's one reader (`SafetensorsFile`: F32, F16 and BF16, bounds-checked) and
/// writer (`SafetensorsWriter`).
public enum SafeTensorsF32 {
  /// Serialises tensors in the given order, as fp32.
  public static func encode(_ tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String] = [:]) throws -> Data {
    try SafetensorsWriter.encode(tensors.map { SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, values: $0.values) },
                                 metadata: metadata)
  }

  /// Reads every tensor of a file as fp32.
  /// - Throws: `KDError` naming the file (and the tensor) when it is unreadable, truncated or malformed.
  public static func read(path: String) throws -> [String: (shape: [Int], values: [Float])] {
    let file = try SafetensorsFile(path: path)
    var out: [String: (shape: [Int], values: [Float])] = [:]
    for (name, info) in file.tensors { out[name] = (info.shape, try file.floats(name)) }
    return out
  }
}

/// Writes checkpoint folders atomically: everything goes to a temporary
/// sibling folder, each file is flushed to disk, then the folder replaces the
/// old one by `rename`. A kill at any moment leaves either the old complete
/// checkpoint or the new complete one (and at worst a `*.tmp-*` folder that the
/// next save removes), never a half-written one.
public enum CheckpointWriter {
  /// One file of a checkpoint folder: bytes, or tensors streamed as safetensors straight from their
  /// buffers (weights and AdamW moments are never copied into one more buffer to be saved).
  public enum File {
    case bytes(Data)
    case tensors([SafetensorsWriter.Tensor], metadata: [String: String])
  }

  /// Writes `files` (name → bytes) as folder `path`.
  public static func write(path: String, files: [String: Data]) throws {
    try write(path: path, contents: files.mapValues { File.bytes($0) })
  }

  /// Writes `contents` as folder `path`.
  public static func write(path: String, contents files: [String: File]) throws {
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
      for (name, file) in files {
        let f = tmp.appendingPathComponent(name)
        switch file {
        case .bytes(let data):
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
        case .tensors(let tensors, let metadata):
          let fd = open(f.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
          guard fd >= 0 else {
            let full = errno == ENOSPC
            throw KDError(.io, full ? "the disk is full: cannot create checkpoint file" : "cannot create checkpoint file: \(String(cString: strerror(errno)))",
                          file: f.path)
          }
          defer { close(fd) }
          try SafetensorsWriter.write(tensors, metadata: metadata, toDescriptor: fd, file: f.path)
          guard fsync(fd) == 0 else {
            let full = errno == ENOSPC
            throw KDError(.io, full ? "the disk is full: cannot flush checkpoint file" : "cannot flush checkpoint file", file: f.path)
          }
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

  /// `weights(of:)` as a checkpoint file streamed from the parameters' buffers.
  public static func weightsFile(of model: StudentModel) -> CheckpointWriter.File {
    .tensors(model.parameters.map { SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, values: $0.value) },
             metadata: ["format": "pt", "kd_student": model.config.kind])
  }
}
