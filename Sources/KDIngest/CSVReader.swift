import KDCore

/// An RFC 4180 CSV/TSV parser over UTF-8 bytes: quoted fields, doubled
/// quotes, embedded delimiters and newlines, CRLF or LF line ends.
///
/// Records carry the 1-based line on which they start, so errors can name it.
public struct CSVReader {
  public struct Record {
    public var line: Int
    public var fields: [String]
  }

  public let delimiter: UInt8
  public init(delimiter: UInt8 = UInt8(ascii: ",")) { self.delimiter = delimiter }

  /// Parses all records. Calls `onRecord` for each; a record whose quoting is
  /// broken is reported through `onError` with its line and parsing resumes
  /// at the next line.
  public func parse(_ bytes: [UInt8], onRecord: (Record) throws -> Void, onError: (Int, String) -> Void) rethrows {
    let quote = UInt8(ascii: "\""), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
    try bytes.withUnsafeBufferPointer { p in
      let n = p.count
      var i = 0
      var line = 1
      while i < n {
        let startLine = line
        var fields: [String] = []
        var field: [UInt8] = []
        var atFieldStart = true
        var inQuotes = false
        var quoteOpenedLine = line
        var broken: String?
        recordLoop: while i < n {
          let b = p[i]
          if inQuotes {
            if b == quote {
              if i + 1 < n && p[i + 1] == quote {
                field.append(quote)
                i += 2
                continue
              }
              inQuotes = false
              i += 1
              // After a closing quote only a delimiter or line end may follow.
              if i < n && p[i] != delimiter && p[i] != lf && p[i] != cr {
                broken = "unexpected character after closing quote"
                while i < n && p[i] != lf { i += 1 }
                break recordLoop
              }
              continue
            }
            if b == lf { line += 1 }
            field.append(b)
            i += 1
            continue
          }
          if b == quote && atFieldStart {
            inQuotes = true
            quoteOpenedLine = line
            atFieldStart = false
            i += 1
            continue
          }
          if b == delimiter {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            atFieldStart = true
            i += 1
            continue
          }
          if b == lf || b == cr {
            if b == cr && i + 1 < n && p[i + 1] == lf { i += 1 }
            i += 1
            line += 1
            break recordLoop
          }
          if b == quote {
            // A quote inside an unquoted field: tolerated by most writers, kept literally.
            field.append(b)
            atFieldStart = false
            i += 1
            continue
          }
          field.append(b)
          atFieldStart = false
          i += 1
        }
        if inQuotes {
          onError(quoteOpenedLine, "quoted field opened on line \(quoteOpenedLine) is never closed")
          return
        }
        if let broken {
          onError(startLine, broken)
          if i < n { i += 1; line += 1 }
          continue
        }
        fields.append(String(decoding: field, as: UTF8.self))
        // Skip completely empty lines.
        if fields.count == 1 && fields[0].isEmpty { continue }
        try onRecord(Record(line: startLine, fields: fields))
      }
    }
  }
}

/// Follows CSV quoting byte by byte, as `CSVReader.parse` reads it, to tell
/// whether a line end closes the record or falls inside a quoted field.
struct CSVQuoteState {
  let delimiter: UInt8
  private(set) var inQuotes = false
  private var atFieldStart = true
  private var justClosed = false
  /// After a bad character following a closing quote the parser skips to the line end.
  private var skippingLine = false

  init(delimiter: UInt8) { self.delimiter = delimiter }

  mutating func scan(_ bytes: UnsafeBufferPointer<UInt8>) {
    let quote = UInt8(ascii: "\""), cr = UInt8(ascii: "\r")
    for b in bytes {
      if skippingLine { continue }
      if inQuotes {
        if b == quote { inQuotes = false; justClosed = true }
        continue
      }
      if justClosed {
        justClosed = false
        if b == quote { inQuotes = true; continue }
        if b != delimiter && b != cr { skippingLine = true; continue }
      }
      if b == quote && atFieldStart {
        inQuotes = true
        atFieldStart = false
      } else {
        atFieldStart = b == delimiter || b == cr
      }
    }
  }

  /// A line end outside quotes ends the record.
  mutating func lineEnd() {
    guard !inQuotes else { return }
    atFieldStart = true
    justClosed = false
    skippingLine = false
  }
}

extension CSVReader {
  /// Parses records from a line stream in bounded memory: a record spans
  /// lines while a quoted field is open; a record longer than `limit` bytes
  /// is reported through `onError` (with its first line) and skipped without
  /// being buffered. Line numbers are the file's.
  /// - Throws: what `onRecord` throws, and `KDError(.input)` for invalid
  ///   UTF-8 (naming the line) or a bad gzip stream.
  func parse(stream: TextLineStream, limit: Int, onRecord: (Record) throws -> Void,
             onError: (Int, String) -> Void) throws {
    var state = CSVQuoteState(delimiter: delimiter)
    var record: [UInt8] = []
    var open = false
    var recordLine = 1, quoteLine = 1
    var oversized = false
    var previousCRLF = false
    try stream.forEachLine(limit: limit, skipped: { state.scan($0) }) { line in
      if !open {
        open = true
        recordLine = line.number
        record.removeAll(keepingCapacity: record.capacity <= 1 << 20)
        oversized = false
      } else if !oversized {
        record.append(contentsOf: previousCRLF ? [0x0D, 0x0A] : [0x0A])
      }
      let wasInQuotes = state.inQuotes
      if line.overLimit != nil {
        oversized = true
        record = []
      } else {
        try stream.validate(line.bytes, line: line.number, byteOffset: line.byteOffset)
        line.bytes.withUnsafeBufferPointer { state.scan($0) }
        if !oversized {
          record.append(contentsOf: stream.utf8(line.bytes))
          if record.count > limit {
            oversized = true
            record = []
          }
        }
      }
      if state.inQuotes {
        if !wasInQuotes { quoteLine = line.number }
        previousCRLF = line.crlf
        return
      }
      state.lineEnd()
      open = false
      if oversized {
        onError(recordLine, "record is over the \(limit >> 20) MB limit for one row (2 × --max-example-mb + 1 MB); skipped unread")
        return
      }
      let first = recordLine
      try parse(record, onRecord: { rec in
        var r = rec
        r.line += first - 1
        try onRecord(r)
      }, onError: { l, message in
        onError(l + first - 1, message.replacingOccurrences(of: "on line \(l)", with: "on line \(l + first - 1)"))
      })
    }
    if open {
      onError(quoteLine, "quoted field opened on line \(quoteLine) is never closed")
    }
  }
}
