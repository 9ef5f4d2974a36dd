import Foundation
import KDTestSupport
import Testing

/// The `--help` text of every executable, pinned in golden files under
/// Tests/KDCLITests/Resources/help/<tool>.txt (issue 16). After changing an
/// option on purpose, regenerate them with
///
///     KD_UPDATE_GOLDENS=1 KD_BIN=$PWD/.build/debug swift test --skip-build --filter HelpGoldenTests
///
/// and review the diff. Help is rendered 100 columns wide (COLUMNS=100).
@Suite struct HelpGoldenTests {
  static let tools = ["kd-ingest", "kd-teacher-cache", "kd-train", "kd-report", "kd-tokenize"]
  static let folder = TestPaths.packageRoot + "/Tests/KDCLITests/Resources/help"

  func help(_ tool: String) throws -> String {
    let r = try runCommand(tool, ["--help"], environment: ["COLUMNS": "100"])
    #expect(r.status == 0, "\(tool) --help exits 0: \(r.stderr)")
    return r.stdout
  }

  @Test(arguments: HelpGoldenTests.tools)
  func helpMatchesTheGoldenFile(tool: String) throws {
    let text = try help(tool)
    let golden = "\(Self.folder)/\(tool).txt"
    if ProcessInfo.processInfo.environment["KD_UPDATE_GOLDENS"] == "1" {
      try text.write(toFile: golden, atomically: true, encoding: .utf8)
      return
    }
    let expected = try? String(contentsOfFile: golden, encoding: .utf8)
    #expect(text == expected, """
      `\(tool) --help` differs from \(golden). If the change is intended, regenerate the golden files with
        KD_UPDATE_GOLDENS=1 KD_BIN=$PWD/.build/debug swift test --skip-build --filter HelpGoldenTests
      and review the diff. Current text:
      \(text)
      """)
  }

  /// A bare `--help` of a tool with a default subcommand shows the options a
  /// user needs: they used to appear only under `help cache` / `help train`.
  @Test func defaultSubcommandOptionsAreInTheTopLevelHelp() throws {
    let cache = try help("kd-teacher-cache")
    for option in ["--teacher ", "--teacher-cmd", "--batch-size", "--storage", "--task", "--db"] {
      #expect(cache.contains(option), "kd-teacher-cache --help lists \(option)")
    }
    #expect(cache.contains("OPTIONS OF `cache`"))
    let train = try help("kd-train")
    for option in ["--db", "--task", "--epochs"] {
      #expect(train.contains(option), "kd-train --help lists \(option)")
    }
    #expect(train.contains("OPTIONS OF `train`"))
    // Subcommands keep their own help; `-h` and `help` alone give the combined text.
    #expect(try runCommand("kd-teacher-cache", ["-h"], environment: ["COLUMNS": "100"]).stdout == cache)
    let dump = try runCommand("kd-teacher-cache", ["help", "dump"], environment: ["COLUMNS": "100"])
    #expect(dump.status == 0 && dump.stdout.contains("--limit") && !dump.stdout.contains("OPTIONS OF"))
  }
}
