import Foundation
import KDTensor

/// Multi-head scaled-dot-product self-attention (BERT's `attention.self`): query, key and value
/// projections, then per sequence and head `softmax(Q·Kᵀ/√d)·V` over that sequence's own tokens
/// (the packed `SequenceLayout` is the padding mask). The output projection is a separate `Dense`.
///
/// Taps for distillation (MiniLM, TinyBERT): after a forward pass, `probabilities(sequence:head:)`
/// and `values` hold the attention distributions and the value vectors.
public final class SelfAttention {
  public let query: Dense
  public let key: Dense
  public let value: Dense
  public let hidden: Int
  public let heads: Int
  public var headSize: Int { hidden / heads }

  /// The last forward's Q, K, V `[tokens × hidden]` and layout.
  public private(set) var q: [Float] = []
  public private(set) var k: [Float] = []
  public private(set) var values: [Float] = []
  public private(set) var layout = SequenceLayout(offsets: [0])
  /// Attention probabilities: for sequence `s` and head `h`, an `m×n` block at `probOffsets[s] + h·m·n`
  /// (`m` = n query rows, or 1 with `firstRowOnly`).
  public private(set) var probs: [Float] = []
  public private(set) var probOffsets: [Int] = [0]
  var rows = 0
  /// Whether the last forward pass ran only each sequence's first query row (`[CLS]`): Q, the
  /// probabilities and the context then have one row per sequence, K and V one per token.
  public private(set) var firstRowOnly = false
  /// An extra gradient on the attention scores (pre-softmax logits, after scaling), laid out as `probs`,
  /// added by the next `backward` and then cleared (attention-distribution distillation, MiniLM).
  public var extraScoreGradient: [Float]?
  /// Extra gradients on the query, key and value projections `[tokens × hidden]`, added by the next
  /// `backward` and then cleared (relation distillation, MiniLMv2).
  public var extraQueryGradient: [Float]?
  public var extraKeyGradient: [Float]?
  public var extraValueGradient: [Float]?
  /// Keep Q and K after an inference forward pass (relation distillation reads them); off: freed.
  public var keepProjections = false

  /// Parameter names `prefix.query.weight`, … (Hugging Face `attention.self`).
  public init(prefix: String, hidden: Int, heads: Int, std: Float = 0.02, rng: inout NNRandom) {
    precondition(hidden % heads == 0, "SelfAttention: hidden \(hidden) not divisible by \(heads) heads")
    self.hidden = hidden
    self.heads = heads
    query = Dense(name: prefix + ".query", inputSize: hidden, outputSize: hidden, std: std, rng: &rng)
    key = Dense(name: prefix + ".key", inputSize: hidden, outputSize: hidden, std: std, rng: &rng)
    value = Dense(name: prefix + ".value", inputSize: hidden, outputSize: hidden, std: std, rng: &rng)
  }

  public var parameters: [Parameter] { query.parameters + key.parameters + value.parameters }

  /// The `n×n` attention distribution of one sequence and head after the last forward pass
  /// (`1×n`, the first row's, after a `firstRowOnly` pass).
  public func probabilities(sequence s: Int, head h: Int) -> ArraySlice<Float> {
    let n = layout.length(s), m = firstRowOnly ? 1 : n
    let o = probOffsets[s] + h * m * n
    return probs[o..<(o + m * n)]
  }

