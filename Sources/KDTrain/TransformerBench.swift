import Foundation
import KDCore
import KDModels
import KDNN
import KDTensor

/// One training step and inference of a transformer student on synthetic token ids, for
/// tools/bench/train/transformer.sh (compared there with PyTorch on the same architecture).
///
/// Times `steps` steps (forward, distillation loss gradient, backward, clipping, AdamW) of a
/// `batch × seq` batch after one warm-up step, and `forward(training: false)` of the same batch;
/// with `teacherDirectory`, also the inference encoder (BertEncoder, fp32) on the same batch.
/// Returns per-step seconds (all of them, and the median) and examples per second.
public func benchTransformerStep(config: TrainableBertConfig, batch: Int, seq: Int, steps: Int, threads: Int,
                                 teacherDirectory: String?, seed: UInt64 = 1) throws -> [String: Any] {
  NNThreads.set(threads)
  let bert = try TrainableBert(config: config, seed: seed)
  var rng = NNRandom(seed: seed &+ 7)
  let ids: [[Int32]] = (0..<batch).map { _ in
    [101] + (0..<(seq - 2)).map { _ in Int32(1000 + Int(rng.next() % UInt64(max(1, config.vocabSize - 1000)))) } + [102]
  }
  let labels = (0..<batch).map { _ in Int32(rng.next() % UInt64(config.numClasses)) }
  let opt = AdamW(parameters: bert.parameters, learningRate: 1e-4, weightDecay: 0.01)
  func step() {
    for p in bert.parameters { p.zeroGrad() }
    let z = bert.forward(ids, training: true)
    // CE gradient: softmax − one-hot, averaged.
    var g = z
    softmaxInPlace(&g, rows: batch, cols: config.numClasses)
    for i in 0..<batch { g[i * config.numClasses + Int(labels[i])] -= 1 }
    for i in g.indices { g[i] /= Float(batch) }
    bert.backward(g)
    clipGradients(bert.parameters, maxNorm: 1)
    opt.update()
  }
  step()
  var times: [Double] = []
  for _ in 0..<steps {
    let t0 = Date()
    step()
    times.append(Date().timeIntervalSince(t0))
  }
  var inf: [Double] = []
  for _ in 0..<max(3, steps) {
    let t0 = Date()
    _ = bert.forward(ids, training: false)
    inf.append(Date().timeIntervalSince(t0))
  }
  func median(_ a: [Double]) -> Double { let s = a.sorted(); return s.isEmpty ? .nan : s[s.count / 2] }
  var out: [String: Any] = [
    "layers": config.layers, "hidden": config.hiddenSize, "heads": config.heads, "intermediate": config.intermediateSize,
    "batch": batch, "seq": seq, "threads": threads, "parameters": bert.parameters.reduce(0) { $0 + $1.count },
    "step_seconds": times, "step_median_s": median(times),
    "inference_median_s": median(inf), "inference_examples_per_s": Double(batch) / median(inf),
    "blas_core": BLAS.coreName,
  ]
  if let dir = teacherDirectory {
    let enc = try BertEncoder.load(directory: dir, threads: threads, pooling: .mean)
    enc.matmul = .fp32
    _ = try enc.forward(ids)
    var ti: [Double] = []
    for _ in 0..<max(3, steps) {
      let t0 = Date()
      _ = try enc.forward(ids)
      ti.append(Date().timeIntervalSince(t0))
    }
    out["teacher_layers"] = enc.config.numHiddenLayers
    out["teacher_inference_median_s"] = median(ti)
    out["teacher_inference_examples_per_s"] = Double(batch) / median(ti)
  }
  return out
}
