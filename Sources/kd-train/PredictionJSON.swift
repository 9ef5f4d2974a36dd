import Foundation

/// The `kd-train predict --json` line: one object per input line.
enum PredictionJSON {
  /// `{"text", "label", "probabilities": {label: p}, "model", "student", "top": [{"label", "probability"}]}`.
  static func object(text: String, probabilities p: [Float], labels: [String], order: [Int], top k: Int,
                     model: String, student: String) -> [String: Any] {
    var all: [String: Any] = [:]
    for (c, name) in labels.enumerated() { all[name] = Double(p[c]) }
    let topLabels = order.prefix(k).map { ["label": labels[$0], "probability": Double(p[$0])] as [String: Any] }
    return ["text": text, "label": labels[order[0]], "probabilities": all, "model": model, "student": student,
            "top": topLabels]
  }

  /// A checkpoint's name: `<task>/<name>` for the trainer's `<root>/<task>/<name>/best` folders
  /// (the task read from config.json), else the folder's own name.
  static func modelName(checkpoint path: String) -> String {
    var url = URL(fileURLWithPath: path).standardizedFileURL
    if ["best", "state"].contains(url.lastPathComponent) { url.deleteLastPathComponent() }
    let folder = url.lastPathComponent
    let config = URL(fileURLWithPath: path).appendingPathComponent("config.json")
    if let data = try? Data(contentsOf: config),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
      let task = object["task"] as? String, !task.isEmpty, task != folder
    {
      return task + "/" + folder
    }
    return folder
  }
}
