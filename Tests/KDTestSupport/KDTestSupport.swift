import Foundation
import KDCore
import KDStore

/// A fresh temporary directory, removed when the value is deinitialised.
public final class TemporaryDirectory {
  public let path: String
  public init(_ prefix: String = "kd-test") throws {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
    path = base.path
  }
  deinit { try? FileManager.default.removeItem(atPath: path) }
  public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
  /// Writes `contents` to `name` (creating folders) and returns the full path.
  @discardableResult
  public func write(_ name: String, _ contents: String) throws -> String {
    try write(name, Array(contents.utf8))
  }
  @discardableResult
  public func write(_ name: String, _ bytes: [UInt8]) throws -> String {
    let p = file(name)
    try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    FileManager.default.createFile(atPath: p, contents: Data(bytes))
    return p
  }
}

/// Locations shared by the test targets.
public enum TestPaths {
  /// The package root (the folder holding Package.swift), found from this source file.
  public static var packageRoot: String {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
      url.deleteLastPathComponent()
      if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    return FileManager.default.currentDirectoryPath
  }

  /// `../shared/corpora` next to the package, or `KD_SHARED_CORPORA`; nil when absent.
  public static var sharedCorpora: String? {
    if let env = ProcessInfo.processInfo.environment["KD_SHARED_CORPORA"], FileManager.default.fileExists(atPath: env) {
      return env
    }
    let p = (packageRoot as NSString).appendingPathComponent("../shared/corpora")
    return FileManager.default.fileExists(atPath: p) ? (p as NSString).standardizingPath : nil
  }

  /// The default teacher folder `models/all-MiniLM-L6-v2`, or `KD_TEACHER_DIR`; nil when absent.
  public static var defaultTeacher: String? {
    if let env = ProcessInfo.processInfo.environment["KD_TEACHER_DIR"], FileManager.default.fileExists(atPath: env) {
      return env
    }
    let p = (packageRoot as NSString).appendingPathComponent("models/all-MiniLM-L6-v2")
    return FileManager.default.fileExists(atPath: p + "/config.json") ? p : nil
  }

  /// Where the built executables are (`KD_BIN`, else `.build/debug`).
  public static var binaries: String {
    ProcessInfo.processInfo.environment["KD_BIN"] ?? (packageRoot as NSString).appendingPathComponent(".build/debug")
  }

  /// Prints why a test that needs shared data or a model did not run.
  public static func skipNote(_ what: String, _ test: String = #function) {
    FileHandle.standardError.write(Data("note: \(test) skipped: \(what) is absent\n".utf8))
  }
}

/// The result of running a built executable.
public struct CommandResult {
  public var status: Int32
  public var stdout: String
  public var stderr: String
}

/// Runs an executable with arguments (and optional stdin) and captures its output.
/// Waits at most `timeout` seconds for the process and its output (a daemon it starts can keep the
/// pipes open for ever): then it is killed and the result has status 124 and a note on stderr.
public func runCommand(_ executable: String, _ arguments: [String], stdin: String? = nil,
                       environment: [String: String]? = nil, currentDirectory: String? = nil,
                       timeout: TimeInterval = 1800) throws -> CommandResult {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: executable.contains("/") ? executable : (TestPaths.binaries as NSString).appendingPathComponent(executable))
  p.arguments = arguments
  if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
  if let currentDirectory { p.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
  let out = Pipe(), err = Pipe(), inp = Pipe()
  p.standardOutput = out
  p.standardError = err
  p.standardInput = inp
  try p.run()
  if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
  try? inp.fileHandleForWriting.close()
  // Read both pipes concurrently so neither fills up and blocks the child.
  final class Box: @unchecked Sendable { var data = Data() }
  let outBox = Box(), errBox = Box()
  let group = DispatchGroup()
  for (pipe, box) in [(out, outBox), (err, errBox)] {
    group.enter()
    DispatchQueue.global().async {
      box.data = pipe.fileHandleForReading.readDataToEndOfFile()
      group.leave()
    }
  }
  if group.wait(timeout: .now() + timeout) == .timedOut {
    if p.isRunning {
      p.terminate()
      Thread.sleep(forTimeInterval: 1)
      if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
    // The readers may still be blocked on a pipe a grandchild holds: their data is not read here.
    return CommandResult(status: 124, stdout: "",
                         stderr: "\(executable) \(arguments.joined(separator: " ")): timed out after \(Int(timeout)) s (killed; a process it started may hold its output open)")
  }
  let outData = outBox.data, errData = errBox.data
  p.waitUntilExit()
  return CommandResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                       stderr: String(decoding: errData, as: UTF8.self))
}

/// A store in a fresh temporary directory.
public func makeTemporaryStore(_ dir: TemporaryDirectory, name: String = "test.sqlite") throws -> Store {
  try Store.open(path: dir.file(name))
}
