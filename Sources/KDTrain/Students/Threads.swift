import Foundation
import KDNN
import KDTensor

/// Uses one BLAS thread: student products are small, and the trainer's own
/// threads do better than OpenBLAS's for them (../shared/PLATFORM.md).
public func useSingleBLASThread() {
  BLAS.setThreads(1)
}

/// Sets the students' worker threads (`n`, or all cores for 0). A bow or mlp student splits its
/// sequences, rows and optimizer rows over them and trains to the same weights for any count.
public func useWorkerThreads(_ n: Int) {
  NNThreads.set(n > 0 ? n : ProcessInfo.processInfo.activeProcessorCount)
}
