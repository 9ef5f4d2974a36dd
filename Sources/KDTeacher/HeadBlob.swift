import Foundation
import KDCore
import KDModels

/// The bytes of `teachers.head_blob`: a fitted head as an in-memory
/// safetensors file (fp32 `weight` [classes × inputSize] and `bias`
/// [classes]; the label names in the `labels` metadata entry as a JSON array),
/// the same layout `LinearHead.save` writes to `head.safetensors`.
public enum HeadBlob {
  /// Serialises a head.
  public static func encode(_ head: LinearHead) -> [UInt8] {
    let labels = jsonText(head.labels)
    let wBytes = head.weight.count * 4
    var header = "{\"__metadata__\":{\"format\":\"kd-linear-head-v1\",\"labels\":\(JSONText.quote(labels))},"
    header += "\"weight\":{\"dtype\":\"F32\",\"shape\":[\(head.classes),\(head.inputSize)],\"data_offsets\":[0,\(wBytes)]},"
    header += "\"bias\":{\"dtype\":\"F32\",\"shape\":[\(head.classes)],\"data_offsets\":[\(wBytes),\(wBytes + head.bias.count * 4)]}}"
    var h = Array(header.utf8)
    while h.count % 8 != 0 { h.append(0x20) }
    var out: [UInt8] = []
    out.reserveCapacity(8 + h.count + wBytes + head.bias.count * 4)
    withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: h)
    for v in head.weight { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
    for v in head.bias { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
    return out
  }

  /// Reads a head written by `encode`.
  /// - Throws: `KDError(.model)` naming `teachers.head_blob` when the bytes are not such a head.
  public static func decode(_ bytes: [UInt8]) throws -> LinearHead {
    func bad(_ why: String) -> KDError { KDError(.model, "stored head is corrupt: \(why)", field: "teachers.head_blob") }
    guard bytes.count >= 8 else { throw bad("\(bytes.count) bytes") }
    let n = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
    guard n > 0, 8 + n <= bytes.count else { throw bad("header size \(n)") }
    guard let header = (try? JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)]))) as? [String: Any],
      let meta = header["__metadata__"] as? [String: Any], let labelsText = meta["labels"] as? String,
      let labels = (try? JSONSerialization.jsonObject(with: Data(labelsText.utf8))) as? [String]
    else { throw bad("header is not kd-linear-head-v1") }
    func tensor(_ name: String, count: Int) throws -> [Float] {
      guard let t = header[name] as? [String: Any], let offs = t["data_offsets"] as? [Int], offs.count == 2,
        offs[1] - offs[0] == count * 4, 8 + n + offs[1] <= bytes.count
      else { throw bad("tensor \(name)") }
      let base = 8 + n + offs[0]
      return bytes.withUnsafeBytes { p in
        (0..<count).map { Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: base + 4 * $0, as: UInt32.self))) }
      }
    }
    guard let wShape = (header["weight"] as? [String: Any])?["shape"] as? [Int], wShape.count == 2, wShape[0] == labels.count, wShape[1] > 0
    else { throw bad("weight shape") }
    return try LinearHead(
      weight: try tensor("weight", count: wShape[0] * wShape[1]), bias: try tensor("bias", count: labels.count),
      labels: labels, inputSize: wShape[1])
  }
}
