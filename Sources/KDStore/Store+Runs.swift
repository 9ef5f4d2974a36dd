import Foundation
import KDCore

/// The kd version recorded with every run.
public let kdVersion = "0.1.0"

/// A row of `runs`.
public struct RunRecord: Sendable, Equatable {
  public var id: Int64
  public var stage: String
  public var commandLine: String
  public var startedAt: String
  public var endedAt: String?
  public var status: String
  public var countsJSON: String?
  public var error: String?
}

extension Store {
  /// Records the start of a stage invocation and returns its run id.
  public func beginRun(stage: String, commandLine: [String]) throws -> Int64 {
    try db.run(
      "INSERT INTO runs (stage, command_line, kd_version, host, pid, started_at, status) VALUES (?,?,?,?,?,?,'running')",
      [.text(stage), .text(commandLine.map(Self.shellQuote).joined(separator: " ")), .text(kdVersion),
       .text(ProcessInfo.processInfo.hostName), .int(Int(getpid())), .text(Store.now())])
    return db.lastInsertRowID
  }

  /// Records the end of a run (stages end runs through `StageRun`).
  public func endRun(_ id: Int64, status: RunStatus, counts: [String: Any]? = nil, error: String? = nil) throws {
    try endRunRecord(id, status: status.rawValue, counts: counts, error: error)
  }

  /// Records the end of a run: status is `ok`, `partial`, `failed` or `interrupted`.
  @available(*, deprecated, message: "use StageRun, or endRun(_:status: RunStatus)")
  public func endRun(_ id: Int64, status: String, counts: [String: Any]? = nil, error: String? = nil) throws {
    try endRunRecord(id, status: status, counts: counts, error: error)
  }

  private func endRunRecord(_ id: Int64, status: String, counts: [String: Any]?, error: String?) throws {
    var countsJSON: String?
    if let counts, JSONSerialization.isValidJSONObject(counts),
      let d = try? JSONSerialization.data(withJSONObject: counts, options: [.sortedKeys])
    {
      countsJSON = String(decoding: d, as: UTF8.self)
    }
    try db.run(
      "UPDATE runs SET ended_at = ?, status = ?, counts_json = ?, error = ? WHERE id = ?",
      [.text(Store.now()), .text(status), .optional(countsJSON), .optional(error), .int(id)])
  }

  /// Runs still marked `running` whose process is gone (killed) are marked `interrupted`.
  public func markAbandonedRuns() throws {
    let host = ProcessInfo.processInfo.hostName
    let s = try db.prepare("SELECT id, pid FROM runs WHERE status = 'running' AND host = ?")
    try s.bind([.text(host)])
    var dead: [Int64] = []
    while try s.step() {
      let pid = pid_t(s.int(1))
      if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH { dead.append(s.int64(0)) }
    }
    for id in dead {
      try db.run("UPDATE runs SET status = 'interrupted', ended_at = ? WHERE id = ?", [.text(Store.now()), .int(id)])
    }
  }

  /// The status of the latest run of `stage` before run `id`, or nil when there is none.
  public func previousRunStatus(stage: String, before id: Int64) throws -> RunStatus? {
    try db.scalarText("SELECT status FROM runs WHERE stage = ? AND id < ? ORDER BY id DESC LIMIT 1",
                      [.text(stage), .int(id)]).map { RunStatus(rawValue: $0) ?? .failed }
  }

  /// The most recent runs, newest first.
  public func recentRuns(limit: Int = 20, stage: String? = nil) throws -> [RunRecord] {
    let s = try db.prepare(
      "SELECT id, stage, command_line, started_at, ended_at, status, counts_json, error FROM runs "
        + (stage == nil ? "" : "WHERE stage = ? ") + "ORDER BY id DESC LIMIT \(limit)")
    try s.bind(stage.map { [.text($0)] } ?? [])
    var out: [RunRecord] = []
    while try s.step() {
      out.append(RunRecord(id: s.int64(0), stage: s.text(1), commandLine: s.text(2), startedAt: s.text(3),
                           endedAt: s.optionalText(4), status: s.text(5), countsJSON: s.optionalText(6),
                           error: s.optionalText(7)))
    }
    return out
  }

  static func shellQuote(_ arg: String) -> String {
    if !arg.isEmpty && arg.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@+".contains($0) }) { return arg }
    return "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }
}
