import Foundation
import KDCore
import Testing

@testable import KDTrain

/// Finite-difference checks of the hand-written backward passes.
@Suite struct GradientCheckTests {
  /// A tiny batch: labeled+teacher, teacher-only, label-only rows; one empty sequence.
  static func tinyBatch(classes: Int) -> Batch {
    var b = Batch(numClasses: classes)
    let teacher1: [Float] = [1.2, -0.1, -0.8]
    let teacher2: [Float] = [-1, -1, 1.1]
    // Two teachers, weights 2 and 1, on the first row; a top-k teacher (one class dropped) on the last.
    b.append(TrainingExample(id: 1, source: 0, label: 2, tokens: [1, 4, 4, 7], teacherLogits: teacher1 + teacher2, teacherWeights: [2, 1]))
    b.append(TrainingExample(id: 2, source: 0, label: -1, tokens: [3, 9], teacherLogits: teacher2))
    b.append(TrainingExample(id: 3, source: 0, label: 0, tokens: [2, 5, 6, 8, 1]))
    b.append(TrainingExample(id: 4, source: 0, label: 1, tokens: [], teacherLogits: [0.4, -.infinity, 0.9]))
    return b
  }

  func check(kind: String, hidden: [Int], alpha: Float, temperature: Float, rows: Int = 4) throws {
    let config = StudentConfig(kind: kind, vocabSize: 10, buckets: 7, dimension: 4, hidden: hidden, numClasses: 3)
    let model = try makeStudent(config, seed: 11)
    // Larger init so that the logits are not all near zero.
    var rng = SplitMix64(seed: 5)
    for p in model.parameters { for i in p.value.indices { p.value[i] = rng.nextNormal() * 0.5 } }
    let batch = Self.tinyBatch(classes: 3)
    let loss = DistillationLoss(alpha: alpha, temperature: temperature)
    func lossValue() -> Double {
      let z = model.forward(batch, training: false)
      return Double(loss.evaluate(logits: z, batch: batch).loss)
    }
    model.zeroGrad()
    let z = model.forward(batch, training: true)
    let (_, dz, used) = loss.evaluate(logits: z, batch: batch)
    #expect(used == rows)
    model.backward(dz)
    var checked = 0
    for p in model.parameters {
      let analytic = p.fullGradient()
      for i in p.value.indices {
        let old = p.value[i]
        let h: Float = 1e-2
        p.value[i] = old + h
        let up = lossValue()
        p.value[i] = old - h
        let down = lossValue()
        p.value[i] = old
        let numeric = (up - down) / (2 * Double(h))
        let a = Double(analytic[i])
        #expect(abs(numeric - a) <= 2e-3 + 2e-2 * abs(a), "\(kind) \(p.name)[\(i)]: numeric \(numeric) analytic \(a)")
        checked += 1
      }
    }
    #expect(checked == model.parameterCount)
  }

  @Test func bowGradients() throws {
    try check(kind: "bow", hidden: [], alpha: 0.4, temperature: 2)
  }

  @Test func mlpGradients() throws {
    try check(kind: "mlp", hidden: [6, 5], alpha: 0.4, temperature: 3)
  }

  @Test func pureKDAndPureCEGradients() throws {
    // α = 0 ignores the label-only row; α = 1 (the baseline) ignores the teacher-only row.
    try check(kind: "bow", hidden: [], alpha: 0, temperature: 1, rows: 3)
    try check(kind: "mlp", hidden: [5], alpha: 1, temperature: 4, rows: 3)
  }

  /// The KD gradient is T·(softmax(z/T) − q); at the teacher's own logits it vanishes.
  @Test func kdLossIsZeroAtTheTeacher() {
    let t: Float = 2.5
    let teacherLogits: [Float] = [1.5, -0.3, 0.2]
    var b = Batch(numClasses: 3)
    b.append(TrainingExample(id: 1, source: 0, label: -1, tokens: [1], teacherLogits: teacherLogits))
    let r = DistillationLoss(alpha: 0.5, temperature: t).evaluate(logits: teacherLogits, batch: b)
    #expect(abs(r.loss) < 1e-5)
    #expect(r.gradient.allSatisfy { abs($0) < 1e-5 })
  }
}

import KDStore

/// The loss owns the temperature: the batch carries teacher logits, and `teacherTarget` turns them
/// into the weighted mean of the teachers' softmax(z / T).
@Suite struct TeacherTargetTests {
  @Test func targetsAreTheWeightedMeanOfTheTeachersSoftmaxAtTheLossTemperature() {
    var b = Batch(numClasses: 3)
    let z1: [Float] = [2, 0, -1], z2: [Float] = [0, 1, 0]
    b.append(TrainingExample(id: 1, source: 0, label: -1, tokens: [1], teacherLogits: z1 + z2, teacherWeights: [3, 1]))
    b.append(TrainingExample(id: 2, source: 0, label: 0, tokens: [1]))
    b.append(TrainingExample(id: 3, source: 0, label: -1, tokens: [1], teacherLogits: [1, -.infinity, 3]))
    func softmax(_ z: [Float], _ t: Float) -> [Float] {
      let e = z.map { Foundation.exp(Double($0 / t)) }
      let s = e.reduce(0, +)
      return e.map { Float($0 / s) }
    }
    for t: Float in [1, 2, 4] {
      var q = [Float]()
      #expect(b.teacherTarget(0, temperature: t, into: &q))
      let want = zip(softmax(z1, t), softmax(z2, t)).map { (3 * $0 + $1) / 4 }
      for j in 0..<3 { #expect(abs(q[j] - want[j]) < 1e-6, "T \(t) class \(j)") }
      #expect(!b.teacherTarget(1, temperature: t, into: &q))
      #expect(q == [0, 0, 0])
      #expect(b.teacherTarget(2, temperature: t, into: &q))
      let kept = softmax([1, 3], t)
      #expect(q[1] == 0 && abs(q[0] - kept[0]) < 1e-6 && abs(q[2] - kept[1]) < 1e-6)
    }
    #expect(b.hasTeacher == [true, false, true])
    #expect(b.teacherTargets(temperature: 2).count == 9)
  }
}