  /// Context vectors `[tokens × hidden]` (heads side by side, as Hugging Face).
  ///
  /// With `firstRowOnly`, only each sequence's first token (`[CLS]`) queries: the result is
  /// `[sequences × hidden]`, the rows the full pass would give at each sequence's first token: the
  /// query projection runs on one row per sequence, and the attention on 1/n of its rows. Keys and values still come
  /// from every token, and `backward` returns the gradient of all of `x`. A `[CLS]`-pooled
  /// classifier reads nothing else of the last layer.
  public func forward(_ x: [Float], layout: SequenceLayout, training: Bool, firstRowOnly: Bool = false) -> [Float] {
    let T = layout.tokens, H = hidden, nh = heads, dh = headSize
    let R = firstRowOnly ? layout.count : T
    q = query.forward(firstRowOnly ? layout.firstRows(of: x, width: H) : x, rows: R, training: training)
    k = key.forward(x, rows: T, training: training)
    values = value.forward(x, rows: T, training: training)
    self.layout = layout
    self.firstRowOnly = firstRowOnly
    rows = T
    var po = [0]
    for s in 0..<layout.count {
      let n = layout.length(s)
      po.append(po[s] + nh * (firstRowOnly ? 1 : n) * n)
    }
    probOffsets = po
    // The buffer is kept between training steps (`backward` empties it, keeping its capacity): at
    // 16 × 256 tokens it is 50 MB per layer, over glibc's largest mmap threshold (32 MiB), so a new
    // array would be a fresh mapping whose pages fault in every step. sgemm writes every block.
    probs.removeAll(keepingCapacity: true)
    probs.append(contentsOf: repeatElement(0, count: po[layout.count]))
    var ctx = uninitializedFloats(R * H)  // every (sequence, head) block is written by sgemm (β = 0)
    let scale = 1 / Float(dh).squareRoot()
    let items = layout.count * nh
    let workers = min(NNThreads.threads, items)
    q.withUnsafeBufferPointer { qp in
      k.withUnsafeBufferPointer { kp in
        values.withUnsafeBufferPointer { vp in
          probs.withUnsafeMutableBufferPointer { pp in
            ctx.withUnsafeMutableBufferPointer { cp in
              let P = UnsafeSendablePointer(pp.baseAddress!), C = UnsafeSendablePointer(cp.baseAddress!)
              let Q = qp.baseAddress!, K = kp.baseAddress!, Vv = vp.baseAddress!
              nnParallel(workers) { w in
                var item = w
                while item < items {
                  let s = item / nh, h = item % nh
                  let o = layout.offsets[s], n = layout.length(s)
                  let m = firstRowOnly ? 1 : n, qo = firstRowOnly ? s : o
                  let S = P.p + po[s] + h * m * n
                  BLAS.sgemm(transB: true, m: m, n: n, k: dh, alpha: scale, a: Q + qo * H + h * dh, lda: H,
                             b: K + o * H + h * dh, ldb: H, c: S, ldc: n)
                  Kernels.softmaxRowsInPlace(S, rows: m, cols: n, stride: n)
                  BLAS.sgemm(m: m, n: dh, k: n, a: S, lda: n, b: Vv + o * H + h * dh, ldb: H, c: C.p + qo * H + h * dh, ldc: H)
                  item += workers
                }
              }
            }
          }
        }
      }
    }
    if !training && !keepProjections { q = []; k = [] }
    return ctx
  }

