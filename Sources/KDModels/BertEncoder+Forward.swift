import Foundation
import KDCore
import KDTensor

/// Reusable scratch buffers for `forward`, grown on demand.
final class Workspace: @unchecked Sendable {
  private(set) var x = FloatBuffer(count: 0)
  private(set) var qkv = FloatBuffer(count: 0)
  private(set) var ctx = FloatBuffer(count: 0)
  private(set) var inter = FloatBuffer(count: 0)
  private(set) var scores = FloatBuffer(count: 0)
  /// Per worker: the bf16 parts of the rows an AMX product reads.
  private(set) var amx: [FloatBuffer] = []

  func ensureAMX(workers: Int, bytes: Int) {
    let floats = (bytes + 3) / 4
    if amx.count < workers || amx.contains(where: { $0.count < floats }) {
      amx = (0..<workers).map { _ in FloatBuffer(count: floats) }
    }
  }

  func ensure(tokens: Int, hidden: Int, intermediate: Int, workers: Int, scratchPerWorker: Int) {
    func grow(_ b: inout FloatBuffer, _ n: Int) { if b.count < n { b = FloatBuffer(count: n) } }
    grow(&x, tokens * hidden)
    grow(&qkv, tokens * 3 * hidden)
    grow(&ctx, tokens * hidden)
    grow(&inter, tokens * intermediate)
    grow(&scores, workers * scratchPerWorker)
  }
}

/// Runs `body(worker)` on `count` workers and waits for all of them.
@inline(__always)
func parallelFor(_ count: Int, _ body: (Int) -> Void) {
  if count <= 1 {
    body(0)
  } else {
    DispatchQueue.concurrentPerform(iterations: count, execute: body)
  }
}

/// `body(scratch, sequence, head)` for each of `items` (sequence, head) pairs (`heads` per sequence),
/// item `i` on worker `i mod workers`, each worker with its own `scratchPerWorker` floats of `scratch`.
@inline(__always)
func forEachSequenceHead(items: Int, heads: Int, workers: Int, scratch: UnsafeMutablePointer<Float>, scratchPerWorker: Int,
                         _ body: (UnsafeMutablePointer<Float>, Int, Int) -> Void) {
  parallelFor(min(workers, items)) { k in
    let S = scratch + k * scratchPerWorker
    var item = k
    while item < items {
      body(S, item / heads, item % heads)
      item += min(workers, items)
    }
  }
}

/// A raw pointer that may cross into `concurrentPerform` workers (each writes disjoint rows).
struct SendablePointer: @unchecked Sendable {
  let p: UnsafeMutablePointer<Float>
}

/// Worker `k`'s share `[c0, c1)` of `n` columns, on multiples of 16.
@inline(__always)
func columnShare(_ k: Int, of workers: Int, columns n: Int) -> Range<Int> {
  let blocks = (n + 15) / 16
  let c0 = min(n, blocks * k / workers * 16), c1 = min(n, blocks * (k + 1) / workers * 16)
  return c0..<c1
}

