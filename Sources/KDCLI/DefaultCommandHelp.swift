import ArgumentParser
import Foundation

/// Top-level help for an executable whose work is done by a default
/// subcommand (`kd-teacher-cache` → `cache`, `kd-train` → `train`).
///
/// ArgumentParser's `--help` lists only the root's own options and the
/// subcommands, so the options a user needs were shown only by
/// `kd-teacher-cache help cache` (issue 16). `main(root:default:)` prints the
/// root help followed by the default subcommand's options for `--help`, `-h`
/// and `help` alone, and parses every other command line as before.
public enum DefaultCommandHelp {
  /// True for a command line that asks for the top-level help only.
  public static func asksForTopLevelHelp(_ arguments: [String]) -> Bool {
    arguments == ["--help"] || arguments == ["-h"] || arguments == ["help"]
  }

  /// The root's help, then the default subcommand's options (and its own
  /// discussion, without the usage line it shares with the root).
  public static func text(root: ParsableCommand.Type, default command: ParsableCommand.Type) -> String {
    var text = root.helpMessage()
    while text.hasSuffix("\n") { text.removeLast() }
    let name = command._commandName
    let sub = root.helpMessage(for: command)
    guard let options = sub.range(of: "OPTIONS:") else { return text }
    var section = String(sub[options.upperBound...])
    while section.hasSuffix("\n") { section.removeLast() }
    return text + "\n\nOPTIONS OF `\(name)` (the default command: `\(root._commandName) [<options>]` runs it):" + section
  }

  /// Runs `root`, printing the combined help for a bare `--help`.
  public static func main(root: ParsableCommand.Type, default command: ParsableCommand.Type) -> Never {
    let arguments = Array(CommandLine.arguments.dropFirst())
    if asksForTopLevelHelp(arguments) {
      print(text(root: root, default: command))
      exit(0)
    }
    root.main(arguments)
    exit(0)
  }
}
