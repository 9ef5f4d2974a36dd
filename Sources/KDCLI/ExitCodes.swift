import ArgumentParser
import Foundation
import KDCore
import KDStore

/// Exit codes shared by every kd executable (documented in the README).
public enum KDExit {
  /// Everything asked for was done.
  public static let success: Int32 = 0
  /// A fatal error: nothing (more) was done; the message says why.
  public static let failure: Int32 = 1
  /// Finished, but some inputs (files, rows, examples) were bad and skipped; see the summary.
  public static let partial: Int32 = 3
  /// Another kd run held the database lock past `--lock-timeout` (only then:
  /// a lock file that cannot be created is a fatal error, 1).
  public static let lockTimeout: Int32 = 4
  /// Interrupted (SIGINT/SIGTERM); what was committed stays, a rerun resumes.
  public static let interrupted: Int32 = 130
  /// Bad command line (ArgumentParser's EX_USAGE).
  public static let usage: Int32 = 64

  /// The help text section listing exit codes, for `discussion`.
  public static let helpText = """
    Exit codes:
      0    success
      1    fatal error (message on stderr)
      3    finished, but some inputs were bad and were skipped (see the summary)
      4    another kd run held the database lock past --lock-timeout (a rerun catches up)
      64   usage error
      130  interrupted; committed work is kept and a rerun resumes
    """
}

extension KDExit {
  /// The exit code of a stage run that ended with `status`.
  public static func code(for status: RunStatus) -> Int32 {
    switch status {
    case .ok, .running: return success
    case .partial: return partial
    case .interrupted: return interrupted
    case .failed: return failure
    }
  }
}

/// Maps an error thrown by a stage to an exit code and prints it on stderr.
public func exitCode(for error: Error, tool: String) -> Int32 {
  if let e = error as? KDError {
    Log.error("\(tool): error: \(e.description)")
    switch e.kind {
    case .lock: return KDExit.lockTimeout
    case .interrupted: return KDExit.interrupted
    case .usage: return KDExit.usage
    default: return KDExit.failure
    }
  }
  if let e = error as? DatabaseError {
    Log.error("\(tool): error: \(e.description)")
    return KDExit.failure
  }
  Log.error("\(tool): error: \(error)")
  return KDExit.failure
}

/// Runs a stage body, mapping thrown errors to documented exit codes.
/// ArgumentParser's own errors (usage, --help) are passed through unchanged.
public func runStage(tool: String, _ body: () throws -> Int32) throws {
  let code: Int32
  do {
    code = try body()
  } catch let e as KDError {
    throw ExitCode(exitCode(for: e, tool: tool))
  } catch let e as DatabaseError {
    throw ExitCode(exitCode(for: e, tool: tool))
  }
  if code != 0 { throw ExitCode(code) }
}
