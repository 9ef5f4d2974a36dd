import Foundation

/// A trainable tensor with its gradient.
///
/// Embedding tables are *sparse*: a batch touches few rows, so their gradient
/// is only kept for the rows in `touchedRows` and the optimizer updates those
/// rows alone (lazy Adam, as PyTorch's `SparseAdam`).
///
/// A sparse parameter keeps that gradient compact, in `rowGrad` (row `i` is the gradient
/// of row `touchedRows[i]`), not in a table-sized array: the rows a step touches are
/// scattered over a table of tens of megabytes, while their compact gradient stays in
/// cache for the backward pass, the norm, clipping and AdamW (BENCHMARKS.md, bow training).
public final class Parameter {
  public let name: String
  public let shape: [Int]
  /// The values. Every write (in place too: a `didSet` that does not read `oldValue` keeps
  /// in-place mutation, SE-0268) bumps `version`, so that copies of the weights (an inference
  /// snapshot) know when they are stale.
  public var value: [Float] { didSet { version &+= 1 } }
  /// Counts writes to `value`.
  public private(set) var version: UInt64 = 0
  /// The gradient of a dense parameter, laid out as `value`. Empty for a sparse parameter:
  /// its gradient is `rowGrad` (`fullGradient()` spreads it out).
  public var grad: [Float]
  /// Sparse parameters: the gradient of the touched rows, `touchedRows.count × rowSize`,
  /// row `i` belonging to table row `touchedRows[i]`.
  public var rowGrad: [Float] = []
  public let isSparse: Bool
  /// Whether AdamW's decoupled weight decay applies (weights yes, biases no).
  public let decays: Bool
  /// Rows with a nonzero gradient in the current step (sparse parameters only).
  public private(set) var touchedRows: [Int32] = []
  /// Per table row: the stamp of the step that last touched it (high 32 bits) and its index in
  /// `touchedRows` in that step (low 32 bits). One word, so one cache miss per row.
  private var rowMark: [UInt64]
  private var stamp: UInt32 = 1

  public init(name: String, shape: [Int], value: [Float], sparse: Bool = false, decays: Bool = true) {
    precondition(shape.reduce(1, *) == value.count, "parameter \(name): shape \(shape) does not match \(value.count) values")
    self.name = name
    self.shape = shape
    self.value = value
    self.grad = sparse ? [] : [Float](repeating: 0, count: value.count)
    self.isSparse = sparse
    self.decays = decays
    self.rowMark = sparse ? [UInt64](repeating: 0, count: shape[0]) : []
  }

  public var count: Int { value.count }
  /// Values per row (the last dimension).
  public var rowSize: Int { shape.count > 1 ? shape[1...].reduce(1, *) : 1 }

  /// Records that `rows` get a gradient this step (sparse parameters) and returns each one's slot:
  /// its index in `touchedRows`, which is its row of `rowGrad`. Rows new to this step get zeroed
  /// gradient rows; rows touched before keep their sums. One pass over the table's marks.
  public func touch(_ rows: [Int32]) -> [Int32] {
    var slots = [Int32](repeating: 0, count: rows.count)
    let current = UInt64(stamp) << 32
    rows.withUnsafeBufferPointer { rp in
      slots.withUnsafeMutableBufferPointer { sp in
        rowMark.withUnsafeMutableBufferPointer { marks in
          for (i, row) in rp.enumerated() {
            let r = Int(row)
            let mark = marks[r]
            if mark & 0xffff_ffff_0000_0000 == current {
              sp[i] = Int32(truncatingIfNeeded: mark)
            } else {
              let slot = Int32(touchedRows.count)
              marks[r] = current | UInt64(UInt32(slot))
              touchedRows.append(row)
              sp[i] = slot
            }
          }
        }
      }
    }
    let need = touchedRows.count * rowSize
    if rowGrad.count < need { rowGrad.append(contentsOf: repeatElement(0, count: need - rowGrad.count)) }
    return slots
  }

  /// The gradient laid out as `value` (a sparse parameter's compact rows spread out; tests, checks).
  public func fullGradient() -> [Float] {
    guard isSparse else { return grad }
    var g = [Float](repeating: 0, count: count)
    let d = rowSize
    for (i, r) in touchedRows.enumerated() where (i + 1) * d <= rowGrad.count {
      for j in 0..<d { g[Int(r) * d + j] = rowGrad[i * d + j] }
    }
    return g
  }

  /// Clears the gradient (only the touched rows of a sparse parameter).
  public func zeroGrad() {
    if isSparse {
      touchedRows.removeAll(keepingCapacity: true)
      rowGrad.removeAll(keepingCapacity: true)
      stamp &+= 1
      if stamp == 0 {
        for i in rowMark.indices { rowMark[i] = 0 }
        stamp = 1
      }
    } else {
      for i in grad.indices { grad[i] = 0 }
    }
  }

  /// Squared L2 norm of the gradient.
  public func gradSquaredNorm() -> Double {
    guard isSparse else {
      return grad.withUnsafeBufferPointer { p in p.baseAddress.map { Double(squaredNorm($0, p.count)) } ?? 0 }
    }
    // Row by row in Double, as the sum over a table's touched rows always was.
    let d = rowSize
    return rowGrad.withUnsafeBufferPointer { p in
      guard let base = p.baseAddress, d > 0 else { return 0 }
      var s: Double = 0
      for i in 0..<(p.count / d) { s += Double(squaredNorm(base + i * d, d)) }
      return s
    }
  }

  /// Multiplies the gradient by `factor` (gradient clipping).
  public func scaleGrad(_ factor: Float) {
    if isSparse {
      rowGrad.withUnsafeMutableBufferPointer { g in if let b = g.baseAddress { scaleRow(b, factor, g.count) } }
    } else {
      grad.withUnsafeMutableBufferPointer { g in if let b = g.baseAddress { scaleRow(b, factor, g.count) } }
    }
  }
}
