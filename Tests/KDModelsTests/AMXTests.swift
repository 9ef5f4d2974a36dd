import Foundation
import KDCore
import KDTensor
import KDTestSupport
import KDTokenizers
import Testing

@testable import KDModels

/// The AMX bf16x3 dense product (CKernels/amx.c) and the encoder running on it.
@Suite struct AMXTests {
  static let noAMX: Comment = "this CPU (or OS) has no AMX-BF16: the AMX path is not used here"

  /// One product through the AMX kernel against a double-precision reference.
  ///
  /// bf16x3 keeps about 16 bits of each product: the error of each output must stay
  /// below 2e-5 of Σ|a·w| (one bf16 product alone would be ~4e-3), columns outside
  /// the requested range must stay untouched, `accumulate` must add to C, a bias
  /// must start every row, and GELU must follow the product when asked.
  @Test(.enabled(if: MatmulPrecision.amxAvailable, noAMX),
        arguments: [(37, 50, 45, 0, 50), (64, 96, 384, 16, 80), (1, 1152, 384, 0, 1152), (130, 48, 1600, 0, 48), (40, 48, 3100, 16, 48),
                    (300, 40, 64, 32, 40)])
  func productMatchesDoublePrecision(m: Int, n: Int, k: Int, n0: Int, n1: Int) {
    // Values of varied magnitude and sign, so the lo parts matter.
    let a: [Float] = (0..<(m * k)).map { i in Float(sin(Double(i) * 0.37)) * (1 + Float(i % 7)) }
    let w: [Float] = (0..<(n * k)).map { i in Float(cos(Double(i) * 0.11)) * 0.05 * (1 + Float(i % 5)) }
    let packed = FloatBuffer(count: (AMXKernels.packedBytes(n: n, k: k) + 3) / 4)
    let scratch = FloatBuffer(count: (AMXKernels.scratchBytes(m: m, k: k) + 3) / 4)
    let bias: [Float] = (0..<n).map { Float($0 % 9) * 0.3 - 1.2 }
    // (accumulate into C, start from the bias, GELU the result)
    for (accumulate, withBias, gelu) in [(false, false, false), (true, false, false), (false, true, false), (false, true, true),
                                         (true, false, true)] {
      let c0: [Float] = (0..<(m * n)).map { Float($0 % 13) - 6 }
      var c = c0
      a.withUnsafeBufferPointer { ap in
        w.withUnsafeBufferPointer { wp in
          bias.withUnsafeBufferPointer { bp in
            c.withUnsafeMutableBufferPointer { cp in
              AMXKernels.pack(wp.baseAddress!, n: n, k: k, into: packed.raw)
              AMXKernels.multiply(m: m, cols: n0..<n1, k: k, a: ap.baseAddress!, lda: k, packed: UnsafeRawPointer(packed.raw),
                                  c: cp.baseAddress!, ldc: n, accumulate: accumulate, bias: withBias ? bp.baseAddress! : nil,
                                  gelu: gelu, scratch: scratch.raw)
            }
          }
        }
      }
      var worst = 0.0
      for i in 0..<m {
        for j in 0..<n {
          guard (n0..<n1).contains(j) else {
            #expect(c[i * n + j] == c0[i * n + j], "column \(j) outside \(n0)..<\(n1) was written")
            continue
          }
          var exact = accumulate ? Double(c0[i * n + j]) : withBias ? Double(bias[j]) : 0, size = abs(exact)
          for t in 0..<k {
            exact += Double(a[i * k + t]) * Double(w[j * k + t])
            size += abs(Double(a[i * k + t]) * Double(w[j * k + t]))
          }
          // GELU's slope is at most ~1.13, so the same relative tolerance holds after it.
          if gelu { exact = 0.5 * exact * (1 + erf(exact / 2.0.squareRoot())) }
          let got = Double(c[i * n + j])
          worst = max(worst, abs(got - exact) / max(size, 1e-30))
        }
      }
      #expect(worst < 2e-5, "\(m)x\(n)x\(k) cols \(n0)..<\(n1) accumulate \(accumulate) bias \(withBias) gelu \(gelu): relative error \(worst)")
    }
  }

  /// The tiny PyTorch fixtures (logits and both poolings) stay within the parity bar on AMX, both ways of splitting work.
  @Test(.enabled(if: MatmulPrecision.amxAvailable, noAMX), arguments: EncoderGoldenTests.fixtures)
  func fixturesMatchTransformersOnAMX(name: String) throws {
    let dir = Fixtures.resources + "/" + name
    let golden = try Fixtures.golden(dir + "/golden.json")
    for (pooling, minRows) in [(Pooling.cls, 1), (.mean, 1000)] {
      let encoder = try BertEncoder.load(directory: dir, threads: 2, pooling: pooling)
      encoder.matmul = .amxBF16x3
      encoder.minRowsPerWorker = minRows
      #expect(encoder.effectiveMatmul == .amxBF16x3)
      let out = try encoder.forward(golden.sequences)
      let want = pooling == .cls ? golden.cls : golden.mean
      for i in 0..<golden.sequences.count {
        #expect(Fixtures.maxAbsDiff(out.embedding(i), want[i]) <= 1e-4)
        #expect(Fixtures.maxAbsDiff(try #require(out.logits(i)), try #require(golden.logits)[i]) <= 1e-4)
      }
    }
  }

