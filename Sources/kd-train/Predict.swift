import ArgumentParser
import Foundation
import KDCLI
import KDCore
import KDTrain

struct Predict: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Predict labels and probabilities for text lines with a trained student.",
    discussion: """
      Reads one text per line from the files given (or stdin) and prints, per
      line, the predicted label and its probability (tab-separated), or with
      --json one JSON object per input line:
        {"text": ..., "label": ..., "probabilities": {label: p, ...},
         "model": "<task>/<name>", "student": "bow", "top": [{"label", "probability"}, ...]}
      "probabilities" holds every class; "top" the --top most probable.

      Examples:
        echo "I lost my card" | kd-train predict --model kd-models/banking77/kd/best
        kd-train predict --model kd-models/claudette/kd/best terms.txt --json --top 2
      """)

  @Option(help: "A checkpoint folder (model.safetensors, config.json, tokenizer.json).")
  var model: String
  @Argument(help: "Text files, one example per line (default: stdin).")
  var files: [String] = []
  @Option(help: "Labels to show per line (with --json).")
  var top = 1
  @Flag(help: "One JSON object per line.")
  var json = false
  @Option(help: "A tokenizer.json to use instead of the one saved with the model.")
  var tokenizer: String?

  func run() throws {
    try runStage(tool: "kd-train predict") {
      let predictor = try Predictor(checkpoint: model, tokenizerPath: tokenizer)
      let k = max(1, min(top, predictor.labels.count))
      let name = StudentCheckpoint.displayName(path: model)
      func handle(_ line: String) {
        let p = predictor.probabilities(for: [line])[0]
        let order = p.indices.sorted { p[$0] > p[$1] }
        if json {
          let object = PredictionJSON.object(text: line, probabilities: p, labels: predictor.labels, order: order, top: k,
                                             model: name, student: predictor.checkpoint.config.kind)
          if let d = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            FileHandle.standardOutput.write(d + Data("\n".utf8))
          }
        } else {
          print("\(predictor.labels[order[0]])\t\(String(format: "%.4f", p[order[0]]))")
        }
      }
      if files.isEmpty {
        while let line = readLine() { handle(line) }
      } else {
        for f in files {
          guard let data = FileManager.default.contents(atPath: f) else { throw KDError(.io, "cannot read", file: f) }
          guard let text = String(data: data, encoding: .utf8) else { throw KDError(.input, "not UTF-8 text", file: f) }
          text.enumerateLines { line, _ in handle(line) }
        }
      }
      return KDExit.success
    }
  }
}
