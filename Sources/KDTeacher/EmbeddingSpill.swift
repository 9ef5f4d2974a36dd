import Foundation
import KDCore

/// Pooled embeddings computed while fitting a head, appended to a file beside the store as they are
/// computed, so that a killed first run (the head fit embeds every labelled training example before
/// any output is stored) loses at most one batch: the next run reads them back and embeds only the rest.
///
/// `<db>.kd-embeddings/<key>.f32`: records of (example id: Int64 LE, dimension: UInt32 LE, floats: f32 LE),
/// flushed and fsynced after every batch. A torn last record (a kill mid-write) is ignored. The key is the
/// encoder's identity (checkpoint, tokenizer, pooling, length), so another teacher never reads them.
/// The file is deleted once the teacher's outputs for the task are all stored.
final class EmbeddingSpill {
  let path: String
  private var handle: FileHandle?
  /// Bytes of complete records (set by `load`): a torn tail is cut off before appending.
  private var validBytes: UInt64?

  init(databasePath: String, key: String) {
    let safe = String(key.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
    path = databasePath + ".kd-embeddings/" + safe + ".f32"
  }

  /// The embeddings saved so far, by example id (complete records only).
  func load() -> [Int64: [Float]] {
    guard let data = FileManager.default.contents(atPath: path) else {
      validBytes = 0
      return [:]
    }
    var out: [Int64: [Float]] = [:]
    validBytes = data.withUnsafeBytes { raw -> UInt64 in
      var o = 0
      while o + 12 <= raw.count {
        let id = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: Int64.self))
        let dim = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o + 8, as: UInt32.self)))
        guard dim > 0, dim <= 65536, o + 12 + 4 * dim <= raw.count else { break }
        var v = [Float](repeating: 0, count: dim)
        for i in 0..<dim {
          v[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o + 12 + 4 * i, as: UInt32.self)))
        }
        out[id] = v
        o += 12 + 4 * dim
      }
      return UInt64(o)
    }
    return out
  }

  /// Appends embeddings and makes them durable.
  func append(_ rows: [(id: Int64, embedding: [Float])]) throws {
    guard !rows.isEmpty else { return }
    if handle == nil {
      if validBytes == nil { _ = load() }
      let dir = (path as NSString).deletingLastPathComponent
      do {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      } catch {
        throw KDError(.io, "cannot create the embedding cache folder: \((error as NSError).localizedDescription)", file: dir)
      }
      if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
      guard let h = FileHandle(forWritingAtPath: path) else {
        throw KDError(.io, "cannot open the embedding cache", file: path)
      }
      do { try h.truncate(atOffset: validBytes ?? 0) } catch {
        throw KDError(.io, "cannot write the embedding cache: \((error as NSError).localizedDescription)", file: path)
      }
      handle = h
    }
    var data = Data()
    for r in rows {
      withUnsafeBytes(of: r.id.littleEndian) { data.append(contentsOf: $0) }
      withUnsafeBytes(of: UInt32(r.embedding.count).littleEndian) { data.append(contentsOf: $0) }
      for x in r.embedding { withUnsafeBytes(of: x.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
    }
    do {
      try handle?.seekToEnd()
      try handle?.write(contentsOf: data)
      try handle?.synchronize()
    } catch {
      throw KDError(.io, "cannot write the embedding cache: \((error as NSError).localizedDescription)", file: path)
    }
  }

  /// Deletes the file (and the folder when empty).
  func remove() {
    try? handle?.close()
    handle = nil
    try? FileManager.default.removeItem(atPath: path)
    let dir = (path as NSString).deletingLastPathComponent
    if (try? FileManager.default.contentsOfDirectory(atPath: dir))?.isEmpty == true {
      try? FileManager.default.removeItem(atPath: dir)
    }
  }

  deinit { try? handle?.close() }
}
