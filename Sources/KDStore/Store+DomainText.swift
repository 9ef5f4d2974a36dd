import Foundation
import KDCore

/// How much text a domain-distillation selection (`kd-train encoder`) has in one split.
public struct DomainTextCounts: Sendable, Equatable {
  /// Examples selected (duplicates excluded), whatever their tokenization.
  public var examples: Int
  /// Of those, examples tokenized with the requested tokenizer (what the loader can read).
  public var tokenized: Int
  public init(examples: Int, tokenized: Int) { self.examples = examples; self.tokenized = tokenized }
}

extension Store {
  /// The loader query for the text of a domain distillation: every example of `domains` (of any
  /// task, or of none) when `taskID` is nil, else the task's examples (of `domains` when given);
  /// labeled or not, tokenized with `tokenizerID`, without teacher outputs.
  public static func domainTextQuery(domains: [String], taskID: Int64?, split: Split, tokenizerID: Int64) -> TrainingQuery {
    var q = TrainingQuery(taskID: taskID ?? 0, split: split, tokenizerID: tokenizerID, teacherIDs: [], domains: domains,
                          requireSignal: false)
    q.allTasks = taskID == nil
    return q
  }

  /// The smallest and one past the largest example id a query can return, or nil when none.
  public func exampleIDBounds(_ query: TrainingQuery) throws -> Range<Int64>? {
    guard query.allTasks else { return try exampleIDBounds(task: query.taskID, split: query.split) }
    var sql = "SELECT MIN(id), MAX(id) FROM examples WHERE split = ?"
    var args: [SQLValue] = [.text(query.split.rawValue)]
    if !query.domains.isEmpty {
      sql += " AND domain IN (" + query.domains.map { _ in "?" }.joined(separator: ",") + ")"
      args += query.domains.map { .text($0) }
    }
    let s = try db.prepare(sql)
    try s.bind(args)
    guard try s.step(), !s.isNull(0) else { return nil }
    return s.int64(0)..<(s.int64(1) + 1)
  }

  /// Examples of a domain-text selection in a split (duplicates excluded), and how many of them
  /// are tokenized with `tokenizerID` (nil: none are).
  public func domainTextCounts(domains: [String], taskID: Int64?, split: Split, tokenizerID: Int64?) throws -> DomainTextCounts {
    var filter = "e.split = ? AND e.duplicate_of IS NULL"
    var args: [SQLValue] = [.text(split.rawValue)]
    if let taskID {
      filter += " AND e.task_id = ?"
      args.append(.int(taskID))
    }
    if !domains.isEmpty {
      filter += " AND e.domain IN (" + domains.map { _ in "?" }.joined(separator: ",") + ")"
      args += domains.map { .text($0) }
    }
    let n = try db.scalarInt("SELECT COUNT(*) FROM examples e WHERE " + filter, args) ?? 0
    var t: Int64 = 0
    if let tokenizerID {
      t = try db.scalarInt(
        "SELECT COUNT(*) FROM examples e JOIN tokenizations k ON k.example_id = e.id AND k.tokenizer_id = ? WHERE " + filter,
        [.int(tokenizerID)] + args) ?? 0
    }
    return DomainTextCounts(examples: Int(n), tokenized: Int(t))
  }

  /// The domains of the store's examples, sorted (for error messages).
  public func exampleDomains() throws -> [String] {
    let s = try db.prepare("SELECT DISTINCT domain FROM examples ORDER BY domain")
    var out: [String] = []
    while try s.step() { out.append(s.text(0)) }
    return out
  }
}
