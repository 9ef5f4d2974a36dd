import Foundation
import CKernels

/// Fused scaled-dot-product attention and bias+GELU in AVX-512, when the CPU has it.
///
/// Why: per-head attention products are tiny (MiniLM: 128×128×32) and OpenBLAS
/// spends much of their time zeroing, packing and dispatching; with the AVX2
/// kernels attention and GELU took about a quarter of MiniLM-L6's forward pass
/// at 32×128 for 5% of its FLOPs. The C kernels (Sources/CKernels) keep a block
/// of score rows in L1, apply the softmax there and multiply by V straight
/// away, 16 lanes wide. On CPUs without AVX-512 the encoder keeps the
/// OpenBLAS + AVX2 path. BENCHMARKS.md, "Teacher (issue 5)", has the numbers.
public enum FusedKernels {
  /// Whether this CPU runs the AVX-512 kernels (`KD_NO_AVX512=1` turns them off, for A/B runs and tests).
  public static let available: Bool = {
    #if os(Linux) || os(macOS)
    if let v = getenv("KD_NO_AVX512"), String(cString: v) == "1" { return false }
    #endif
    return kd_has_avx512() != 0
  }()

  /// Whether the fused attention supports this head size (a multiple of 16).
  public static func supports(headSize dh: Int) -> Bool { available && dh > 0 && dh % 16 == 0 }

  /// Floats of scratch `attentionHead` needs.
  public static func attentionScratchCount(tokens n: Int, headSize dh: Int) -> Int {
    Int(kd_attention_scratch(n, dh))
  }

  /// `out = softmax(scale · Q·Kᵀ) · V` for one head of one sequence of `n` tokens
  /// (row `i` of Q, K, V at `q/k/v + i·ld`; of the result at `out + i·ldOut`).
  /// Only when `supports(headSize:)`.
  @inline(__always)
  public static func attentionHead(
    n: Int, dh: Int, scale: Float,
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ld: Int,
    out: UnsafeMutablePointer<Float>, ldOut: Int, scratch: UnsafeMutablePointer<Float>
  ) {
    kd_attention_head_avx512(n, dh, scale, q, k, v, ld, out, ldOut, scratch)
  }

  /// `p[r] = LayerNorm(p[r] + bias) · gamma + beta` for each row, in place. Only when `available`.
  @inline(__always)
  public static func biasLayerNorm(_ p: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>?,
                                   gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float) {
    kd_bias_layernorm_avx512(p, rows, cols, bias, gamma, beta, eps)
  }

  /// `p[r, c] = gelu(p[r, c] + bias[c])` in place. Only when `available`.
  @inline(__always)
  public static func biasGelu(_ p: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
    kd_bias_gelu_avx512(p, rows, cols, bias)
  }
}
