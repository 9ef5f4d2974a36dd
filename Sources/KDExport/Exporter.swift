import Foundation
import KDCore
import KDTensor

/// Export formats.
public enum ExportFormat: String, CaseIterable, Sendable {
  /// A Hugging Face `BertForSequenceClassification` folder (transformer students).
  case hf
  /// One ONNX graph (every student kind).
  case onnx
}

/// What `StudentExporter.export` should write.
public struct ExportOptions: Sendable {
  public var format: ExportFormat
  /// Store float weights as fp16 (ONNX: fp16 initializers, each followed by a Cast to fp32).
  public var fp16: Bool
  /// Output: a folder, or for ONNX a file ending in `.onnx`.
  public var out: String
  /// Replace an existing output.
  public var force: Bool

  public init(format: ExportFormat, fp16: Bool = false, out: String, force: Bool = false) {
    self.format = format; self.fp16 = fp16; self.out = out; self.force = force
  }
}

/// The result of an export (`kd-train export --json`).
public struct ExportSummary: Encodable, Sendable {
  public var model: String
  public var kind: String
  public var format: String
  public var out: String
  public var files: [String]
  public var bytes: Int
  public var parameters: Int
  public var fp16: Bool
  public var labels: [String]
  /// ONNX opset, for ONNX exports.
  public var opset: Int?
  /// Graph inputs, for ONNX exports.
  public var inputs: [String]?
  /// Tensors of the student file that are not part of the exported model (training-only heads).
  public var leftOut: [String]
}

/// Writes saved students in portable formats (docs/export.md).
///
/// For example:
/// ```swift
/// let s = try StudentExporter.export(model: "kd-models/banking77/kd/best",
///                                    options: ExportOptions(format: .onnx, out: "banking77.onnx"))
/// ```
public enum StudentExporter {
  /// Student kinds each format can express.
  public static let kinds: [ExportFormat: [String]] = [.hf: ["transformer"], .onnx: ["bow", "mlp", "transformer"]]

  /// Exports the student folder `model`.
  /// - Throws: `KDError(.usage)` naming the kind when the format cannot express it, or when the
  ///   output exists and `force` is off; `KDError(.input/.model/.io)` naming the file for a bad student folder.
  public static func export(model: String, options: ExportOptions) throws -> ExportSummary {
    let folder = try StudentFolder.load(path: model)
    let allowed = kinds[options.format] ?? []
    guard allowed.contains(folder.kind) else {
      let hint = options.format == .hf && ["bow", "mlp"].contains(folder.kind)
        ? " (a \(folder.kind) student is not a BERT model; use --format onnx)" : ""
      throw KDError(.usage, "a student of kind '\(folder.kind)' cannot be exported as \(options.format.rawValue): "
                      + "\(options.format.rawValue) supports \(allowed.joined(separator: ", "))\(hint)", field: "--format")
    }
    if options.format == .hf && options.fp16 {
      throw KDError(.usage, "--fp16 applies to --format onnx (a Hugging Face folder is written in fp32; "
                      + "call .half() after loading it)", field: "--fp16")
    }
    let out = options.out
    if FileManager.default.fileExists(atPath: out) && !options.force {
      throw KDError(.usage, "the output already exists (pass --force to replace it)", file: out, field: "--out")
    }
    switch options.format {
    case .hf:
      let student = try TransformerStudent.load(folder)
      let (files, weights) = try HuggingFaceExport.files(student: student, folder: folder)
      try OutputFolder.write(path: out, files: files, weights: weights)
      return summary(folder, options, files: Array(files.keys) + ["model.safetensors"],
                     parameters: weights.reduce(0) { $0 + $1.values.count }, labels: folder.labelNames(count: student.shape.numClasses),
                     leftOut: student.extra)
    case .onnx:
      let graph = try OnnxExport.build(folder: folder, fp16: options.fp16)
      let bytes: Data = try graph.model.serializedBytes()
      var files: [String] = []
      if out.hasSuffix(".onnx") {
        let dir = (out as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try AtomicFile.write(bytes, to: out)
        files = [(out as NSString).lastPathComponent]
      } else {
        var extra: [String: Data] = ["model.onnx": bytes]
        if let tok = folder.tokenizerPath, let d = FileManager.default.contents(atPath: tok) {
          extra[(tok as NSString).lastPathComponent] = d
        }
        try OutputFolder.write(path: out, files: extra, weights: [])
        files = Array(extra.keys)
      }
      var s = summary(folder, options, files: files, parameters: graph.parameters, labels: graph.labels, leftOut: graph.leftOut)
      s.opset = OnnxExport.opset
      s.inputs = graph.inputs
      return s
    }
  }

  static func summary(_ folder: StudentFolder, _ o: ExportOptions, files: [String], parameters: Int, labels: [String],
                      leftOut: [String]) -> ExportSummary {
    let fm = FileManager.default
    var bytes = 0
    var isDir: ObjCBool = false
    if fm.fileExists(atPath: o.out, isDirectory: &isDir), isDir.boolValue {
      for f in files { bytes += ((try? fm.attributesOfItem(atPath: o.out + "/" + f))?[.size] as? NSNumber)?.intValue ?? 0 }
    } else {
      bytes = ((try? fm.attributesOfItem(atPath: o.out))?[.size] as? NSNumber)?.intValue ?? 0
    }
    return ExportSummary(model: folder.path, kind: folder.kind, format: o.format.rawValue, out: o.out, files: files.sorted(),
                         bytes: bytes, parameters: parameters, fp16: o.fp16, labels: labels, opset: nil, inputs: nil,
                         leftOut: leftOut)
  }
}

/// Writes an output folder atomically: files go to a temporary sibling, which then replaces `path` by rename.
enum OutputFolder {
  static func write(path: String, files: [String: Data], weights: [SafetensorsWriter.Tensor]) throws {
    let fm = FileManager.default
    let url = URL(fileURLWithPath: path)
    let parent = url.deletingLastPathComponent()
    try fm.createDirectory(at: parent, withIntermediateDirectories: true)
    let tmp = parent.appendingPathComponent(url.lastPathComponent + ".tmp-\(getpid())")
    try? fm.removeItem(at: tmp)
    try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
    do {
      for (name, data) in files {
        let f = tmp.appendingPathComponent(name)
        try fm.createDirectory(at: f.deletingLastPathComponent(), withIntermediateDirectories: true)  // e.g. 1_Pooling/config.json
        try AtomicFile.write(data, to: f.path)
      }
      if !weights.isEmpty {
        try SafetensorsWriter.write(weights, metadata: ["format": "pt"], to: tmp.appendingPathComponent("model.safetensors").path)
      }
      let old = parent.appendingPathComponent(url.lastPathComponent + ".old-\(getpid())")
      if fm.fileExists(atPath: url.path) { try fm.moveItem(at: url, to: old) }
      try fm.moveItem(at: tmp, to: url)
      try? fm.removeItem(at: old)
    } catch let e as KDError {
      try? fm.removeItem(at: tmp)
      throw e
    } catch {
      try? fm.removeItem(at: tmp)
      throw KDError(.io, "cannot write the export: \(error.localizedDescription)", file: path)
    }
  }
}
