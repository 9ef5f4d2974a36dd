import CKernels
import Foundation

/// How a BERT encoder's dense layers multiply fp32 matrices.
///
/// - `fp32`: OpenBLAS `sgemm`, fp32 throughout.
/// - `amxBF16x3`: Intel AMX tiles (Sapphire Rapids and later). Each fp32
///   operand is split into two bf16 parts, `hi = bf16(x)` and `lo = bf16(x − hi)`,
///   and three bf16 products are summed in fp32 (`hi·hi + lo·hi + hi·lo`). The
///   relative error per product is about 1e-5, some ten times fp32 sgemm's;
///   outputs stay within the 1e-4 parity bar against PyTorch fp32
///   (BENCHMARKS.md, "Teacher (issue 5)", has the measured error and speed).
///
/// `automatic` picks AMX when this CPU and OS offer it, else fp32.
public enum MatmulPrecision: String, CaseIterable, Sendable, Codable {
  case fp32
  case amxBF16x3 = "amx-bf16x3"

  /// Whether this CPU has AMX-BF16 and Linux granted this process the tile state.
  /// `KD_NO_AMX=1` turns it off (for A/B runs and tests).
  public static let amxAvailable: Bool = {
    #if os(Linux)
    if let v = getenv("KD_NO_AMX"), String(cString: v) == "1" { return false }
    return kd_amx_available() != 0
    #else
    return false
    #endif
  }()

  /// AMX when available, else fp32.
  public static var automatic: MatmulPrecision { amxAvailable ? .amxBF16x3 : .fp32 }

  /// Whether this machine can run this mode.
  public var isAvailable: Bool { self == .fp32 || Self.amxAvailable }
}

/// Thin wrappers over the AMX kernels in `CKernels/amx.c`.
public enum AMXKernels {
  /// Bytes a packed weight of `n` output columns by `k` inputs takes.
  public static func packedBytes(n: Int, k: Int) -> Int { Int(kd_amx_packed_bytes(n, k)) }

  /// Packs `w` (`n × k`, PyTorch `Linear.weight` layout) into `packed` (64-byte aligned, `packedBytes` long).
  public static func pack(_ w: UnsafePointer<Float>, n: Int, k: Int, into packed: UnsafeMutableRawPointer) {
    kd_amx_pack_weights(w, n, k, k, packed)
  }

  /// Bytes of scratch `multiply` needs for `m` rows of depth `k`.
  public static func scratchBytes(m: Int, k: Int) -> Int { Int(kd_amx_scratch_bytes(m, k)) }

  /// `C[:, cols] = start + A · W[cols, :]ᵀ` for `m` rows of A (`m × k`, stride `lda`), where `start` is
  /// `C[:, cols]` itself when `accumulate`, else `bias[cols]` on every row (0 without a bias);
  /// then `gelu` (exact) of each result when asked.
  /// `cols.lowerBound` must be a multiple of 16. Only call when `MatmulPrecision.amxAvailable`.
  @inline(__always)
  public static func multiply(m: Int, cols: Range<Int>, k: Int, a: UnsafePointer<Float>, lda: Int,
                              packed: UnsafeRawPointer, c: UnsafeMutablePointer<Float>, ldc: Int,
                              accumulate: Bool, bias: UnsafePointer<Float>? = nil, gelu: Bool = false,
                              scratch: UnsafeMutableRawPointer) {
    assert(cols.lowerBound % 16 == 0, "AMX products start at a multiple of 16 columns")
    kd_amx_gemm(m, cols.lowerBound, cols.upperBound, k, a, lda, packed, c, ldc, accumulate ? 1 : 0,
                accumulate ? nil : bias, gelu ? 1 : 0, scratch)
  }
}
