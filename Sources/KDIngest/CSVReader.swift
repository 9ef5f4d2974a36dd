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
