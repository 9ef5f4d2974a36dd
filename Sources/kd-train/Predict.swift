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
      --json one JSON object per line with the top --top labels.

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
      func handle(_ line: String) {
        let p = predictor.probabilities(for: [line])[0]
        let order = p.indices.sorted { p[$0] > p[$1] }
        if json {
          let labels = order.prefix(k).map { ["label": predictor.labels[$0], "probability": Double(p[$0])] as [String: Any] }
          let object: [String: Any] = ["text": line, "label": predictor.labels[order[0]], "top": labels]
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