/// `out[:, cols] (+)= bias[cols] + input · W[cols, :]ᵀ` for the columns in `cols`, all `rows` rows
/// (no bias when nil), then GELU when `gelu`; on AMX tiles when `packed` is given (with `scratch`
/// for the input's bf16 parts).
@inline(__always)
func linearColumns(_ cols: Range<Int>, rows: Int, input: UnsafePointer<Float>, inDim: Int,
                   weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                   output: UnsafeMutablePointer<Float>, ldOut: Int, accumulate: Bool, gelu: Bool = false,
                   packed: PackedWeight? = nil, scratch: UnsafeMutableRawPointer? = nil) {
  guard !cols.isEmpty else { return }
  let c0 = cols.lowerBound, n = cols.count
  if let packed, let scratch, !accumulate {
    AMXKernels.multiply(m: rows, cols: cols, k: inDim, a: input, lda: inDim, packed: packed.p, c: output, ldc: ldOut,
                        accumulate: false, bias: bias, gelu: gelu, scratch: scratch)
    return
  }
  for r in 0..<rows {
    let o = output + r * ldOut + c0
    if let bias, accumulate {
      for j in 0..<n { o[j] += bias[c0 + j] }
    } else if let bias {
      o.update(from: bias + c0, count: n)
    } else if !accumulate {
      o.update(repeating: 0, count: n)
    }
  }
  if let packed, let scratch {
    AMXKernels.multiply(m: rows, cols: cols, k: inDim, a: input, lda: inDim, packed: packed.p, c: output, ldc: ldOut,
                        accumulate: true, gelu: gelu, scratch: scratch)
  } else {
    BLAS.sgemm(transB: true, m: rows, n: n, k: inDim, a: input, lda: inDim, b: weight + c0 * inDim, ldb: inDim,
               beta: 1, c: output + c0, ldc: ldOut)
    if gelu {
      for r in 0..<rows { Kernels.geluInPlace(output + r * ldOut + c0, count: n) }
    }
  }
}

extension BertEncoder {
  /// Below this many tokens per worker, dense layers split output columns
  /// across workers instead of rows: each worker then packs only its share of
  /// the weights (packing a whole weight matrix per worker dominates small batches).
  static let defaultMinRowsPerWorker = 128

