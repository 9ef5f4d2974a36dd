import KDTensor

/// Uses one BLAS thread: student products are small, and the trainer's own
/// threads do better than OpenBLAS's for them (../shared/PLATFORM.md).
public func useSingleBLASThread() {
  BLAS.setThreads(1)
}
