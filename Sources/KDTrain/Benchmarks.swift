import Foundation
import KDCore
import KDNN

/// CPU seconds (user + system) used by this process so far: lets a benchmark
/// on a shared, oversubscribed machine report work per CPU-second beside wall time.
public func processCPUSeconds() -> Double {
  var u = rusage()
  #if os(Linux)
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
  #else
    getrusage(RUSAGE_SELF, &u)
  #endif
  return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec)
    + Double(u.ru_stime.tv_usec) / 1e6
}

/// Examples per second of the training loader alone (shuffling, bucketing,
/// decoding tokens and teacher outputs, background prefetch), over `passes` epochs.
public func benchLoader(plan: TrainingPlan, options: TrainingOptions, passes: Int) throws -> [String: Any] {
  let trainer = try Trainer(plan: plan, options: options, name: "bench",
                            layout: CheckpointLayout(root: NSTemporaryDirectory()))
  let loader = try StreamingLoader(sources: plan.sources(split: .train, domains: options.domains),
                                   options: trainer.loaderOptions(train: true))
  var examples = 0
  var tokens = 0
  var seconds: [Double] = []
  let cpu0 = processCPUSeconds()
  for epoch in 0..<max(1, passes) {
    let start = Date()
    let stream = loader.batches(from: LoaderPosition(epoch: epoch, offset: 0, seed: options.seed))
    var n = 0
    while let b = try stream.next() {
      n += b.count
      tokens += b.tokens.count
    }
    seconds.append(Date().timeIntervalSince(start))
    examples = n
  }
  let median = seconds.sorted()[seconds.count / 2]
  let cpu = processCPUSeconds() - cpu0
  return ["examples": examples, "seconds_median": median, "examples_per_s": Double(examples) / median,
          "examples_per_cpu_s": Double(examples * seconds.count) / cpu,
          "passes": seconds.count, "tokens_per_pass": tokens / max(1, seconds.count)]
}

/// Training examples per second of the student alone: batches are loaded into
/// memory first, then `maxSteps` steps (forward, loss, backward, clip, AdamW) are timed.
public func benchTraining(plan: TrainingPlan, options: TrainingOptions, threads: Int = 1) throws -> [String: Any] {
  useSingleBLASThread()
  useWorkerThreads(threads)
  let trainer = try Trainer(plan: plan, options: options, name: "bench",
                            layout: CheckpointLayout(root: NSTemporaryDirectory()))
  let loader = try StreamingLoader(sources: plan.sources(split: .train, domains: options.domains),
                                   options: trainer.loaderOptions(train: true))
  let batches = try loader.allBatches(epoch: 0)
  guard !batches.isEmpty else { throw KDError(.input, "no training examples for task '\(plan.task)'") }
  let model = try makeStudent(trainer.studentConfig, seed: options.seed)
  let optimizer = AdamW(parameters: model.parameters, learningRate: options.learningRate, weightDecay: options.weightDecay)
  let loss = DistillationLoss(alpha: options.alpha, temperature: options.temperature)
  let steps = options.maxSteps > 0 ? options.maxSteps : batches.count
  // One warm-up pass over a few batches.
  for b in batches.prefix(5) {
    model.zeroGrad()
    let r = loss.evaluate(logits: model.forward(b, training: true), batch: b)
    model.backward(r.gradient)
    optimizer.update()
  }
  var examples = 0
  var lastLoss: Float = 0
  let start = Date()
  let cpu0 = processCPUSeconds()
  for s in 0..<steps {
    let b = batches[s % batches.count]
    model.zeroGrad()
    let r = loss.evaluate(logits: model.forward(b, training: true), batch: b)
    model.backward(r.gradient)
    clipGradients(model.parameters, maxNorm: options.clip)
    optimizer.update()
    examples += b.count
    lastLoss = r.loss
  }
  let seconds = Date().timeIntervalSince(start)
  let cpu = processCPUSeconds() - cpu0
  return ["examples": examples, "steps": steps, "seconds": seconds, "examples_per_s": Double(examples) / seconds,
          "examples_per_cpu_s": Double(examples) / cpu, "cpu_seconds": cpu,
          "final_loss": Double(lastLoss), "parameters": model.parameterCount, "student": options.student,
          "threads": NNThreads.threads]
}
