import CZlib
import Foundation
import KDCore

/// Reading corpus files as bytes: gzip, BOM, UTF-8 validation, binary detection.
public enum FileBytes {
  /// Reads a whole file, gunzipping `.gz` files (multi-member streams included).
  /// - Throws: `KDError(.io)` naming the file when it cannot be read, and
  ///   `KDError(.input)` when a gzip stream is corrupt or truncated.
  public static func read(path: String, display: String, maxBytes: Int = 4 << 30) throws -> [UInt8] {
    guard let fh = FileHandle(forReadingAtPath: path) else {
      let reason = FileManager.default.fileExists(atPath: path) ? "permission denied or not a regular file" : "no such file"
      throw KDError(.io, "cannot read: \(reason)", file: display)
    }
    defer { try? fh.close() }
    let data: Data
    do {
      data = try fh.readToEnd() ?? Data()
    } catch {
      throw KDError(.io, "cannot read: \(error.localizedDescription)", file: display)
    }
    let raw = [UInt8](data)
    if path.hasSuffix(".gz") || (raw.count >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
      return try gunzip(raw, display: display, maxBytes: maxBytes)
    }
    return raw
  }

  /// Decompresses gzip data.
  public static func gunzip(_ input: [UInt8], display: String, maxBytes: Int = 4 << 30) throws -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(input.count * 4)
    var stream = z_stream()
    guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
      throw KDError(.internalError, "zlib init failed", file: display)
    }
    defer { inflateEnd(&stream) }
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    try input.withUnsafeBufferPointer { inBuf in
      stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
      stream.avail_in = uInt(inBuf.count)
      while true {
        let rc: Int32 = chunk.withUnsafeMutableBufferPointer { c in
          stream.next_out = c.baseAddress
          stream.avail_out = uInt(c.count)
          return inflate(&stream, Z_NO_FLUSH)
        }
        let produced = chunk.count - Int(stream.avail_out)
        out.append(contentsOf: chunk[0..<produced])
        if out.count > maxBytes {
          throw KDError(.input, "decompressed size exceeds \(maxBytes >> 20) MB", file: display)
        }
        if rc == Z_STREAM_END {
          if stream.avail_in == 0 { return }
          // Another gzip member follows.
          inflateReset(&stream)
          continue
        }
        if rc == Z_BUF_ERROR || (rc == Z_OK && stream.avail_in == 0 && produced == 0) {
          throw KDError(.input, "truncated gzip stream (ends after \(out.count) decompressed bytes)", file: display)
        }
        if rc != Z_OK {
          let msg = stream.msg.map { String(cString: $0) } ?? "code \(rc)"
          throw KDError(.input, "corrupt gzip stream: \(msg)", file: display)
        }
      }
    }
    return out
  }

  /// True when the bytes look binary: a NUL byte in the first 8 KB.
  public static func looksBinary(_ bytes: [UInt8]) -> Bool {
    bytes.prefix(8192).contains(0)
  }

  /// Strips a UTF-8 byte-order mark.
  public static func dropBOM(_ bytes: inout [UInt8]) -> Bool {
    if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF {
      bytes.removeFirst(3)
      return true
    }
    return false
  }

  /// The byte offset of the first invalid UTF-8 sequence, or nil when valid.
  public static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
    bytes.withUnsafeBufferPointer { p -> Int? in
      let n = p.count
      var i = 0
      while i < n {
        let b = p[i]
        if b < 0x80 { i += 1; continue }
        var need = 0
        var min: UInt32 = 0
        var cp: UInt32 = 0
        if b & 0xE0 == 0xC0 { need = 1; cp = UInt32(b & 0x1F); min = 0x80 }
        else if b & 0xF0 == 0xE0 { need = 2; cp = UInt32(b & 0x0F); min = 0x800 }
        else if b & 0xF8 == 0xF0 { need = 3; cp = UInt32(b & 0x07); min = 0x10000 }
        else { return i }
        if i + need >= n { return i }
        for k in 1...need {
          guard i + k < n, p[i + k] & 0xC0 == 0x80 else { return i }
          cp = (cp << 6) | UInt32(p[i + k] & 0x3F)
        }
        if cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) { return i }
        i += need + 1
      }
      return nil
    }
  }

  /// 1-based line number of a byte offset.
  public static func lineNumber(of offset: Int, in bytes: [UInt8]) -> Int {
    var line = 1
    for b in bytes[0..<min(offset, bytes.count)] where b == 0x0A { line += 1 }
    return line
  }

  /// Decodes bytes as text: UTF-8 (strict) or Latin-1 when `latin1` is set.
  /// - Throws: `KDError(.input)` naming the line and byte of the first invalid sequence.
  public static func decodeText(_ bytes: [UInt8], display: String, latin1: Bool) throws -> String {
    if latin1 {
      return String(bytes.map { Character(Unicode.Scalar($0)) })
    }
    if let bad = firstInvalidUTF8(bytes) {
      throw KDError(
        .input,
        String(format: "invalid UTF-8 (byte 0x%02X at offset %d); set `encoding: latin-1` in the corpus manifest if the file is Latin-1", bytes[bad], bad),
        file: display, line: lineNumber(of: bad, in: bytes))
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

