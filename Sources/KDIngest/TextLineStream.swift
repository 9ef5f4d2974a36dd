import CZlib
import Foundation
import KDCore

/// Reads a text file, plain or gzip-compressed, in bounded memory: line by
/// line with a per-line byte limit, or whole up to a limit (issue 16).
///
/// A line longer than the limit is never buffered: its bytes are counted and
/// dropped until its line end, and the caller gets it flagged `overLimit`, so
/// a 400 MB line in a 400 KB `.gz` costs one read buffer, not 1.7 GB.
/// Lines end at LF; a CR before the LF is dropped (CRLF files). The first
/// chunk is checked for emptiness, a UTF-8 BOM (dropped) and NUL bytes (binary).
final class TextLineStream {
  /// One line without its line end.
  struct Line {
    /// The line's bytes (empty when `overLimit`).
    var bytes: [UInt8]
    /// 1-based line number.
    var number: Int
    /// Byte offset of the line start in the decompressed text (after a BOM).
    var byteOffset: Int
    /// Unicode-scalar offset of the line start in the decoded text.
    var scalarOffset: Int
    /// True when the line ended with CRLF.
    var crlf: Bool
    /// The line's length when it was over the limit and was skipped unread.
    var overLimit: Int?
  }

  let display: String
  /// Decode bytes as Latin-1 (scalar offsets count bytes) instead of UTF-8.
  let latin1: Bool
  private let handle: gzFile
  private var buffer: [UInt8]
  private var start = 0
  private var end = 0
  private var finished = false
  /// Decompressed bytes read so far.
  private(set) var bytesRead = 0

  /// Opens the file and checks its first chunk.
  /// - Throws: `KDError(.io)` when it cannot be opened; `KDError(.input)` for an
  ///   empty or binary file, or a corrupt or truncated gzip stream.
  init(path: String, display: String, latin1: Bool, chunk: Int = 1 << 16) throws {
    self.display = display
    self.latin1 = latin1
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
      let h = gzopen(path, "rb")
    else {
      let reason = FileManager.default.fileExists(atPath: path) ? "permission denied or not a regular file" : "no such file"
      throw KDError(.io, "cannot read: \(reason)", file: display)
    }
    handle = h
    gzbuffer(h, 1 << 17)
    buffer = [UInt8](repeating: 0, count: max(chunk, 16))
    _ = try fill()
    if end == 0 { throw KDError(.input, "empty file", file: display) }
    if end >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF { start = 3 }
    if buffer[start..<min(end, start + 8192)].contains(0) {
      throw KDError(.input, "binary file (NUL bytes); not text", file: display)
    }
  }

  deinit { gzclose(handle) }

  /// Refills the buffer from the start; false at the end of the file.
  private func fill() throws -> Bool {
    if finished { return false }
    let n = buffer.withUnsafeMutableBytes { raw in gzread(handle, raw.baseAddress, UInt32(raw.count)) }
    var code: Int32 = 0
    let message = gzerror(handle, &code).map { String(cString: $0) } ?? ""
    if n < 0 || (code != Z_OK && code != Z_BUF_ERROR) {
      throw KDError(.input, code == Z_ERRNO ? "cannot read: \(String(cString: strerror(errno)))" : "corrupt gzip stream: \(message)",
                    file: display)
    }
    if n == 0 {
      finished = true
      if code == Z_BUF_ERROR {
        throw KDError(.input, "truncated gzip stream (ends after \(bytesRead) decompressed bytes)", file: display)
      }
      start = 0; end = 0
      return false
    }
    start = 0
    end = Int(n)
    bytesRead += Int(n)
    return true
  }

