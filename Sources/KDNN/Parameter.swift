import Foundation

/// A trainable tensor with its gradient.
///
/// Embedding tables are *sparse*: a batch touches few rows, so their gradient
/// is only kept for the rows in `touchedRows` and the optimizer updates those
/// rows alone (lazy Adam, as PyTorch's `SparseAdam`).
public final class Parameter {
  public let name: String
  public let shape: [Int]
  /// The values. Every write (in place too: a `didSet` that does not read `oldValue` keeps
  /// in-place mutation, SE-0268) bumps `version`, so that copies of the weights (an inference
  /// snapshot) know when they are stale.
  public var value: [Float] { didSet { version &+= 1 } }
  /// Counts writes to `value`.
  public private(set) var version: UInt64 = 0
  public var grad: [Float]
  public let isSparse: Bool
  /// Whether AdamW's decoupled weight decay applies (weights yes, biases no).
  public let decays: Bool
  /// Rows with a nonzero gradient in the current step (sparse parameters only).
  public private(set) var touchedRows: [Int32] = []
  private var rowStamp: [UInt32]
  private var stamp: UInt32 = 1

  public init(name: String, shape: [Int], value: [Float], sparse: Bool = false, decays: Bool = true) {
    precondition(shape.reduce(1, *) == value.count, "parameter \(name): shape \(shape) does not match \(value.count) values")
    self.name = name
    self.shape = shape
    self.value = value
    self.grad = [Float](repeating: 0, count: value.count)
    self.isSparse = sparse
    self.decays = decays
    self.rowStamp = sparse ? [UInt32](repeating: 0, count: shape[0]) : []
  }

  public var count: Int { value.count }
  /// Values per row (the last dimension).
  public var rowSize: Int { shape.count > 1 ? shape[1...].reduce(1, *) : 1 }

  /// Records that `row` gets a gradient this step (sparse parameters).
  @inline(__always)
  public func touch(_ row: Int32) {
    if rowStamp[Int(row)] != stamp {
      rowStamp[Int(row)] = stamp
      touchedRows.append(row)
    }
  }

  /// Clears the gradient (only the touched rows of a sparse parameter).
  public func zeroGrad() {
    if isSparse {
      let d = rowSize
      let rows = touchedRows
      grad.withUnsafeMutableBufferPointer { g in
        for r in rows { (g.baseAddress! + Int(r) * d).update(repeating: 0, count: d) }
      }
      touchedRows.removeAll(keepingCapacity: true)
      stamp &+= 1
      if stamp == 0 {
        for i in rowStamp.indices { rowStamp[i] = 0 }
        stamp = 1
      }
    } else {
      for i in grad.indices { grad[i] = 0 }
    }
  }

  /// Squared L2 norm of the gradient.
  public func gradSquaredNorm() -> Double {
    var s: Double = 0
    grad.withUnsafeBufferPointer { g in
      if isSparse {
        let d = rowSize
        for r in touchedRows { s += Double(squaredNorm(g.baseAddress! + Int(r) * d, d)) }
      } else {
        s = Double(squaredNorm(g.baseAddress!, g.count))
      }
    }
    return s
  }

  /// Multiplies the gradient by `factor` (gradient clipping).
  public func scaleGrad(_ factor: Float) {
    if isSparse {
      let d = rowSize
      let rows = touchedRows
      grad.withUnsafeMutableBufferPointer { g in
        for r in rows { scaleRow(g.baseAddress! + Int(r) * d, factor, d) }
      }
    } else {
      grad.withUnsafeMutableBufferPointer { g in scaleRow(g.baseAddress!, factor, g.count) }
    }
  }
}

