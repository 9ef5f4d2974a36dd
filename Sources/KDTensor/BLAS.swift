import COpenBLAS
import Foundation

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

  /// The kernel family OpenBLAS picked at start-up (e.g. `Haswell`, `SkylakeX`, `Prescott`).
  public static var coreName: String {
    guard let p = openblas_get_corename() else { return "unknown" }
    return String(cString: p)
  }

  /// The `OPENBLAS_CORETYPE` this CPU should use when OpenBLAS fell back to
  /// pre-AVX kernels, else nil.
  ///
  /// OpenBLAS 0.3.21 does not recognise some virtualised CPUs (CPUID model
  /// "Intel Xeon Processor") and falls back to its SSE3 `Prescott` kernels,
  /// which run sgemm 2–4× slower. The CPU's own feature flags decide the
  /// replacement: `SkylakeX` with AVX-512 (F, BW, DQ, VL), `Haswell` with AVX2 + FMA.
  public static func betterCoreType() -> String? {
    let slow: Set<String> = ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai", "coppermine", "northwood", "banias", "unknown"]
    guard slow.contains(coreName.lowercased()) else { return nil }
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
    let flags = Set(line.split(separator: " ").map(String.init))
    if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) { return "SkylakeX" }
    if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
    return nil
  }

  /// Re-executes the current process with `OPENBLAS_CORETYPE` set when
  /// OpenBLAS chose slow pre-AVX kernels on a CPU that has AVX2 (see `betterCoreType()`).
  ///
  /// Call it first thing in `main` of executables that run BLAS-heavy work.
  /// It does nothing when `OPENBLAS_CORETYPE` is already set (by the user or
  /// a previous re-exec), when the kernels are already fine, or off Linux.
  /// On success it does not return.
  public static func reexecWithFasterKernelsIfNeeded() {
    #if os(Linux)
    guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, let core = betterCoreType() else { return }
    setenv("OPENBLAS_CORETYPE", core, 1)
    let args = CommandLine.arguments
    var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
    cargs.append(nil)
    execv("/proc/self/exe", &cargs)
    // execv only returns on failure: carry on with the slow kernels.
    for p in cargs { free(p) }
    #endif
  }
}
