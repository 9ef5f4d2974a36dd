import Foundation
import KDCore
import KDStore

/// Prints cached teacher outputs as JSON lines, one per example, for
/// inspection and for comparison with other tools:
///
/// ```json
/// {"example_id":7,"document":"PMID:123","split":"train","text":"…","labels":["positive"],
///  "teacher":"all-MiniLM-L6-v2","logits":[1.5,-0.25],"probabilities":[0.852,0.148],"top_class":"positive"}
/// ```
/// Dense storage lists `logits` and `probabilities` in the task's label order
/// (`classes` names them); top-k storage lists only the kept classes, best
/// first, with probabilities renormalised over them. `embedding` is added on request.
public enum TeacherDump {
  /// Writes one line per cached output through `emit`; returns how many.
  @discardableResult
  public static func write(
    store: Store, teacher: TeacherRecord, split: Split? = nil, limit: Int? = nil, includeEmbedding: Bool = false,
    _ emit: (String) throws -> Void
  ) throws -> Int {
    let classNames = try teacher.taskID.map { try store.labelNames(task: $0) } ?? []
    var count = 0
    try store.forEachTeacherOutput(teacher: teacher, split: split, limit: limit) { row in
      try emit(line(row, teacher: teacher, classNames: classNames, includeEmbedding: includeEmbedding))
      count += 1
      return true
    }
    return count
  }

  static func name(_ index: Int32, _ classNames: [String]) -> String {
    Int(index) < classNames.count ? classNames[Int(index)] : String(index)
  }

  /// The JSON text of one output row.
  public static func line(_ row: TeacherOutputRow, teacher: TeacherRecord, classNames: [String], includeEmbedding: Bool) -> String {
    var parts: [String] = []
    parts.append("\"example_id\":\(row.exampleID)")
    parts.append("\"document\":" + (row.documentExternalID.map(JSONText.quote) ?? "null"))
    parts.append("\"split\":\(JSONText.quote(row.split))")
    parts.append("\"text\":\(JSONText.quote(row.text))")
    parts.append("\"labels\":[" + row.labels.map(JSONText.quote).joined(separator: ",") + "]")
    parts.append("\"teacher\":\(JSONText.quote(teacher.name))")
    let v = row.logits.values
    let maxV = v.max() ?? 0
    var p = v.map { Double(exp($0 - maxV)) }
    let z = p.reduce(0, +)
    if z > 0 { p = p.map { $0 / z } }
    if !row.logits.isDense {
      parts.append("\"classes\":[" + row.logits.indices.map { JSONText.quote(name($0, classNames)) }.joined(separator: ",") + "]")
    }
    parts.append("\"logits\":[" + v.map(number).joined(separator: ",") + "]")
    parts.append("\"probabilities\":[" + p.map { number(Float($0)) }.joined(separator: ",") + "]")
    if let best = v.indices.max(by: { v[$0] < v[$1] || (v[$0] == v[$1] && $0 > $1) }) {
      parts.append("\"top_class\":\(JSONText.quote(name(row.logits.indices[best], classNames)))")
    }
    if includeEmbedding, let e = row.embedding {
      parts.append("\"embedding\":[" + e.map(number).joined(separator: ",") + "]")
    }
    return "{" + parts.joined(separator: ",") + "}"
  }

  /// A finite float in its shortest round-tripping form (`null` otherwise).
  static func number(_ f: Float) -> String {
    guard f.isFinite else { return "null" }
    if f == f.rounded(), abs(f) < 1e15 { return String(Int64(f)) }
    return "\(f)"
  }
}


