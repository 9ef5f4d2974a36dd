import KDCore

/// How a teacher's logits are stored in `teacher_outputs.logits`.
///
/// - `f32`: `n` little-endian IEEE float32 values (`4n` bytes).
/// - `f16`: `n` little-endian IEEE float16 values (`2n` bytes).
/// - `topk`: the `k` largest logits, in descending order, as `k` float16
///   values, then their class indices bit-packed LSB-first with
///   `bits = max(1, ceil(log2(numOutputs)))` bits each
///   (`2k + ceil(k·bits/8)` bytes). Classes outside the top k are unknown;
///   the trainer renormalises the teacher's softmax over the kept classes.
public enum TeacherStorage: Equatable, Sendable {
  case f32
  case f16
  case topK(Int)

  /// The value of `teachers.storage`.
  public var name: String {
    switch self {
    case .f32: return "f32"
    case .f16: return "f16"
    case .topK: return "topk"
    }
  }

  public init(name: String, topK: Int?) throws {
    switch name {
    case "f32": self = .f32
    case "f16": self = .f16
    case "topk":
      guard let k = topK, k > 0 else { throw KDError(.input, "top-k storage needs k > 0", field: "top_k") }
      self = .topK(k)
    default: throw KDError(.input, "unknown teacher storage '\(name)' (expected f32, f16 or topk)", field: "storage")
    }
  }
}

/// Teacher outputs decoded from a blob: dense logits, or the kept top-k classes.
public struct TeacherLogits: Equatable, Sendable {
  /// Class indices (all classes in order for dense storage).
  public var indices: [Int32]
  public var values: [Float]
  public var isDense: Bool
}

/// Encodes and decodes `teacher_outputs.logits` blobs.
public enum TeacherOutputCodec {
  public static func bitsPerIndex(_ numOutputs: Int) -> Int {
    var bits = 1
    while (1 << bits) < numOutputs { bits += 1 }
    return bits
  }

  /// Encodes `logits` (length = number of outputs).
  public static func encode(_ logits: [Float], storage: TeacherStorage) -> [UInt8] {
    switch storage {
    case .f32:
      var out = [UInt8](repeating: 0, count: logits.count * 4)
      out.withUnsafeMutableBytes { p in
        for (i, v) in logits.enumerated() { p.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
      }
      return out
    case .f16:
      var out = [UInt8](repeating: 0, count: logits.count * 2)
      out.withUnsafeMutableBytes { p in
        for (i, v) in logits.enumerated() {
          p.storeBytes(of: Float16(v).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
        }
      }
      return out
    case .topK(let kRequested):
      let k = min(kRequested, logits.count)
      let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
      let top = Array(order.prefix(k))
      let bits = bitsPerIndex(logits.count)
      var out = [UInt8](repeating: 0, count: 2 * k + (k * bits + 7) / 8)
      out.withUnsafeMutableBytes { p in
        for (j, c) in top.enumerated() {
          p.storeBytes(of: Float16(logits[c]).bitPattern.littleEndian, toByteOffset: 2 * j, as: UInt16.self)
        }
      }
      var bitPos = 0
      for c in top {
        for b in 0..<bits where (c >> b) & 1 == 1 {
          let pos = bitPos + b
          out[2 * k + pos / 8] |= UInt8(1 << (pos % 8))
        }
        bitPos += bits
      }
      return out
    }
  }

  /// Decodes a blob.
  /// - Throws: `KDError(.input)` when the blob's size does not match the storage.
  public static func decode(_ blob: UnsafeRawBufferPointer, storage: TeacherStorage, numOutputs: Int) throws -> TeacherLogits {
    switch storage {
    case .f32:
      guard blob.count == numOutputs * 4 else { throw sizeError(blob.count, numOutputs * 4) }
      var v = [Float](repeating: 0, count: numOutputs)
      for i in 0..<numOutputs { v[i] = Float(bitPattern: UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
      return TeacherLogits(indices: (0..<Int32(numOutputs)).map { $0 }, values: v, isDense: true)
    case .f16:
      guard blob.count == numOutputs * 2 else { throw sizeError(blob.count, numOutputs * 2) }
      var v = [Float](repeating: 0, count: numOutputs)
      for i in 0..<numOutputs {
        v[i] = Float(Float16(bitPattern: UInt16(littleEndian: blob.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
      }
      return TeacherLogits(indices: (0..<Int32(numOutputs)).map { $0 }, values: v, isDense: true)
    case .topK(let kRequested):
      let k = min(kRequested, numOutputs)
      let bits = bitsPerIndex(numOutputs)
      guard blob.count == 2 * k + (k * bits + 7) / 8 else { throw sizeError(blob.count, 2 * k + (k * bits + 7) / 8) }
      var values = [Float](repeating: 0, count: k)
      var indices = [Int32](repeating: 0, count: k)
      for j in 0..<k {
        values[j] = Float(Float16(bitPattern: UInt16(littleEndian: blob.loadUnaligned(fromByteOffset: 2 * j, as: UInt16.self))))
        var c = 0
        for b in 0..<bits {
          let pos = j * bits + b
          if blob[2 * k + pos / 8] & UInt8(1 << (pos % 8)) != 0 { c |= 1 << b }
        }
        guard c < numOutputs else { throw KDError(.input, "top-k index \(c) out of range (\(numOutputs) outputs)", field: "teacher_outputs.logits") }
        indices[j] = Int32(c)
      }
      return TeacherLogits(indices: indices, values: values, isDense: false)
    }
  }

  private static func sizeError(_ got: Int, _ want: Int) -> KDError {
    KDError(.input, "teacher output blob has \(got) bytes, expected \(want)", field: "teacher_outputs.logits")
  }
}
