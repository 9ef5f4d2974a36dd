import Foundation

extension StudentCheckpoint {
  /// A checkpoint's display name, as `kd-train predict --json` reports it: `<task>/<name>`
  /// for the trainer's `<root>/<task>/<name>/best` (or `state`) folders, the task read
  /// from config.json; else the folder's own name.
  ///
  /// For example, `kd-models/banking77/kd/best` is `banking77/kd`.
  public static func displayName(path: String) -> String {
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
