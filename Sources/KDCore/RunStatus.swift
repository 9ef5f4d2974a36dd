/// How a stage run ended, as recorded in `runs.status` and mapped to an exit
/// code by KDCLI (`KDExit.code(for:)`).
public enum RunStatus: String, Sendable, Codable, CaseIterable {
  /// Still going (or killed: `Store.markAbandonedRuns` turns a dead one into `interrupted`).
  case running
  /// Everything asked for was done.
  case ok
  /// Done, but some inputs were bad and skipped.
  case partial
  /// A fatal error; what was committed before it stays.
  case failed
  /// Stopped by a signal (or killed); what was committed stays and a rerun resumes.
  case interrupted
}

extension KDError {
  /// The error a stage throws when it stops on request (SIGINT/SIGTERM) after
  /// saving its work: `kind == .interrupted`, never recognised by its message.
  public static func interrupted(_ message: String) -> KDError {
    KDError(.interrupted, message)
  }

  /// Whether this error means "stopped on request" rather than "failed".
  public var isInterruption: Bool { kind == .interrupted }
}