  /// all-MiniLM-L6-v2 on AMX against the PyTorch golden outputs (`minilm_parity.json`).
  @Test(.enabled(if: MatmulPrecision.amxAvailable, noAMX))
  func miniLMParityOnAMX() throws {
    guard let dir = Fixtures.miniLM(skipping: "MiniLM parity on AMX") else { return }
    let enc = try BertEncoder.load(directory: dir, threads: 2)
    enc.matmul = .amxBF16x3
    let (worst, count) = try Fixtures.miniLMParity(enc)
    print("MiniLM parity on AMX bf16x3: max |Δ| = \(worst) over \(count) sequences")
    #expect(worst <= 1e-4)
  }

  /// MiniLM on real medical, legal and financial text from ../shared/corpora:
  /// AMX against OpenBLAS fp32 (itself within 1e-6 of PyTorch, `miniLMParity`),
  /// 96 texts up to 256 tokens, unnormalised mean and CLS pooling.
  @Test(.enabled(if: MatmulPrecision.amxAvailable, noAMX))
  func miniLMOnRealTextMatchesFP32() throws {
    guard let dir = Fixtures.miniLM(skipping: "AMX MiniLM check on real text") else { return }
    guard let shared = TestPaths.sharedCorpora else {
      print("note: skipping AMX MiniLM check on real text: ../shared/corpora is absent")
      return
    }
    let texts = try realTexts(shared, count: 96)
    let tok = try Tokenizer.load(path: dir + "/tokenizer.json")
    let seqs = texts.map { t in
      tok.encode(t, addSpecialTokens: true, truncation: Truncation(maxLength: 256), padding: nil).ids
    }
    let fp32 = try BertEncoder.load(directory: dir, threads: 2)
    let amx = try BertEncoder.load(directory: dir, threads: 2)
    fp32.matmul = .fp32
    amx.matmul = .amxBF16x3
    var worst: Float = 0
    for pooling in [Pooling.mean, .cls] {
      for e in [fp32, amx] {
        e.pooling = pooling
        e.normalizeEmbeddings = false
      }
      for start in stride(from: 0, to: seqs.count, by: 32) {
        let batch = Array(seqs[start..<min(seqs.count, start + 32)])
        let want = try fp32.forward(batch), got = try amx.forward(batch)
        worst = max(worst, Fixtures.maxAbsDiff(got.pooled, want.pooled))
      }
    }
    print("MiniLM AMX bf16x3 vs fp32 on \(seqs.count) real texts (\(seqs.map(\.count).min() ?? 0)-\(seqs.map(\.count).max() ?? 0) tokens): max |Δ| = \(worst)")
    #expect(worst <= 5e-5)
  }

  /// Lines of real text: banking77 queries, ToS clauses, medical abstracts.
  func realTexts(_ shared: String, count: Int) throws -> [String] {
    var out: [String] = []
    let bank = try String(contentsOfFile: shared + "/financial/banking77/test.csv", encoding: .utf8)
      .split(separator: "\n").dropFirst()
    out += bank.enumerated().filter { $0.offset % 97 == 0 }.prefix(count / 3).map { String($0.element.split(separator: ",").dropLast().joined(separator: ",")) }
    let tosDir = shared + "/legal/claudette_unfair_tos_en/sentences"
    for name in try FileManager.default.contentsOfDirectory(atPath: tosDir).sorted().prefix(4) {
      let lines = try String(contentsOfFile: tosDir + "/" + name, encoding: .utf8).split(separator: "\n")
      out += lines.filter { $0.split(separator: " ").count > 6 }.prefix(count / 12).map(String.init)
    }
    let medDir = shared + "/medical/medical_abstracts_tc"
    if let csv = try FileManager.default.contentsOfDirectory(atPath: medDir).sorted()
      .first(where: { $0.hasSuffix(".csv") && !$0.contains("label") }) {
      let rows = try String(contentsOfFile: medDir + "/" + csv, encoding: .utf8).split(separator: "\n").dropFirst()
      out += rows.prefix(count - out.count).map { String($0.drop(while: { $0 != "," }).dropFirst()) }
    }
    return Array(out.prefix(count))
  }
}
