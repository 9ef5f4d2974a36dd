import ArgumentParser
import Foundation
import KDCore

/// Options every stage shares.
public struct CommonOptions: ParsableArguments {
  @Option(name: .long, help: "The kd database (SQLite). Created when missing. Readers (kd-train, kd-report, dump, list) also take several stores read as one corpus: a quoted glob ('data.shard-*-of-4.sqlite') or a comma-separated list.")
  public var db: String = "data.sqlite"

  @Flag(name: .long, help: "Print a machine-readable JSON summary on stdout.")
  public var json = false

  @Flag(name: [.short, .long], help: "Only errors on stderr.")
  public var quiet = false

  @Flag(name: [.short, .long], help: "More detail on stderr.")
  public var verbose = false

  public init() {}

  /// Applies --quiet / --verbose to the log.
  public func configureLogging() {
    Log.quiet = quiet
    Log.verbose = verbose
  }
}

/// Writes a JSON object on stdout (sorted keys, one document).
public func printJSON(_ object: Any) {
  guard JSONSerialization.isValidJSONObject(object),
    let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
  else {
    Log.error("internal: summary is not valid JSON")
    return
  }
  writeStandardOutput(data)
}

/// Writes a JSON document and a newline on stdout. A closed or full stdout (`--json | head`
/// while SIGPIPE is ignored, as it is around a `--teacher-cmd` child) is logged, not a crash:
/// `FileHandle.write(_:)` traps on such errors, `write(contentsOf:)` throws.
func writeStandardOutput(_ data: Data) {
  do {
    try FileHandle.standardOutput.write(contentsOf: data + Data("\n".utf8))
  } catch {
    Log.error("stdout: the JSON summary could not be written (\(error.localizedDescription))")
  }
}

/// Writes an Encodable value as JSON on stdout. Keys are snake_case in every
/// kd executable's `--json` output (`files_new`, `examples_added`, ...).
public func printJSON<T: Encodable>(encodable value: T) {
  let enc = JSONEncoder()
  enc.outputFormatting = [.prettyPrinted, .sortedKeys]
  enc.keyEncodingStrategy = .convertToSnakeCase
  if let data = try? enc.encode(value) {
    writeStandardOutput(data)
  }
}

/// The full command line, as recorded in `runs.command_line`.
public var currentCommandLine: [String] { CommandLine.arguments }

/// Installs SIGINT/SIGTERM handlers that set a flag the stage checks between
/// units of work, so that an interrupted run ends its transaction cleanly.
public final class Interruption: @unchecked Sendable {
  public static let shared = Interruption()
  private var sources: [DispatchSourceSignal] = []
  public private(set) var requested = false

  public func install() {
    for sig in [SIGINT, SIGTERM] {
      signal(sig, SIG_IGN)
      let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
      s.setEventHandler { [weak self] in
        if self?.requested == true { exit(KDExit.interrupted) }
        self?.requested = true
        Log.warning("interrupt: finishing the current unit of work (press again to abort)")
      }
      s.resume()
      sources.append(s)
    }
  }
}
