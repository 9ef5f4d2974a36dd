import Foundation
import KDCore
import KDTensor
import Testing

/// Kernels against double-precision references; safetensors write/read.
@Suite struct TensorTests {
  @Test func erfAndGeluMatchLibm() {
    var worstErf = 0.0, worstGelu = 0.0
    var x = -6.0
    while x <= 6.0 {
      worstErf = max(worstErf, abs(Double(Kernels.erf(Float(x))) - Foundation.erf(x)))
      let gelu = 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot()))
      let got = Double(Kernels.gelu(SIMD8<Float>(repeating: Float(x)))[0])
      worstGelu = max(worstGelu, abs(got - gelu))
      x += 0.001
    }
    #expect(worstErf < 1e-6, "erf max error \(worstErf)")
    #expect(worstGelu < 2e-6, "gelu max error \(worstGelu)")
  }

  @Test func expIsAccurateAndSaturates() {
    var worst = 0.0
    var x = -87.0
    while x <= 88.0 {
      let rel = abs(Double(Kernels.exp(Float(x))) - Foundation.exp(Double(Float(x)))) / Foundation.exp(Double(Float(x)))
      worst = max(worst, rel)
      x += 0.01
    }
    #expect(worst < 5e-7, "exp relative error \(worst)")
    #expect(Kernels.exp(-200) == 0)
    #expect(Kernels.exp(-Float.infinity) == 0)
  }

  @Test func softmaxAndLayerNorm() {
    var rows: [Float] = (0..<(3 * 13)).map { Float(($0 * 37) % 11) - 5 }
    let original = rows
    rows.withUnsafeMutableBufferPointer { Kernels.softmaxRowsInPlace($0.baseAddress!, rows: 3, cols: 13, stride: 13) }
    for r in 0..<3 {
      let z = original[(r * 13)..<(r * 13 + 13)].map(Double.init)
      let m = z.max()!
      let s = z.reduce(0) { $0 + Foundation.exp($1 - m) }
      for c in 0..<13 {
        #expect(abs(Double(rows[r * 13 + c]) - Foundation.exp(z[c] - m) / s) < 1e-6)
      }
    }
    var x: [Float] = (0..<(2 * 19)).map { Float($0 % 5) * 1.5 - Float($0) * 0.1 }
    let x0 = x
    let g: [Float] = (0..<19).map { 1 + Float($0) * 0.01 }, b: [Float] = (0..<19).map { Float($0) * -0.02 }
    x.withUnsafeMutableBufferPointer { xp in
      Kernels.layerNormInPlace(xp.baseAddress!, rows: 2, cols: 19, gamma: g, beta: b, eps: 1e-5)
    }
    for r in 0..<2 {
      let v = x0[(r * 19)..<(r * 19 + 19)].map(Double.init)
      let mean = v.reduce(0, +) / 19
      let varc = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 19
      for c in 0..<19 {
        let want = (v[c] - mean) / (varc + 1e-5).squareRoot() * Double(g[c]) + Double(b[c])
        #expect(abs(Double(x[r * 19 + c]) - want) < 1e-5)
      }
    }
    let bad: [Float] = [1, 2, .nan, 4, 5, 6, 7, 8, 9]
    #expect(!Kernels.allFinite(bad, count: 9))
    #expect(!Kernels.allFinite([Float.infinity], count: 1))
    #expect(Kernels.allFinite(original, count: original.count))
  }

  @Test func safetensorsRoundTripAndConversion() throws {
    let path = try Fixtures.tempDirectory() + "/t.safetensors"
    let a: [Float] = (0..<12).map { Float($0) * 0.5 - 2 }
    try SafetensorsWriter.write([.init(name: "w", shape: [3, 4], values: a), .init(name: "b \"q\"", shape: [1], values: [7])],
                                metadata: ["format": "pt"], to: path)
    let f = try SafetensorsFile(path: path)
    #expect(f.metadata["format"] == "pt")
    #expect(try f.floats("w", shape: [3, 4]) == a)
    #expect(try f.floats("b \"q\"") == [7])
    #expect(f.headerSize % 8 == 0)
    #expect(throws: KDError.self) { _ = try f.floats("w", shape: [4, 3]) }
    #expect(throws: KDError.self) { _ = try f.floats("missing") }
    #expect(throws: KDError.self) {
      try SafetensorsWriter.write([.init(name: "x", shape: [2], values: [1])], to: path)
    }
    // The failed write left the previous file intact (atomic replace).
    #expect(try SafetensorsFile(path: path).floats("w") == a)
    // bf16 and fp16 fixtures widen to the fp32 values they were rounded from.
    let f32 = try SafetensorsFile(path: Fixtures.resources + "/tiny-bert/model.safetensors")
    let b16 = try SafetensorsFile(path: Fixtures.resources + "/tiny-bert-bf16/model.safetensors")
    let name = "bert.encoder.layer.0.intermediate.dense.weight"
    #expect(try b16.info(name).dtype == .bf16)
    let d = Fixtures.maxAbsDiff(try f32.floats(name), try b16.floats(name))
    #expect(d > 0 && d < 0.01, "bf16 rounding \(d)")
    #expect(halfToFloat(0x3C00) == 1 && halfToFloat(0xC000) == -2 && halfToFloat(0x0001) == Float(5.960464477539063e-8))
  }

  @Test func matrixMultiply() {
    let a = Matrix(rows: 2, cols: 3, values: [1, 2, 3, 4, 5, 6])
    let b = Matrix(rows: 3, cols: 2, values: [7, 8, 9, 10, 11, 12])
    #expect(a.multiplied(by: b).values == [58, 64, 139, 154])
    #expect(a.multiplied(by: a, transposeOther: true).values == [14, 32, 32, 77])
    #expect(a.multiplied(by: a, transposeSelf: true).values == [17, 22, 27, 22, 29, 36, 27, 36, 45])
  }

  /// The AVX-512 attention and bias+GELU kernels against double-precision references,
  /// on sizes that are not multiples of the kernels' blocks (tails, single rows).
  @Test(.enabled(if: FusedKernels.available, "this CPU has no AVX-512: the encoder uses the OpenBLAS + AVX2 path"),
        arguments: [(1, 16), (5, 32), (17, 48), (33, 32), (128, 64), (130, 32)])
  func fusedAttentionMatchesReference(n: Int, dh: Int) {
    let ld = 3 * dh + 5, ldOut = dh + 3
    let qkv: [Float] = (0..<(n * ld)).map { Float(($0 * 7919) % 201) / 50 - 2 }
    var out = [Float](repeating: .nan, count: n * ldOut)
    var scratch = [Float](repeating: .nan, count: FusedKernels.attentionScratchCount(tokens: n, headSize: dh))
    let scale = 1 / Float(dh).squareRoot()
    qkv.withUnsafeBufferPointer { p in
      let q = p.baseAddress!
      out.withUnsafeMutableBufferPointer { o in
        scratch.withUnsafeMutableBufferPointer { s in
          FusedKernels.attentionHead(n: n, dh: dh, scale: scale, q: q, k: q + dh, v: q + 2 * dh, ld: ld,
                                     out: o.baseAddress!, ldOut: ldOut, scratch: s.baseAddress!)
        }
      }
    }
    var worst = 0.0
    for i in 0..<n {
      let scores = (0..<n).map { j in (0..<dh).reduce(0.0) { $0 + Double(qkv[i * ld + $1]) * Double(qkv[j * ld + dh + $1]) } * Double(scale) }
      let m = scores.max()!
      let e = scores.map { Foundation.exp($0 - m) }
      let sum = e.reduce(0, +)
      for c in 0..<dh {
        let want = (0..<n).reduce(0.0) { $0 + e[$1] / sum * Double(qkv[$1 * ld + 2 * dh + c]) }
        worst = max(worst, abs(Double(out[i * ldOut + c]) - want))
      }
      for c in dh..<ldOut { #expect(out[i * ldOut + c].isNaN, "wrote outside its head") }
    }
    #expect(worst < 1e-5, "attention n=\(n) dh=\(dh): max error \(worst)")
  }

  @Test(.enabled(if: FusedKernels.available, "this CPU has no AVX-512: the encoder uses the AVX2 GELU"))
  func fusedBiasGeluMatchesReference() {
    let rows = 3, cols = 37
    var x: [Float] = (0..<(rows * cols)).map { Float($0 % 23) * 0.5 - 5.5 }
    let x0 = x, bias: [Float] = (0..<cols).map { Float($0) * 0.03 - 0.5 }
    x.withUnsafeMutableBufferPointer { FusedKernels.biasGelu($0.baseAddress!, rows: rows, cols: cols, bias: bias) }
    for i in 0..<(rows * cols) {
      let v = Double(x0[i]) + Double(bias[i % cols])
      let want = 0.5 * v * (1 + Foundation.erf(v / 2.0.squareRoot()))
      #expect(abs(Double(x[i]) - want) < 2e-6, "gelu(\(v))")
    }
  }

  @Test(.enabled(if: FusedKernels.available, "this CPU has no AVX-512: the encoder uses OpenBLAS attention"))
  func fusedAttentionStaysFiniteWhenEveryScoreIsVeryNegative() {
    // Scores of -400: the row maximum must come from the n real columns only (the
    // zero padding up to 32 columns would make every exp underflow to 0).
    let n = 5, dh = 16, ld = 3 * dh
    var qkv = [Float](repeating: 0, count: n * ld)
    for i in 0..<n {
      for d in 0..<dh {
        qkv[i * ld + d] = 10
        qkv[i * ld + dh + d] = -10
        qkv[i * ld + 2 * dh + d] = Float(i)
      }
    }
    var out = [Float](repeating: .nan, count: n * dh)
    var scratch = [Float](repeating: 0, count: FusedKernels.attentionScratchCount(tokens: n, headSize: dh))
    qkv.withUnsafeBufferPointer { p in
      FusedKernels.attentionHead(n: n, dh: dh, scale: 0.25, q: p.baseAddress!, k: p.baseAddress! + dh,
                                 v: p.baseAddress! + 2 * dh, ld: ld, out: &out, ldOut: dh, scratch: &scratch)
    }
    // Equal scores: every output is the mean of the V rows, (0+1+2+3+4)/5.
    for v in out { #expect(abs(v - 2) < 1e-5) }
  }

  @Test(.enabled(if: FusedKernels.available, "this CPU has no AVX-512: the fused kernels are not used here"))
  func fusedBiasLayerNormMatchesReference() {
    // 2 rows of 384 (MiniLM's width) and 3 of 37 (a masked tail), with and without a bias.
    for (rows, cols) in [(2, 384), (3, 37)] {
      let x0: [Float] = (0..<(rows * cols)).map { Float(($0 * 7919) % 101) * 0.07 - 3.2 }
      let bias: [Float] = (0..<cols).map { Float($0 % 11) * 0.1 - 0.4 }
      let gamma: [Float] = (0..<cols).map { 1 + Float($0 % 5) * 0.05 }
      let beta: [Float] = (0..<cols).map { Float($0 % 3) * 0.02 }
      for withBias in [true, false] {
        var x = x0
        x.withUnsafeMutableBufferPointer { p in
          bias.withUnsafeBufferPointer { b in
            FusedKernels.biasLayerNorm(p.baseAddress!, rows: rows, cols: cols, bias: withBias ? b.baseAddress! : nil,
                                       gamma: gamma, beta: beta, eps: 1e-12)
          }
        }
        for r in 0..<rows {
          let v = (0..<cols).map { Double(x0[r * cols + $0]) + (withBias ? Double(bias[$0]) : 0) }
          let mean = v.reduce(0, +) / Double(cols)
          let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
          for c in 0..<cols {
            let want = (v[c] - mean) / (variance + 1e-12).squareRoot() * Double(gamma[c]) + Double(beta[c])
            #expect(abs(Double(x[r * cols + c]) - want) < 1e-5, "row \(r) col \(c) bias \(withBias)")
          }
        }
      }
    }
  }
}
