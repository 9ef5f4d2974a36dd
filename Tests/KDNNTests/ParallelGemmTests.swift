import Foundation
import KDNN
import KDTensor
import XCTest

/// `nnSgemm` (C's rows split over the workers, OpenBLAS on one thread each) equals one OpenBLAS
/// call, for every transpose combination, β 0 and 1, and row counts that do not split evenly.
final class ParallelGemmTests: XCTestCase {
  override func tearDown() { NNThreads.set(1) }

  func testRowSplitProductEqualsOneCall() {
    var rng = NNRandom(seed: 3)
    for workers in [2, 3] {
      NNThreads.set(workers)
      for (m, n, k) in [(97, 31, 40), (70, 64, 129), (5, 8, 9)] {
        for transA in [false, true] {
          for transB in [false, true] {
            for beta: Float in [0, 1] {
              let a = (0..<(m * k)).map { _ in rng.normal(std: 1) }
              let b = (0..<(k * n)).map { _ in rng.normal(std: 1) }
              let c0 = (0..<(m * n)).map { _ in rng.normal(std: 1) }
              let lda = transA ? m : k, ldb = transB ? k : n
              var want = c0, got = c0
              a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                  want.withUnsafeMutableBufferPointer { cp in
                    BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, lda: lda,
                               b: bp.baseAddress!, ldb: ldb, beta: beta, c: cp.baseAddress!, ldc: n)
                  }
                  got.withUnsafeMutableBufferPointer { cp in
                    nnSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, lda: lda,
                            b: bp.baseAddress!, ldb: ldb, beta: beta, c: cp.baseAddress!, ldc: n, minRows: 2)
                  }
                }
              }
              let err = zip(want, got).map { abs($0 - $1) }.max() ?? 0
              XCTAssertLessThan(err, 1e-4, "workers \(workers) m \(m) n \(n) k \(k) transA \(transA) transB \(transB) beta \(beta)")
            }
          }
        }
      }
    }
  }
}