  func runForward(_ batch: [[Int32]], workspace: inout Workspace, packed: [PackedLayer]? = nil) throws -> EncoderOutput {
    let c = config
    let B = batch.count, H = c.hiddenSize, I = c.intermediateSize
    let nh = c.numAttentionHeads, dh = H / nh
    var offsets = [Int](repeating: 0, count: B + 1)
    for (i, s) in batch.enumerated() { offsets[i + 1] = offsets[i] + s.count }
    let T = offsets[B]
    guard T > 0 else {
      return EncoderOutput(batchSize: 0, hiddenSize: H, pooled: [], logits: classifier == nil ? nil : [], labelCount: classifier?.classes ?? 0)
    }
    let maxLen = batch.map(\.count).max() ?? 0
    let workers = threads
    let fusedAttention = FusedKernels.supports(headSize: dh)
    let scratchPerWorker = max(maxLen, fusedAttention ? FusedKernels.attentionScratchCount(tokens: maxLen, headSize: dh) : maxLen * maxLen)
    // With [CLS] pooling nothing reads the last layer's other rows (the output is the pooled row and
    // the logits), so the last layer computes its [CLS] rows only: their attention over all keys and
    // values, then output projection, feed-forward and LayerNorms on B rows instead of T. The result
    // is the same (`InferenceSnapshotTests`, the checkpoint teacher parity tests); a 3-layer student at
    // 128 tokens saves about a quarter of its time.
    let clsOnly = pooling == .cls
    workspace.ensure(tokens: T, hidden: H, intermediate: I, workers: workers, scratchPerWorker: scratchPerWorker)
    BLAS.setThreads(1)

    var ids = [Int32](), pos = [Int32]()
    ids.reserveCapacity(T)
    pos.reserveCapacity(T)
    for s in batch {
      ids += s
      for j in 0..<s.count { pos.append(Int32(j + weights.positionOffset)) }
    }
    let x = workspace.x.p, qkv = workspace.qkv.p, ctx = workspace.ctx.p, inter = workspace.inter.p
    let scores = workspace.scores.p
    let w = weights
    let splitRows = T >= workers * minRowsPerWorker
    let rowWorkers = splitRows ? workers : 1
    if packed != nil {
      let rows = max(splitRows ? (T + workers - 1) / workers : T, clsOnly ? B : 0)
      workspace.ensureAMX(workers: workers, bytes: AMXKernels.scratchBytes(m: rows, k: max(H, I)))
    }
    let amxScratch = packed == nil ? [] : workspace.amx.map(\.raw)
    /// `out = (accumulate ? out : bias) + input · Wᵀ` for `n` rows (every column), then GELU when `gelu`,
    /// by worker `k`: AMX tiles when packed (bias and GELU applied in the product), else OpenBLAS.
    func dense(_ k: Int, _ n: Int, input: UnsafePointer<Float>, inDim: Int, weight: UnsafePointer<Float>,
               packed pw: PackedWeight?, output: UnsafeMutablePointer<Float>, outDim: Int, accumulate: Bool,
               bias: UnsafePointer<Float>? = nil, gelu: Bool = false) {
      if let pw {
        AMXKernels.multiply(m: n, cols: 0..<outDim, k: inDim, a: input, lda: inDim, packed: pw.p, c: output, ldc: outDim,
                            accumulate: accumulate, bias: bias, gelu: gelu, scratch: amxScratch[k])
        return
      }
      // OpenBLAS: the bias is copied in as C's start, or rides on the GELU pass.
      precondition(!gelu || (bias != nil && !accumulate), "GELU follows a biased product that does not accumulate")
      if let bias, !gelu, !accumulate {
        for r in 0..<n { (output + r * outDim).update(from: bias, count: outDim) }
      }
      BLAS.sgemm(transB: true, m: n, n: outDim, k: inDim, a: input, lda: inDim, b: weight, ldb: inDim,
                 beta: accumulate || (bias != nil && !gelu) ? 1 : 0, c: output, ldc: outDim)
      if gelu, let bias {
        if FusedKernels.available {
          FusedKernels.biasGelu(output, rows: n, cols: outDim, bias: bias)
        } else {
          Kernels.biasGeluInPlace(output, rows: n, cols: outDim, bias: bias)
        }
      }
    }
    let eps = c.layerNormEps
    let wordPtr = w.word.base, wordType = w.word.dtype, wordBytes = w.word.dtype.byteCount

    /// x[rows] · W[3H×H]ᵀ + b → qkv[rows], by worker `k`.
    func qkvProjection(_ k: Int, _ r0: Int, _ n: Int, _ l: Int) {
      let L = w.layers[l]
      dense(k, n, input: x + r0 * H, inDim: H, weight: L.wqkv.p, packed: packed?[l].wqkv, output: qkv + r0 * 3 * H,
            outDim: 3 * H, accumulate: false, bias: L.bqkv.p)
    }

    ids.withUnsafeBufferPointer { idp in
      pos.withUnsafeBufferPointer { posp in
        // Embeddings, LayerNorm, and layer 0's QKV projection, split by rows.
        parallelFor(rowWorkers) { k in
          let r0 = T * k / rowWorkers, r1 = T * (k + 1) / rowWorkers
          for t in r0..<r1 {
            let row = x + t * H
            SafetensorsFile.convert(wordType, from: wordPtr + Int(idp[t]) * H * wordBytes, count: H, into: row)
            let pr = w.position.p + Int(posp[t]) * H
            if let tt = w.tokenType0 {
              for j in 0..<H { row[j] += pr[j] + tt.p[j] }
            } else {
              for j in 0..<H { row[j] += pr[j] }
            }
          }
          Kernels.layerNormInPlace(x + r0 * H, rows: r1 - r0, cols: H, gamma: w.embLNg.p, beta: w.embLNb.p, eps: eps)
          if splitRows { qkvProjection(k, r0, r1 - r0, 0) }
        }
      }
    }
    if !splitRows {
      let L0 = w.layers[0]
      parallelFor(workers) { k in
        linearColumns(columnShare(k, of: workers, columns: 3 * H), rows: T, input: x, inDim: H, weight: L0.wqkv.p,
                      bias: L0.bqkv.p, output: qkv, ldOut: 3 * H, accumulate: false,
                      packed: packed?[0].wqkv, scratch: amxScratch.isEmpty ? nil : amxScratch[k])
      }
    }

    let scale = 1 / Float(dh).squareRoot()
    let items = B * nh
    let attnWorkers = min(workers, items)
    for l in 0..<w.layers.count {
      let L = w.layers[l]
      let last = l + 1 == w.layers.count
      if last && clsOnly {
        lastLayerCLSRows(L, P: packed?[l], B: B, offsets: offsets, workers: workers, attnWorkers: attnWorkers,
                         scratchPerWorker: scratchPerWorker, scale: scale, x: x, qkv: qkv, ctx: ctx, inter: inter,
                         scores: scores, amxScratch: amxScratch)
        break
      }
      // Attention per (sequence, head): softmax(Q·Kᵀ/√d)·V over the sequence's own tokens.
      forEachSequenceHead(items: items, heads: nh, workers: attnWorkers, scratch: scores, scratchPerWorker: scratchPerWorker) { S, s, h in
        let o = offsets[s], n = offsets[s + 1] - o
        let q = qkv + o * 3 * H + h * dh
        if fusedAttention {
          FusedKernels.attentionHead(n: n, dh: dh, scale: scale, q: q, k: q + H, v: q + 2 * H, ld: 3 * H,
                                     out: ctx + o * H + h * dh, ldOut: H, scratch: S)
        } else {
          BLAS.sgemm(transB: true, m: n, n: n, k: dh, alpha: scale, a: q, lda: 3 * H, b: q + H, ldb: 3 * H,
                     c: S, ldc: n)
          Kernels.softmaxRowsInPlace(S, rows: n, cols: n, stride: n)
          BLAS.sgemm(m: n, n: dh, k: n, a: S, lda: n, b: q + 2 * H, ldb: 3 * H, c: ctx + o * H + h * dh, ldc: H)
        }
      }
      let next: LayerWeights? = l + 1 < w.layers.count ? w.layers[l + 1] : nil
      let P = packed?[l], nextP = l + 1 < (packed?.count ?? 0) ? packed?[l + 1] : nil
      func sc(_ k: Int) -> UnsafeMutableRawPointer? { amxScratch.isEmpty ? nil : amxScratch[k] }
      if !splitRows {
        // Few tokens: split each product by output columns; LayerNorm between products.
        layerTailByColumns(L, P: P, rows: T, x: x, ctx: ctx, inter: inter, workers: workers, amxScratch: amxScratch)
        if let next {
          parallelFor(workers) { k in
            linearColumns(columnShare(k, of: workers, columns: 3 * H), rows: T, input: x, inDim: H, weight: next.wqkv.p,
                          bias: next.bqkv.p, output: qkv, ldOut: 3 * H, accumulate: false, packed: nextP?.wqkv, scratch: sc(k))
          }
        }
        continue
      }
      // Output projection + residual + LN, feed-forward + residual + LN, next layer's QKV; split by rows.
      parallelFor(rowWorkers) { k in
        let r0 = T * k / rowWorkers, r1 = T * (k + 1) / rowWorkers, n = r1 - r0
        guard n > 0 else { return }
        let xr = x + r0 * H
        // residual += input · Wᵀ, then LayerNorm(residual + bias): with AVX-512 the
        // bias add rides on the LayerNorm's first pass instead of a pass of its own.
        func residualLinearLayerNorm(input: UnsafePointer<Float>, inDim: Int, weight: UnsafePointer<Float>, packed pw: PackedWeight?,
                                     bias: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>) {
          if FusedKernels.available {
            dense(k, n, input: input, inDim: inDim, weight: weight, packed: pw, output: xr, outDim: H, accumulate: true)
            FusedKernels.biasLayerNorm(xr, rows: n, cols: H, bias: bias, gamma: gamma, beta: beta, eps: eps)
          } else {
            // Bias after the product, as the column-split path does.
            dense(k, n, input: input, inDim: inDim, weight: weight, packed: pw, output: xr, outDim: H, accumulate: true)
            for r in 0..<n {
              let row = xr + r * H
              for j in 0..<H { row[j] += bias[j] }
            }
            Kernels.layerNormInPlace(xr, rows: n, cols: H, gamma: gamma, beta: beta, eps: eps)
          }
        }
        residualLinearLayerNorm(input: ctx + r0 * H, inDim: H, weight: L.wo.p, packed: P?.wo, bias: L.bo.p, gamma: L.ln1g.p, beta: L.ln1b.p)
        let ir = inter + r0 * I
        dense(k, n, input: xr, inDim: H, weight: L.wi.p, packed: P?.wi, output: ir, outDim: I, accumulate: false,
              bias: L.bi.p, gelu: true)
        residualLinearLayerNorm(input: ir, inDim: I, weight: L.wout.p, packed: P?.wout, bias: L.bout.p, gamma: L.ln2g.p, beta: L.ln2b.p)
        if next != nil { qkvProjection(k, r0, n, l + 1) }
      }
    }

    // Pooling. With `clsOnly` the last layer left sequence s's [CLS] row at row s.
    let clsRow: (Int) -> Int = clsOnly ? { $0 } : { offsets[$0] }
    var pooled = [Float](repeating: 0, count: B * H)
    pooled.withUnsafeMutableBufferPointer { pp in
      let out = pp.baseAddress!
      for s in 0..<B {
        let o = offsets[s], n = offsets[s + 1] - o
        let dst = out + s * H
        switch pooling {
        case .cls:
          dst.update(from: x + clsRow(s) * H, count: H)
        case .mean:
          for t in 0..<n {
            let row = x + (o + t) * H
            for j in 0..<H { dst[j] += row[j] }
          }
          let inv = 1 / Float(n)
          for j in 0..<H { dst[j] *= inv }
        }
        if normalizeEmbeddings {
          var ss: Float = 0
          for j in 0..<H { ss += dst[j] * dst[j] }
          let inv = 1 / max(ss.squareRoot(), 1e-12)
          for j in 0..<H { dst[j] *= inv }
        }
      }
    }

    var logits: [Float]?
    if let head = classifier {
      switch classifierInput {
      case .pooledEmbedding:
        logits = head.logits(pooled, rows: B)
      case .checkpointPooler:
        guard let pre = w.preClassifier else {
          throw KDError(.internalError, "classifier without its pre-classifier layer", file: directory)
        }
        var first = [Float](repeating: 0, count: B * H)
        var hidden = [Float](repeating: 0, count: B * H)
        first.withUnsafeMutableBufferPointer { fp in
          for s in 0..<B { (fp.baseAddress! + s * H).update(from: x + clsRow(s) * H, count: H) }
          hidden.withUnsafeMutableBufferPointer { hp in
            let hb = hp.baseAddress!
            for s in 0..<B { (hb + s * H).update(from: pre.b.p, count: H) }
            BLAS.sgemm(transB: true, m: B, n: H, k: H, a: fp.baseAddress!, lda: H, b: pre.w.p, ldb: H, beta: 1, c: hb, ldc: H)
            for i in 0..<(B * H) {
              hb[i] = pre.activation == .tanh ? Foundation.tanh(hb[i]) : max(0, hb[i])
            }
          }
        }
        logits = head.logits(hidden, rows: B)
      }
    }
    return EncoderOutput(batchSize: B, hiddenSize: H, pooled: pooled, logits: logits, labelCount: classifier?.classes ?? 0)
  }
}

