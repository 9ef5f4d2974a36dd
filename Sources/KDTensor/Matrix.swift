/// A dense row-major fp32 matrix: the small value type students and heads use.
public struct Matrix: Equatable, Sendable {
  public var rows: Int
  public var cols: Int
  /// Row-major values, `rows * cols` of them.
  public var values: [Float]

  /// A zero matrix.
  public init(rows: Int, cols: Int) {
    self.rows = rows
    self.cols = cols
    values = [Float](repeating: 0, count: rows * cols)
  }

  /// Wraps existing values.
  /// - precondition: `values.count == rows * cols`.
  public init(rows: Int, cols: Int, values: [Float]) {
    precondition(values.count == rows * cols, "Matrix: \(values.count) values for \(rows)×\(cols)")
    self.rows = rows
    self.cols = cols
    self.values = values
  }

  /// Element access.
  @inlinable public subscript(r: Int, c: Int) -> Float {
    get { values[r * cols + c] }
    set { values[r * cols + c] = newValue }
  }

  /// One row as an array.
  public func row(_ r: Int) -> [Float] { Array(values[r * cols..<(r + 1) * cols]) }

  /// `self · other` (or with either side transposed), via `sgemm`.
  public func multiplied(by other: Matrix, transposeSelf: Bool = false, transposeOther: Bool = false) -> Matrix {
    let m = transposeSelf ? cols : rows
    let k = transposeSelf ? rows : cols
    let k2 = transposeOther ? other.cols : other.rows
    let n = transposeOther ? other.rows : other.cols
    precondition(k == k2, "Matrix: inner dimensions \(k) and \(k2) differ")
    var out = Matrix(rows: m, cols: n)
    values.withUnsafeBufferPointer { a in
      other.values.withUnsafeBufferPointer { b in
        out.values.withUnsafeMutableBufferPointer { c in
          guard let ap = a.baseAddress, let bp = b.baseAddress, let cp = c.baseAddress else { return }
          BLAS.sgemm(transA: transposeSelf, transB: transposeOther, m: m, n: n, k: k,
                     a: ap, lda: cols, b: bp, ldb: other.cols, c: cp, ldc: n)
        }
      }
    }
    return out
  }

  /// Adds `bias` to every row.
  public mutating func addRowVector(_ bias: [Float]) {
    precondition(bias.count == cols)
    for r in 0..<rows {
      for c in 0..<cols { values[r * cols + c] += bias[c] }
    }
  }

  /// Largest absolute element-wise difference to `other` (same shape).
  public func maxAbsDifference(_ other: Matrix) -> Float {
    precondition(rows == other.rows && cols == other.cols)
    var m: Float = 0
    for i in values.indices { m = Swift.max(m, abs(values[i] - other.values[i])) }
    return m
  }
}
