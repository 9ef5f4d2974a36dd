import COpenBLAS

/// Thin, documented wrappers over OpenBLAS (row-major `cblas_sgemm`).
public enum BLAS {
  /// Sets OpenBLAS's own thread count (process-wide).
  ///
  /// The encoder splits work over its own workers and calls BLAS with one
  /// thread each: many small per-head products run slower with 2 BLAS threads
  /// (PLATFORM.md).
  public static func setThreads(_ n: Int) {
    openblas_set_num_threads(Int32(max(1, n)))
  }

  /// OpenBLAS's current thread count.
  public static var threads: Int { Int(openblas_get_num_threads()) }

  /// `C = alpha · op(A) · op(B) + beta · C`, row-major.
  ///
  /// - Parameters:
  ///   - transA: use Aᵀ (A is stored k×m instead of m×k).
  ///   - transB: use Bᵀ (B is stored n×k instead of k×n), e.g. PyTorch
  ///     `Linear.weight` [out × in] for `x · Wᵀ`.
  ///   - m, n, k: C is m×n, the inner dimension is k.
  ///   - lda, ldb, ldc: row strides in elements.
  @inlinable
  public static func sgemm(
    transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    guard m > 0, n > 0 else { return }
    cblas_sgemm(
      CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }
}