extension BertEncoder {
  /// The last layer for [CLS] pooling: each sequence's first row attends over all its tokens (the
  /// QKV projection of every row is done), the [CLS] rows move to rows 0..<B of `x` and `ctx`, and
  /// the rest of the layer runs on those B rows (`layerTailByColumns`).
  func lastLayerCLSRows(_ L: LayerWeights, P: PackedLayer?, B: Int, offsets: [Int], workers: Int, attnWorkers: Int,
                        scratchPerWorker: Int, scale: Float, x: UnsafeMutablePointer<Float>,
                        qkv: UnsafeMutablePointer<Float>, ctx: UnsafeMutablePointer<Float>,
                        inter: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>,
                        amxScratch: [UnsafeMutableRawPointer]) {
    let H = config.hiddenSize, nh = config.numAttentionHeads, dh = H / nh
    forEachSequenceHead(items: B * nh, heads: nh, workers: attnWorkers, scratch: scores, scratchPerWorker: scratchPerWorker) { S, s, h in
      let o = offsets[s], n = offsets[s + 1] - o
      let q = qkv + o * 3 * H + h * dh
      BLAS.sgemm(transB: true, m: 1, n: n, k: dh, alpha: scale, a: q, lda: 3 * H, b: q + H, ldb: 3 * H, c: S, ldc: n)
      Kernels.softmaxRowsInPlace(S, rows: 1, cols: n, stride: n)
      BLAS.sgemm(m: 1, n: dh, k: n, a: S, lda: n, b: q + 2 * H, ldb: 3 * H, c: ctx + s * H + h * dh, ldc: H)
    }
    // [CLS] rows of the residual stream to rows 0..<B (row s comes from row offsets[s] >= s: no overlap).
    for s in 0..<B where offsets[s] != s {
      (x + s * H).update(from: x + offsets[s] * H, count: H)
    }
    layerTailByColumns(L, P: P, rows: B, x: x, ctx: ctx, inter: inter, workers: workers, amxScratch: amxScratch)
  }

