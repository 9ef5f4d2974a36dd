import COpenBLAS
import Foundation
import KDNN

/// `C[m×n] (+)= A[m×k] · B[k×n]` with optional transposes, row-major, single precision (OpenBLAS).
@inline(__always)
func gemm(_ transA: Bool, _ transB: Bool, m: Int, n: Int, k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
          _ c: UnsafeMutablePointer<Float>, accumulate: Bool) {
  if m == 0 || n == 0 { return }
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              Int32(m), Int32(n), Int32(k), 1, a, Int32(transA ? m : k), b, Int32(transB ? k : n),
              accumulate ? 1 : 0, c, Int32(n))
}

/// Uses one BLAS thread: student products are small, and the trainer's own
/// threads do better than OpenBLAS's for them (../shared/PLATFORM.md).
public func useSingleBLASThread() {
  openblas_set_num_threads(1)
}
