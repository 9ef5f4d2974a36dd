import ArgumentParser
import Foundation
import KDCLI
import KDCore
import KDExport
import KDStore

struct Export: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Export a trained student as a Hugging Face folder or an ONNX graph.",
    discussion: """
      --model is a student checkpoint folder (config.json, model.safetensors,
      tokenizer.json), or the name of a model recorded in --db (kd, baseline, …;
      TASK/NAME when several tasks have one): the newest model of that name.

      --format hf writes a BertForSequenceClassification folder (transformer
      students) that transformers' AutoModelForSequenceClassification and
      AutoTokenizer load offline, and kd-teacher-cache --teacher accepts.
      --format onnx writes an opset-18 graph for every student kind (bow and mlp
      compute their hashed bigrams inside the graph); --out ending in .onnx
      writes that file, any other --out a folder with model.onnx and the
      tokenizer. --fp16 stores ONNX weights as fp16 (each cast to fp32 in the
      graph). See docs/export.md.

      Examples:
        kd-train export --model kd-models/banking77/kd/best --format onnx --out banking77.onnx
        kd-train export --model kd-models/banking77/kd/best --format onnx --fp16 --out banking77-fp16.onnx
        kd-train export --model transformer --db data.sqlite --format hf --out exported/banking77-bert
        kd-train export --model kd --db data.sqlite --format onnx --out exported/kd --force --json

      \(KDExit.helpText)
      """)

  @Option(help: "A student checkpoint folder, or a model name recorded in --db (NAME or TASK/NAME).")
  var model: String
  @Option(help: "hf (Hugging Face folder, transformer students) or onnx (every student kind).")
  var format: String
  @Option(help: "Output folder, or for onnx a file ending in .onnx.")
  var out: String
  @Flag(help: "Store ONNX weights as fp16 (about half the size; computation stays fp32).")
  var fp16 = false
  @Flag(help: "Replace an existing output.")
  var force = false
  @Option(help: "The kd database to look --model names up in.")
  var db: String = "data.sqlite"
  @Flag(help: "Print a JSON summary on stdout.")
  var json = false
  @Flag(name: [.short, .long], help: "Only errors on stderr.")
  var quiet = false

  func run() throws {
    Log.quiet = quiet
    try runStage(tool: "kd-train export") {
      guard let fmt = ExportFormat(rawValue: format) else {
        throw KDError(.usage, "unknown format '\(format)' (expected hf or onnx)", field: "--format")
      }
      let path = try resolveModel()
      let summary = try StudentExporter.export(model: path, options: ExportOptions(format: fmt, fp16: fp16, out: out, force: force))
      if !summary.leftOut.isEmpty {
        Log.info("left out \(summary.leftOut.count) tensor(s) that are not part of the model: \(summary.leftOut.joined(separator: ", "))")
      }
      Log.info("exported \(summary.kind) student \(path) as \(summary.format)\(fp16 ? " (fp16)" : "") to \(summary.out) "
                 + "(\(summary.parameters) parameters, \(summary.bytes) bytes)")
      if json { printJSON(encodable: summary) }
      return KDExit.success
    }
  }

  /// A folder path as given, else the newest model of that name in --db.
  func resolveModel() throws -> String {
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: model, isDirectory: &isDir) {
      guard isDir.boolValue else { throw KDError(.usage, "--model must be a checkpoint folder, not a file", file: model, field: "--model") }
      return model
    }
    guard FileManager.default.fileExists(atPath: db) else {
      throw KDError(.usage, "no folder '\(model)' and no database to look the name up in", file: db, field: "--model")
    }
    let store = try Store.open(path: db, readOnly: true)
    var name = model
    var taskID: Int64?
    if let slash = model.lastIndex(of: "/") {
      let task = String(model[..<slash])
      name = String(model[model.index(after: slash)...])
      guard let t = try store.task(named: task) else {
        throw KDError(.usage, "no folder '\(model)' and no task '\(task)' in the database", file: db, field: "--model")
      }
      taskID = t.id
    }
    let rows = try store.reportModels().filter { $0.name == name && (taskID == nil || $0.taskID == taskID) }
    guard let newest = rows.last else {
      throw KDError(.usage, "no folder '\(model)' and no model named '\(name)' in the database", file: db, field: "--model")
    }
    if taskID == nil, Set(rows.map(\.taskID)).count > 1 {
      throw KDError(.usage, "several tasks have a model named '\(name)': pass TASK/\(name)", file: db, field: "--model")
    }
    return newest.path
  }
}