  /// Gradient of the input `x` `[tokens × hidden]` from the gradient of the context vectors (one
  /// row per sequence after a `firstRowOnly` pass).
  public func backward(_ dctx: [Float]) -> [Float] {
    let T = rows, H = hidden, nh = heads, dh = headSize
    let firstRowOnly = self.firstRowOnly
    // Every (sequence, head) block of these is written by sgemm (β = 0).
    var dk = uninitializedFloats(T * H), dv = uninitializedFloats(T * H)
    var dq = uninitializedFloats((firstRowOnly ? layout.count : T) * H)
    let scale = 1 / Float(dh).squareRoot()
    let items = layout.count * nh
    let workers = min(NNThreads.threads, items)
    let maxN = layout.maxLength
    var scratch = [Float](repeating: 0, count: workers * maxN * maxN)
    let layout = self.layout, po = probOffsets
    let extra = extraScoreGradient ?? []
    extraScoreGradient = nil
    let hasExtra = !extra.isEmpty
    q.withUnsafeBufferPointer { qp in
      k.withUnsafeBufferPointer { kp in
        values.withUnsafeBufferPointer { vp in
          probs.withUnsafeBufferPointer { pp in
            dctx.withUnsafeBufferPointer { dcp in
              dq.withUnsafeMutableBufferPointer { dqp in
                dk.withUnsafeMutableBufferPointer { dkp in
                  dv.withUnsafeMutableBufferPointer { dvp in
                    scratch.withUnsafeMutableBufferPointer { sp in
                     extra.withUnsafeBufferPointer { ep in
                      let DQ = UnsafeSendablePointer(dqp.baseAddress!), DK = UnsafeSendablePointer(dkp.baseAddress!)
                      let DV = UnsafeSendablePointer(dvp.baseAddress!), SC = UnsafeSendablePointer(sp.baseAddress!)
                      let Q = qp.baseAddress!, K = kp.baseAddress!, Vv = vp.baseAddress!, Pr = pp.baseAddress!, DC = dcp.baseAddress!
                      let E = ep.baseAddress
                      nnParallel(workers) { w in
                        let dP = SC.p + w * maxN * maxN
                        var item = w
                        while item < items {
                          let s = item / nh, h = item % nh
                          let o = layout.offsets[s], n = layout.length(s)
                          let m = firstRowOnly ? 1 : n
                          let P = Pr + po[s] + h * m * n
                          let col = o * H + h * dh, qcol = (firstRowOnly ? s : o) * H + h * dh
                          // dV = Pᵀ · dctx
                          BLAS.sgemm(transA: true, m: n, n: dh, k: m, a: P, lda: n, b: DC + qcol, ldb: H, c: DV.p + col, ldc: H)
                          // dP = dctx · Vᵀ
                          BLAS.sgemm(transB: true, m: m, n: n, k: dh, a: DC + qcol, lda: H, b: Vv + col, ldb: H, c: dP, ldc: n)
                          // dS = P ⊙ (dP − rowsum(dP ⊙ P)), times the scale
                          for i in 0..<m {
                            let pr = P + i * n, dr = dP + i * n
                            var dot: Float = 0
                            for j in 0..<n { dot += pr[j] * dr[j] }
                            if hasExtra, let E {
                              let er = E + po[s] + h * m * n + i * n
                              for j in 0..<n { dr[j] = (pr[j] * (dr[j] - dot) + er[j]) * scale }
                            } else {
                              for j in 0..<n { dr[j] = pr[j] * (dr[j] - dot) * scale }
                            }
                          }
                          // dQ = dS · K, dK = dSᵀ · Q
                          BLAS.sgemm(m: m, n: dh, k: n, a: dP, lda: n, b: K + col, ldb: H, c: DQ.p + qcol, ldc: H)
                          BLAS.sgemm(transA: true, m: n, n: dh, k: m, a: dP, lda: n, b: Q + qcol, ldb: H, c: DK.p + col, ldc: H)
                          item += workers
                        }
                      }
                     }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    for (extra, i) in [(extraQueryGradient, 0), (extraKeyGradient, 1), (extraValueGradient, 2)] {
      guard let g = extra else { continue }
      let expected = i == 0 ? dq.count : dk.count
      precondition(g.count == expected, "SelfAttention: extra projection gradient of \(g.count) values for \(expected)")
      switch i {
      case 0: for j in dq.indices { dq[j] += g[j] }
      case 1: for j in dk.indices { dk[j] += g[j] }
      default: for j in dv.indices { dv[j] += g[j] }
      }
    }
    extraQueryGradient = nil
    extraKeyGradient = nil
    extraValueGradient = nil
    var dx = key.backward(dk)
    let dxv = value.backward(dv), dxq = query.backward(dq)
    if firstRowOnly {
      for i in dx.indices { dx[i] += dxv[i] }
      layout.addFirstRows(dxq, into: &dx, width: H)
    } else {
      for i in dx.indices { dx[i] += dxq[i] + dxv[i] }
    }
    // The forward caches (taps included) are spent: free them before the next forward or evaluation.
    q = []
    k = []
    values = []
    probs.removeAll(keepingCapacity: true)
    return dx
  }

  /// Frees the probabilities' buffer kept between training steps (at a change from training to
  /// inference; the other forward caches are already freed by `backward`).
  public func releaseBuffers() {
    probs = []
  }
}
