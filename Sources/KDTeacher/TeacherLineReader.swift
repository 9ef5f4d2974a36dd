import Foundation
import KDCore

#if canImport(Glibc)
  import Glibc
#endif

/// Reads newline-terminated lines from an external teacher's stdout.
///
/// Linear in the bytes read (each byte is scanned for a newline once), and
/// bounded: a line longer than `maxLineBytes` is an error, so a teacher that
/// writes one endless line cannot grow kd's memory without bound.
struct TeacherLineReader {
  static let defaultMaxLineBytes = ExternalTeacher.defaultMaxLineBytes

  let fd: Int32
  let maxLineBytes: Int
  private var buffer: [UInt8] = []
  /// Start of the current (unfinished) line in `buffer`.
  private var start = 0
  /// Bytes before this index (from `start`) are known to hold no newline.
  private var scanned = 0
  private var eof = false
  private var scratch = [UInt8](repeating: 0, count: 65536)
  /// Lines returned so far (1-based number of the last one), counting blank lines.
  private(set) var linesRead = 0

  init(fd: Int32, maxLineBytes: Int = defaultMaxLineBytes) {
    self.fd = fd
    self.maxLineBytes = max(1, maxLineBytes)
  }

  /// The next non-blank line, or nil at end of file.
  ///
  /// Waits in slices of `slice` seconds; after each empty slice `onIdle` is
  /// called with the seconds waited so far for this line, and may throw (a
  /// response timeout, an interruption).
  /// - Throws: `KDError(.input)` for an over-long line, `KDError(.io)` for read errors, or what `onIdle` throws.
  mutating func next(slice: TimeInterval = 0.25, onIdle: (TimeInterval) throws -> Void) throws -> [UInt8]? {
    let waitStarted = Date()
    while true {
      if let nl = buffer[(start + scanned)...].firstIndex(of: 0x0A) {
        let line = Array(buffer[start..<nl])
        start = nl + 1
        scanned = 0
        linesRead += 1
        compact()
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
        return line
      }
      scanned = buffer.count - start
      if scanned > maxLineBytes {
        throw KDError(
          .input,
          "a line from the teacher command is longer than \(maxLineBytes) bytes (--max-line-bytes) and still has no newline: "
            + "is it writing one endless line? It starts: \(TeacherText.printable(buffer[start..<(start + min(80, scanned))]))",
          file: "teacher-cmd stdout", line: linesRead + 1)
      }
      if eof {
        guard scanned > 0 else { return nil }
        let line = Array(buffer[start...])
        start = buffer.count
        scanned = 0
        linesRead += 1
        compact()
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { return nil }
        return line
      }
      var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      let ready = poll(&pfd, 1, Int32(max(1, slice * 1000)))
      if ready < 0 {
        if errno == EINTR { continue }
        throw KDError(.io, "cannot read from the teacher command: \(String(cString: strerror(errno)))", field: "--teacher-cmd")
      }
      if ready == 0 {
        try onIdle(Date().timeIntervalSince(waitStarted))
        continue
      }
      // Read at most what still fits under the limit (+1 to detect overflow).
      let room = min(scratch.count, maxLineBytes + 1 - scanned)
      let n = scratch.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, room) }
      if n < 0 {
        if errno == EINTR || errno == EAGAIN { continue }
        throw KDError(.io, "cannot read from the teacher command: \(String(cString: strerror(errno)))", field: "--teacher-cmd")
      }
      buffer.append(contentsOf: scratch[0..<n])
      if n == 0 { eof = true }
    }
  }

  /// Drops consumed bytes once they are the larger part of the buffer (amortised linear).
  private mutating func compact() {
    if start > 65536 && start * 2 > buffer.count {
      buffer.removeSubrange(..<start)
      start = 0
    } else if start == buffer.count {
      buffer.removeAll(keepingCapacity: buffer.capacity <= 4 << 20)
      start = 0
    }
  }
}

/// Text from a teacher, made safe to print.
enum TeacherText {
  /// `bytes` as text with control characters (NUL, ESC, other C0/C1 codes,
  /// DEL) shown as `\u{..}` escapes, so that a teacher's bytes cannot drive
  /// the terminal an error message is printed on; at most `limit` characters.
  static func printable<C: Collection>(_ bytes: C, limit: Int = 200) -> String where C.Element == UInt8 {
    printable(String(decoding: bytes, as: UTF8.self), limit: limit)
  }

  static func printable(_ text: String, limit: Int = 200) -> String {
    var out = ""
    var count = 0
    for u in text.unicodeScalars {
      if count >= limit { out += "…"; break }
      let v = u.value
      if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) || v == 0x2028 || v == 0x2029 || (0x202A...0x202E).contains(v)
        || (0x2066...0x2069).contains(v)
      {
        out += "\\u{\(String(v, radix: 16))}"
      } else {
        out.unicodeScalars.append(u)
      }
      count += 1
    }
    return out
  }
}
