import Foundation
import Logging

/// Logging for the executables: everything goes to stderr, stdout is kept
/// for results (tables, JSON). Built on swift-log so that library users can
/// route kd's messages to their own backend.
public enum Log {
  nonisolated(unsafe) private static var logger: Logger = {
    LoggingSystem.bootstrap { label in
      var h = StreamLogHandler.standardError(label: label)
      h.logLevel = .info
      return h
    }
    return Logger(label: "kd")
  }()
  nonisolated(unsafe) public static var quiet = false
  nonisolated(unsafe) public static var verbose = false

  /// When the last line went to stderr, and the last `info` message (the
  /// stage's `Heartbeat` prints when nothing was written for a while).
  nonisolated(unsafe) public private(set) static var lastLineAt = Date()
  nonisolated(unsafe) public private(set) static var lastMessage: String?

  /// A plain line on stderr (no timestamp): the stage's progress log.
  public static func info(_ message: @autoclosure () -> String) {
    guard !quiet else { return }
    let text = message()
    FileHandle.standardError.write(Data((text + "\n").utf8))
    lastMessage = text
    lastLineAt = Date()
  }

  /// A progress line on stderr (the `Heartbeat`'s): not remembered as the last message.
  public static func progress(_ text: String) {
    guard !quiet else { return }
    FileHandle.standardError.write(Data((text + "\n").utf8))
    lastLineAt = Date()
  }
  public static func debug(_ message: @autoclosure () -> String) {
    guard verbose else { return }
    FileHandle.standardError.write(Data((message() + "\n").utf8))
  }
  public static func warning(_ message: @autoclosure () -> String) {
    FileHandle.standardError.write(Data(("warning: " + message() + "\n").utf8))
    lastLineAt = Date()
  }
  public static func error(_ message: @autoclosure () -> String) {
    FileHandle.standardError.write(Data((message() + "\n").utf8))
  }
  /// The swift-log logger, for structured messages.
  public static var structured: Logger { logger }
}
