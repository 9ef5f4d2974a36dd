import Foundation
import KDNN
import KDTensor

/// Uses one BLAS thread: student products are small, and the trainer's own
/// threads do better than OpenBLAS's for them (../shared/PLATFORM.md).
public func useSingleBLASThread() {
  BLAS.setThreads(1)
}

/// The worker count a `--threads n` flag means: `n`, or all cores for 0.
public func workerCount(_ n: Int) -> Int { n > 0 ? n : ProcessInfo.processInfo.activeProcessorCount }

/// Sets KDNN's worker threads for `--threads n` (every trainer: students, the transformer student,
/// the domain encoder, teacher fine-tuning). A bow or mlp student splits its sequences, rows and
/// optimizer rows over them and trains to the same weights for any count.
public func useWorkerThreads(_ n: Int) {
  NNThreads.set(workerCount(n))
}
