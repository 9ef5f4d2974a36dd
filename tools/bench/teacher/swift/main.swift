// kd-bench-teacher: sequences/s of the Swift BERT encoder (KDModels) on fixed token ids.
//
// Usage: kd-bench-teacher --model DIR [--threads 2] [--batch 32] [--seq 128] [--iterations 20] [--warmup 3]
//                          [--matmul auto|fp32|amx-bf16x3]
// Prints one JSON line: shape, median/min seconds per batch, sequences/s, GFLOP/s.
// Token ids follow the same formula as tools/bench/teacher/bench_reference.py.
import Foundation
import KDCore
import KDModels
import KDTensor

func argument(_ name: String, _ fallback: String?) -> String? {
  let args = CommandLine.arguments
  if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
  return fallback
}

func benchmarkIds(batch: Int, seq: Int, vocab: Int) -> [[Int32]] {
  (0..<batch).map { b in
    [101] + (1..<(seq - 1)).map { j in Int32(1000 + (b * 7919 + j * 104_729) % min(20_000, vocab - 1000)) } + [102]
  }
}

@main
struct BenchTeacher {
  static func main() {
    BLAS.reexecWithFasterKernelsIfNeeded()
    do {
      if CommandLine.arguments.contains("--sgemm-peak") {
        sgemmPeak(threads: Int(argument("--threads", "2") ?? "2") ?? 2)
        return
      }
      guard let model = argument("--model", nil) else {
        throw KDError(.usage, "usage: kd-bench-teacher --model DIR [--threads N] [--batch B] [--seq L] [--iterations N] [--warmup N]")
      }
      let threads = Int(argument("--threads", "2") ?? "2") ?? 2
      let batch = Int(argument("--batch", "32") ?? "32") ?? 32
      let seq = Int(argument("--seq", "128") ?? "128") ?? 128
      let iterations = Int(argument("--iterations", "20") ?? "20") ?? 20
      let warmup = Int(argument("--warmup", "3") ?? "3") ?? 3
      let l0 = DispatchTime.now().uptimeNanoseconds
      let enc = try BertEncoder.load(directory: model, threads: threads)
      let matmulName = argument("--matmul", "auto") ?? "auto"
      if matmulName != "auto" {
        guard let m = MatmulPrecision(rawValue: matmulName), m.isAvailable else {
          throw KDError(.usage, "--matmul \(matmulName): expected auto, fp32 or amx-bf16x3 (AMX needs a CPU with AMX-BF16)")
        }
        enc.matmul = m
      }
      let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - l0) / 1e9
      let ids = benchmarkIds(batch: batch, seq: seq, vocab: enc.config.vocabSize)
      for _ in 0..<warmup { _ = try enc.forward(ids) }
      var times: [Double] = []
      for _ in 0..<iterations {
        let t0 = DispatchTime.now().uptimeNanoseconds
        _ = try enc.forward(ids)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
      }
      times.sort()
      let median = times[times.count / 2]
      let c = enc.config
      let H = Double(c.hiddenSize), I = Double(c.intermediateSize), T = Double(batch * seq)
      let flops = Double(c.numHiddenLayers) * (T * 2 * H * (4 * H + 2 * I) + Double(batch) * 4 * Double(seq * seq) * H)
      print("{\"impl\":\"kd-swift\",\"matmul\":\"\(enc.effectiveMatmul.rawValue)\",\"blas_core\":\"\(BLAS.coreName)\",\"batch\":\(batch),\"seq\":\(seq),\"threads\":\(threads),\"median_s\":\(median),\"min_s\":\(times[0]),\"seq_per_s\":\(Double(batch) / median),\"gflops\":\(flops / median / 1e9),\"load_s\":\(loadSeconds)}")
    } catch {
      FileHandle.standardError.write(Data("kd-bench-teacher: \(error)\n".utf8))
      exit(1)
    }
  }
}

/// GFLOP/s of one BERT-shaped product [4096×384]·[384×1536]ᵀ with OpenBLAS on `threads` threads: the practical sgemm peak.
func sgemmPeak(threads: Int) {
  let m = 4096, k = 384, n = 1536
  let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: n * k)
  var c = [Float](repeating: 0, count: m * n)
  BLAS.setThreads(threads)
  var times: [Double] = []
  for i in 0..<12 {
    let t0 = DispatchTime.now().uptimeNanoseconds
    a.withUnsafeBufferPointer { ap in
      b.withUnsafeBufferPointer { bp in
        c.withUnsafeMutableBufferPointer { cp in
          BLAS.sgemm(transB: true, m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: k,
                     c: cp.baseAddress!, ldc: n)
        }
      }
    }
    if i >= 2 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9) }
  }
  times.sort()
  let gflops = 2 * Double(m * n * k) / times[times.count / 2] / 1e9
  print("{\"impl\":\"sgemm-peak\",\"blas_core\":\"\(BLAS.coreName)\",\"threads\":\(threads),\"gflops\":\(gflops)}")
}
