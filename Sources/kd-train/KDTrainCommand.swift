import ArgumentParser
import KDTensor
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
  /// OpenBLAS 0.3.21 misdetects some CPUs (this VM's among them) and falls back to its SSE3
  /// kernels, which made the transformer student's steps 3x slower than PyTorch's: restart once
  /// with the right OPENBLAS_CORETYPE first, as kd-teacher-cache does (no-op when already set).
  /// Training steps reuse their large buffers from the heap; phase changes give free pages back (`Allocator`).
  static func main() {
    BLAS.reexecWithFasterKernelsIfNeeded()
    Allocator.reuseFreedBuffers()
    DefaultCommandHelp.main(root: Self.self, default: Train.self)
  }
}