  /// A layer after its attention, on `rows` rows, each product split by output columns across the
  /// workers: x += ctx · Woᵀ, LayerNorm(x + bo); inter = GELU(x · Wiᵀ + bi); x += inter · Woutᵀ,
  /// LayerNorm(x + bout). Residual products as on the row path (x += input · Wᵀ, then LayerNorm of
  /// x + bias), so both paths compute every value the same way (AMX products magnify 1-ulp input
  /// differences).
  func layerTailByColumns(_ L: LayerWeights, P: PackedLayer?, rows: Int, x: UnsafeMutablePointer<Float>,
                          ctx: UnsafeMutablePointer<Float>, inter: UnsafeMutablePointer<Float>, workers: Int,
                          amxScratch: [UnsafeMutableRawPointer]) {
    let H = config.hiddenSize, I = config.intermediateSize, eps = config.layerNormEps
    func sc(_ k: Int) -> UnsafeMutableRawPointer? { amxScratch.isEmpty ? nil : amxScratch[k] }
    func residualLayerNorm(_ bias: UnsafePointer<Float>, _ gamma: UnsafePointer<Float>, _ beta: UnsafePointer<Float>) {
      if FusedKernels.available {
        FusedKernels.biasLayerNorm(x, rows: rows, cols: H, bias: bias, gamma: gamma, beta: beta, eps: eps)
      } else {
        for r in 0..<rows {
          let row = x + r * H
          for j in 0..<H { row[j] += bias[j] }
        }
        Kernels.layerNormInPlace(x, rows: rows, cols: H, gamma: gamma, beta: beta, eps: eps)
      }
    }
    parallelFor(workers) { k in
      linearColumns(columnShare(k, of: workers, columns: H), rows: rows, input: ctx, inDim: H, weight: L.wo.p,
                    bias: nil, output: x, ldOut: H, accumulate: true, packed: P?.wo, scratch: sc(k))
    }
    residualLayerNorm(L.bo.p, L.ln1g.p, L.ln1b.p)
    parallelFor(workers) { k in
      linearColumns(columnShare(k, of: workers, columns: I), rows: rows, input: x, inDim: H, weight: L.wi.p, bias: L.bi.p,
                    output: inter, ldOut: I, accumulate: false, gelu: true, packed: P?.wi, scratch: sc(k))
    }
    parallelFor(workers) { k in
      linearColumns(columnShare(k, of: workers, columns: H), rows: rows, input: inter, inDim: I, weight: L.wout.p,
                    bias: nil, output: x, ldOut: H, accumulate: true, packed: P?.wout, scratch: sc(k))
    }
    residualLayerNorm(L.bout.p, L.ln2g.p, L.ln2b.p)
  }
}
