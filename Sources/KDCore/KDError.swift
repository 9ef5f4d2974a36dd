/// An error with the context a user needs to fix its cause: what failed,
/// where (file, line, field or JSON path), and why.
///
/// Library code throws `KDError` for anything that comes from input; the
/// executables print `description` on stderr and map `kind` to an exit code.
public struct KDError: Error, CustomStringConvertible, Sendable, Equatable {
  public enum Kind: String, Sendable, Codable {
    case usage, input, io, database, schema, lock, model, numeric, unsupported, internalError
    /// The run stopped on request (SIGINT/SIGTERM) after saving its work; see `RunStatus.interrupted`.
    case interrupted
  }
  public var kind: Kind
  public var message: String
  public var file: String?
  public var line: Int?
  public var field: String?

  public init(_ kind: Kind, _ message: String, file: String? = nil, line: Int? = nil, field: String? = nil) {
    self.kind = kind
    self.message = message
    self.file = file
    self.line = line
    self.field = field
  }

  /// `file:line: field: message`, with the parts that are known.
  public var description: String {
    var parts: [String] = []
    if let file {
      parts.append(line.map { "\(file):\($0)" } ?? file)
    }
    if let field { parts.append(field) }
    parts.append(message)
    return parts.joined(separator: ": ")
  }
}