  /// Calls `body` with each line; lines longer than `limit` bytes come with
  /// `overLimit` set and no bytes. `skipped` sees the bytes of such lines as
  /// they are dropped (the CSV reader follows its quoting through them).
  func forEachLine(limit: Int, skipped: ((UnsafeBufferPointer<UInt8>) -> Void)? = nil,
                   _ body: (Line) throws -> Void) throws {
    var line: [UInt8] = []
    var length = 0
    var over = false
    var number = 1
    var lineByte = 0, lineScalar = 0
    var scalars = 0
    var offset = 0
    func emit(_ terminated: Bool) throws {
      var crlf = false
      if !over, terminated, line.last == 0x0D { line.removeLast(); crlf = true; length -= 1 }
      if !over && length > limit { over = true }
      try body(Line(bytes: over ? [] : line, number: number, byteOffset: lineByte, scalarOffset: lineScalar,
                    crlf: crlf, overLimit: over ? length : nil))
      number += 1
      line.removeAll(keepingCapacity: line.capacity <= 1 << 20)
      length = 0
      over = false
    }
    while true {
      if start >= end {
        if try !fill() { break }
      }
      let (consumed, newline): (Int, Bool) = buffer.withUnsafeBufferPointer { p in
        var i = start
        while i < end && p[i] != 0x0A { i += 1 }
        let piece = UnsafeBufferPointer(rebasing: p[start..<i])
        if latin1 {
          scalars += piece.count
        } else {
          for b in piece where b & 0xC0 != 0x80 { scalars += 1 }
        }
        length += piece.count
        if over {
          skipped?(piece)
        } else if length > limit + 1 {
          // Over the limit (one byte of slack for a CR): drop what was kept.
          over = true
          line.withUnsafeBufferPointer { skipped?($0) }
          skipped?(piece)
          line = []
        } else {
          line.append(contentsOf: piece)
        }
        return (i - start, i < end)
      }
      start += consumed
      offset += consumed
      if newline {
        start += 1
        offset += 1
        scalars += 1
        try emit(true)
        lineByte = offset
        lineScalar = scalars
      }
    }
    if length > 0 || (!over && !line.isEmpty) { try emit(false) }
  }

  /// The rest of the file as bytes, or nil (after reading on to count them,
  /// up to 64 × `limit`) when it is longer than `limit`. Returns the total
  /// bytes seen as well.
  func readAll(limit: Int) throws -> (bytes: [UInt8]?, count: Int) {
    var out: [UInt8] = []
    var count = 0
    var over = false
    while true {
      if start >= end {
        if try !fill() { break }
      }
      let n = end - start
      count += n
      if !over && count > limit {
        over = true
        out = []
      }
      if !over { out.append(contentsOf: buffer[start..<end]) }
      start = end
      if over && count / 64 > limit { break }
    }
    return (over ? nil : out, count)
  }

  /// Decodes a line (UTF-8, strict, or Latin-1).
  /// - Throws: `KDError(.input)` naming the line and the first invalid byte.
  func decode(_ bytes: [UInt8], line: Int, byteOffset: Int) throws -> String {
    if latin1 { return String(bytes.map { Character(Unicode.Scalar($0)) }) }
    try validate(bytes, line: line, byteOffset: byteOffset)
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Checks that a line is valid UTF-8 (always true for Latin-1).
  /// - Throws: `KDError(.input)` naming the line and the first invalid byte.
  func validate(_ bytes: [UInt8], line: Int, byteOffset: Int) throws {
    guard !latin1, let bad = FileBytes.firstInvalidUTF8(bytes) else { return }
    throw KDError(
      .input,
      String(format: "invalid UTF-8 (byte 0x%02X at offset %d); set `encoding: latin-1` in the corpus manifest if the file is Latin-1",
             bytes[bad], byteOffset + bad),
      file: display, line: line)
  }

  /// Bytes as UTF-8: unchanged, or converted from Latin-1.
  func utf8(_ bytes: [UInt8]) -> [UInt8] {
    guard latin1, bytes.contains(where: { $0 >= 0x80 }) else { return bytes }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + bytes.count / 8)
    for b in bytes {
      if b < 0x80 { out.append(b) } else { out.append(0xC0 | (b >> 6)); out.append(0x80 | (b & 0x3F)) }
    }
    return out
  }
}
