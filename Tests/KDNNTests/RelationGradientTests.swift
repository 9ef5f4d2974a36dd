import Foundation
import KDNN
import XCTest

/// Finite-difference checks of the MiniLMv2 relation loss (`RelationDistillation`, used by
/// `kd-train encoder` for value relations and, when head counts differ, query/key relations), alone
/// and through the attention layer's projection-gradient hooks. Same method as GradientTests:
/// fp32 forward, loss in Double, central differences.
final class RelationGradientTests: XCTestCase {
  override func setUp() { NNThreads.set(1) }

  func probe(_ n: Int, seed: UInt64, std: Float = 1) -> [Float] {
    var r = NNRandom(seed: seed)
    return (0..<n).map { _ in r.normal(std: std) }
  }

  func checkInput(_ x: inout [Float], _ dx: [Float], entries: [Int], h: Float, tol: Double = 2e-2,
                  loss: ([Float]) -> Double, file: StaticString = #filePath, line: UInt = #line) {
    for i in entries {
      let v = x[i]
      x[i] = v + h
      let up = loss(x)
      x[i] = v - h
      let down = loss(x)
      x[i] = v
      let numeric = (up - down) / Double(2 * h)
      let err = abs(numeric - Double(dx[i])) / max(1e-3, abs(numeric) + abs(Double(dx[i])))
      XCTAssertLessThan(err, tol, "x[\(i)]: numeric \(numeric) vs analytic \(dx[i])", file: file, line: line)
    }
  }

  /// Student 12 wide, teacher 6 wide, 3 relation heads (4 and 2 columns each), unequal lengths.
  func testValueRelationLossGradientWithDifferentWidths() {
    let layout = SequenceLayout(lengths: [4, 2, 3])
    var x = probe(9 * 12, seed: 1, std: 2)
    let t = probe(9 * 6, seed: 2, std: 2)
    let (loss, grad) = RelationDistillation.kl(student: x, studentWidth: 12, teacher: t, teacherWidth: 6, layout: layout, heads: 3, weight: 0.7)
    XCTAssertGreaterThan(loss, 0)
    let f = { (x: [Float]) in
      RelationDistillation.kl(student: x, studentWidth: 12, teacher: t, teacherWidth: 6, layout: layout, heads: 3, weight: 0.7).loss
    }
    checkInput(&x, grad, entries: Array(0..<x.count), h: 3e-3, loss: f)
    // Threads change nothing.
    NNThreads.set(3)
    let (l3, g3) = RelationDistillation.kl(student: x, studentWidth: 12, teacher: t, teacherWidth: 6, layout: layout, heads: 3, weight: 0.7)
    XCTAssertEqual(l3, loss, accuracy: 1e-9)
    XCTAssertEqual(g3, grad)
  }

  func testIdenticalVectorsHaveZeroLossAndGradient() {
    let layout = SequenceLayout(lengths: [5, 1])
    let x = probe(6 * 8, seed: 3)
    let (loss, grad) = RelationDistillation.kl(student: x, studentWidth: 8, teacher: x, teacherWidth: 8, layout: layout, heads: 2, weight: 1)
    XCTAssertEqual(loss, 0, accuracy: 1e-6)
    XCTAssertLessThan(grad.map { abs($0) }.max() ?? 0, 1e-6)
  }

  /// The value, query and key hooks of `SelfAttention`: relation losses on V, Q and K against fixed
  /// teacher vectors, back to the layer's input.
  func testRelationGradientsThroughAttentionHooks() {
    var rng = NNRandom(seed: 4)
    let att = SelfAttention(prefix: "a", hidden: 8, heads: 2, rng: &rng)
    for p in att.parameters { for i in p.value.indices { p.value[i] *= 10 } }
    let layout = SequenceLayout(lengths: [4, 3])
    var x = probe(7 * 8, seed: 5)
    let tv = probe(7 * 4, seed: 6, std: 2), tq = probe(7 * 4, seed: 7, std: 2)
    func loss(_ x: [Float]) -> Double {
      _ = att.forward(x, layout: layout, training: true)
      return RelationDistillation.kl(student: att.values, studentWidth: 8, teacher: tv, teacherWidth: 4, layout: layout, heads: 2, weight: 1).loss
        + RelationDistillation.kl(student: att.q, studentWidth: 8, teacher: tq, teacherWidth: 4, layout: layout, heads: 2, weight: 0.5).loss
        + RelationDistillation.kl(student: att.k, studentWidth: 8, teacher: tq, teacherWidth: 4, layout: layout, heads: 4, weight: 0.5).loss
    }
    _ = att.forward(x, layout: layout, training: true)
    att.extraValueGradient = RelationDistillation.kl(student: att.values, studentWidth: 8, teacher: tv, teacherWidth: 4, layout: layout,
                                                     heads: 2, weight: 1).gradient
    att.extraQueryGradient = RelationDistillation.kl(student: att.q, studentWidth: 8, teacher: tq, teacherWidth: 4, layout: layout,
                                                     heads: 2, weight: 0.5).gradient
    att.extraKeyGradient = RelationDistillation.kl(student: att.k, studentWidth: 8, teacher: tq, teacherWidth: 4, layout: layout,
                                                   heads: 4, weight: 0.5).gradient
    let dx = att.backward([Float](repeating: 0, count: 7 * 8))
    XCTAssertNil(att.extraValueGradient)
    XCTAssertNil(att.extraQueryGradient)
    XCTAssertNil(att.extraKeyGradient)
    checkInput(&x, dx, entries: Array(0..<x.count), h: 3e-3, loss: loss)
  }
}
