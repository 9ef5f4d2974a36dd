import ArgumentParser
import Foundation
import KDCLI
import KDCore
import KDTrain

@main
struct KDTrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kd-train",
    abstract: "Distil a small student from cached teacher outputs, evaluate it, and use it.",
    subcommands: [Train.self, Predict.self, Bench.self, DumpLoader.self, Export.self, FineTune.self, Encoder.self],
    defaultSubcommand: Train.self)

  /// `--help` also lists the options of `train`, the default command.
  static func main() { DefaultCommandHelp.main(root: Self.self, default: Train.self) }
}
