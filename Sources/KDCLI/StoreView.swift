import Foundation
import KDCore
import KDStore

/// Several stores read as one corpus (`--db 'data.shard-*-of-4.sqlite'`, or a
/// comma-separated list): kd-train, kd-report and `kd-teacher-cache dump`/`list`
/// read them through a merged view, built by kd-merge's code (`StoreMerge`) so
/// that labels are matched by name, duplicates and train/test leakage are found
/// across the files, disagreeing tokenizers or label sets are refused naming
/// both files, and a missing shard is reported by number.
///
/// The view is the store `<stem>.view.sqlite` beside the first input (`data.view.sqlite`
/// for `data.shard-*-of-4.sqlite`), or in the temporary folder when that folder
/// is not writable. It is reused while the inputs are unchanged and rebuilt when
/// one changes; kd-train records its metrics and models in it.
public enum StoreView {
  /// The stores a `--db` value names: one path, a glob pattern, or a comma-separated list of either.
  public static func paths(_ db: String) throws -> [String] {
    let parts = db.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    return try StorePaths.expand(parts.isEmpty ? [db] : parts)
  }

  /// The store to read for `--db`: itself when it names one store, else the merged view of all of them.
  public static func resolve(_ db: String) throws -> String {
    let inputs = try paths(db)
    guard inputs.count > 1 else { return inputs.first ?? db }
    let path = viewPath(for: inputs)
    let summary = try StoreMerge.merge(inputs: inputs, output: path, commandLine: ["(view of)"] + inputs, log: { Log.info($0) })
    Log.info(summary.upToDate
      ? "reading \(inputs.count) stores as one through \(path) (up to date)"
      : "reading \(inputs.count) stores as one: built \(path) (\(summary.examples) examples, \(summary.duplicates) duplicates across them) in \(String(format: "%.1f", summary.seconds)) s")
    return path
  }

  static func viewPath(for inputs: [String]) -> String {
    let first = inputs[0] as NSString
    var name = first.lastPathComponent
    if let r = name.range(of: #"\.(teacher-)?shard-\d+-of-\d+"#, options: .regularExpression) { name.removeSubrange(r) }
    let stem = ((name as NSString).deletingPathExtension as String)
    let dir = first.deletingLastPathComponent.isEmpty ? "." : first.deletingLastPathComponent
    let folder = FileManager.default.isWritableFile(atPath: dir) ? dir : NSTemporaryDirectory()
    let hash = StableHash.hex(StableHash.fnv1a64(inputs.map { URL(fileURLWithPath: $0).standardizedFileURL.path }.sorted().joined(separator: "\n")))
    // One view per set of inputs: the hash tells two sets in one folder apart.
    return (folder as NSString).appendingPathComponent("\(stem).view-\(hash.prefix(8)).sqlite")
  }
}
