import Foundation
import KDCore
import KDStore

/// A teacher run as a separate process that speaks kd's JSON-lines protocol
/// (`schemas/teacher-protocol.schema.json`, docs/teacher-cache.md) on its
/// stdin/stdout, so that a GPU PyTorch or vLLM model fills the same cache.
///
/// One process serves one task: kd writes a handshake line
/// `{"kd_protocol":1,"task":…,"labels":[…],"multi_label":…}`, the teacher
/// answers `{"name":…,"num_outputs":…}`; then kd sends one request line per
/// example (`{"id":…,"text":…}`, the batch's last with `"end_of_batch":true`)
/// and reads one response line per request, in any order
/// (`{"id":…,"logits":[…]}` or `{"id":…,"error":"…"}`). kd closes stdin when done.
/// The teacher's stderr passes through to kd's stderr.
public final class ExternalTeacher: TeacherBackend {
  /// The shell command line (run with `/bin/sh -c`).
  public let command: String
  /// Seconds to wait for any one line from the teacher before giving up.
  public var responseTimeout: TimeInterval

  private var process: Process?
  private var inputFD: Int32 = -1
  private var outputFD: Int32 = -1
  private var buffer: [UInt8] = []
  private var linesRead = 0
  private var reply: HandshakeReply?
  /// reply class index for each task class index (nil = same order).
  private var permutation: [Int]?

  /// The handshake reply of an external teacher.
  struct HandshakeReply: Decodable {
    var kdProtocol: Int?
    var name: String?
    var numOutputs: Int?
    var labels: [String]?
    var embeddingDim: Int?
    var tokenizerHash: String?
    var checkpoint: String?
    var error: String?

    enum CodingKeys: String, CodingKey {
      case kdProtocol = "kd_protocol", name, numOutputs = "num_outputs", labels, embeddingDim = "embedding_dim"
      case tokenizerHash = "tokenizer_hash", checkpoint, error
    }
  }

  /// A response line.
  struct Response: Decodable {
    var id: Int64?
    var logits: [Double?]?
    var embedding: [Double?]?
    var error: String?
  }

  /// Creates a teacher for `command`; the process starts in `prepare`.
  public init(command: String, responseTimeout: TimeInterval = 600) throws {
    guard !command.trimmingCharacters(in: .whitespaces).isEmpty else {
      throw KDError(.usage, "the teacher command is empty", field: "--teacher-cmd")
    }
    self.command = command
    self.responseTimeout = responseTimeout
    signal(SIGPIPE, SIG_IGN)
  }

  deinit { try? close() }

  public var defaultName: String {
    if let n = reply?.name, !n.isEmpty { return n }
    return "external"
  }

  public var tokenizerInfo: TeacherTokenizerInfo? {
    guard let h = reply?.tokenizerHash else { return nil }
    return TeacherTokenizerInfo(name: "external:\(h)", contentHash: h, vocabularySize: 0, fileBytes: [])
  }

  /// External teachers get whole examples and handle length themselves.
  public var maxTokens: Int? { nil }

  // MARK: Process

  private func start() throws {
    try close()
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    let inPipe = Pipe(), outPipe = Pipe()
    p.standardInput = inPipe
    p.standardOutput = outPipe
    p.standardError = FileHandle.standardError
    do { try p.run() } catch {
      throw KDError(.io, "cannot start the teacher command: \(error.localizedDescription)", field: "--teacher-cmd")
    }
    process = p
    inputFD = dup(inPipe.fileHandleForWriting.fileDescriptor)
    outputFD = dup(outPipe.fileHandleForReading.fileDescriptor)
    try? inPipe.fileHandleForWriting.close()
    try? outPipe.fileHandleForReading.close()
    buffer = []
    linesRead = 0
  }

  /// Ends the process: closes its stdin and waits (up to 10 s) for it to exit.
  public func close() throws {
    if inputFD >= 0 { Foundation.close(inputFD); inputFD = -1 }
    if let p = process {
      let deadline = Date().addingTimeInterval(10)
      while p.isRunning && Date() < deadline { usleep(20_000) }
      if p.isRunning { p.terminate() }
      p.waitUntilExit()
      process = nil
    }
    if outputFD >= 0 { Foundation.close(outputFD); outputFD = -1 }
  }

  private func exitNote() -> String {
    guard let p = process else { return "" }
    usleep(50_000)
    return p.isRunning ? "" : " (the command exited with status \(p.terminationStatus))"
  }

  private func writeLine(_ line: [UInt8]) throws {
    var data = line
    data.append(0x0A)
    try data.withUnsafeBytes { p in
      var off = 0
      while off < p.count {
        let n = Foundation.write(inputFD, p.baseAddress! + off, p.count - off)
        if n < 0 {
          if errno == EINTR { continue }
          throw KDError(.io, "cannot write to the teacher command: \(String(cString: strerror(errno)))\(exitNote())", field: "--teacher-cmd")
        }
        off += n
      }
    }
  }

  /// The next line from the teacher's stdout, or nil at end of file.
  private func readLine() throws -> [UInt8]? {
    while true {
      if let nl = buffer.firstIndex(of: 0x0A) {
        let line = Array(buffer[..<nl])
        buffer.removeSubrange(...nl)
        linesRead += 1
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
        return line
      }
      var pfd = pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0)
      let ready = poll(&pfd, 1, Int32(min(responseTimeout * 1000, Double(Int32.max))))
      if ready < 0 {
        if errno == EINTR { continue }
        throw KDError(.io, "cannot read from the teacher command: \(String(cString: strerror(errno)))", field: "--teacher-cmd")
      }
      if ready == 0 {
        throw KDError(.io, "the teacher command sent nothing for \(Int(responseTimeout)) s", field: "--teacher-cmd")
      }
      var chunk = [UInt8](repeating: 0, count: 65536)
      let n = chunk.withUnsafeMutableBytes { Foundation.read(outputFD, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw KDError(.io, "cannot read from the teacher command: \(String(cString: strerror(errno)))", field: "--teacher-cmd")
      }
      if n == 0 {
        guard !buffer.isEmpty else { return nil }
        let line = buffer
        buffer = []
        linesRead += 1
        return line
      }
      buffer.append(contentsOf: chunk[0..<n])
    }
  }

  private func decode<T: Decodable>(_ type: T.Type, _ line: [UInt8], what: String) throws -> T {
    let cleaned = Self.replacingNonFiniteTokens(line)
    do {
      return try JSONDecoder().decode(T.self, from: Data(cleaned))
    } catch {
      let excerpt = String(decoding: line.prefix(120), as: UTF8.self)
      throw KDError(
        .input, "\(what) is not valid protocol JSON (\(Self.describe(error))): \(excerpt)",
        file: "teacher-cmd stdout", line: linesRead)
    }
  }

  static func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.typeMismatch(let t, let c): return "\(c.codingPath.map(\.stringValue).joined(separator: ".")): expected \(t)"
    case DecodingError.keyNotFound(let k, _): return "missing \(k.stringValue)"
    case DecodingError.valueNotFound(let t, let c): return "\(c.codingPath.map(\.stringValue).joined(separator: ".")): null where \(t) was expected"
    case DecodingError.dataCorrupted(let c): return c.underlyingError.map { "\($0.localizedDescription)" } ?? c.debugDescription
    default: return "\(error)"
    }
  }

  /// Python's `json.dumps` writes `NaN`, `Infinity` and `-Infinity`, which are
  /// not JSON: turn them (outside strings) into `null` so that kd can name the
  /// example and position instead of rejecting the whole line.
  static func replacingNonFiniteTokens(_ line: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(line.count)
    var i = 0, inString = false
    let nan = Array("NaN".utf8), inf = Array("Infinity".utf8), negInf = Array("-Infinity".utf8)
    func matches(_ token: [UInt8]) -> Bool {
      i + token.count <= line.count && Array(line[i..<(i + token.count)]) == token
    }
    while i < line.count {
      let b = line[i]
      if inString {
        out.append(b)
        if b == UInt8(ascii: "\\"), i + 1 < line.count { out.append(line[i + 1]); i += 2; continue }
        if b == UInt8(ascii: "\"") { inString = false }
        i += 1
        continue
      }
      if b == UInt8(ascii: "\"") { inString = true; out.append(b); i += 1; continue }
      if matches(negInf) { out += Array("null".utf8); i += negInf.count; continue }
      if matches(inf) { out += Array("null".utf8); i += inf.count; continue }
      if matches(nan) { out += Array("null".utf8); i += nan.count; continue }
      out.append(b)
      i += 1
    }
    return out
  }

  // MARK: TeacherBackend

  public func prepare(task: TaskRecord, context: TeacherPreparationContext) throws -> TeacherDescription {
    try start()
    let hello: [String: Any] = ["kd_protocol": 1, "task": task.name, "labels": task.labels, "multi_label": task.multiLabel]
    try writeLine(Array(try JSONSerialization.data(withJSONObject: hello, options: [.sortedKeys])))
    guard let line = try readLine() else {
      throw KDError(.io, "the teacher command closed its output before the handshake\(exitNote())", field: "--teacher-cmd")
    }
    let r = try decode(HandshakeReply.self, line, what: "the handshake reply")
    if let e = r.error { throw KDError(.model, "the teacher command refused the task '\(task.name)': \(e)", field: "--teacher-cmd") }
    if let v = r.kdProtocol, v != 1 {
      throw KDError(.unsupported, "the teacher speaks protocol version \(v); kd speaks 1", file: "teacher-cmd stdout", line: linesRead, field: "kd_protocol")
    }
    guard let n = r.numOutputs, n > 0 else {
      throw KDError(.input, "the handshake reply lacks a positive num_outputs", file: "teacher-cmd stdout", line: linesRead, field: "num_outputs")
    }
    if let dim = r.embeddingDim, dim <= 0 {
      throw KDError(.input, "embedding_dim must be positive", file: "teacher-cmd stdout", line: linesRead, field: "embedding_dim")
    }
    permutation = nil
    if let labels = r.labels {
      guard labels.count == n else {
        throw KDError(.input, "num_outputs is \(n) but \(labels.count) labels are listed", file: "teacher-cmd stdout", line: linesRead, field: "labels")
      }
      guard Set(labels) == Set(task.labels), labels.count == task.labels.count else {
        let lacks = Set(task.labels).subtracting(labels).sorted(), extra = Set(labels).subtracting(task.labels).sorted()
        throw KDError(
          .model, "the teacher's labels do not match task '\(task.name)': teacher lacks \(lacks), task lacks \(extra)",
          file: "teacher-cmd stdout", line: linesRead, field: "labels")
      }
      if labels != task.labels {
        var index: [String: Int] = [:]
        for (i, l) in labels.enumerated() { index[l] = i }
        permutation = task.labels.compactMap { index[$0] }
      }
    } else if n != task.labels.count {
      throw KDError(
        .model, "the teacher has \(n) outputs but task '\(task.name)' has \(task.labels.count) labels; list \"labels\" in the handshake reply",
        file: "teacher-cmd stdout", line: linesRead, field: "num_outputs")
    }
    reply = r
    var config: [String: Any] = ["command": command, "protocol": 1]
    if let c = r.checkpoint { config["checkpoint"] = c }
    if let l = r.labels { config["labels"] = l }
    let head: [String: Any] = ["type": "external"]
    return TeacherDescription(
      kind: "external", checkpointHash: r.checkpoint, tokenizer: tokenizerInfo, configJSON: jsonText(config),
      headJSON: jsonText(head), headBlob: nil, numOutputs: n, embeddingDim: r.embeddingDim, maxTokens: nil)
  }

  public func compute(_ batch: [TeacherInput], wantEmbeddings: Bool) throws -> [TeacherResult] {
    guard let reply, let n = reply.numOutputs, inputFD >= 0 else {
      throw KDError(.internalError, "external teacher used before prepare")
    }
    var lines: [[UInt8]] = []
    var position: [Int64: Int] = [:]
    for (i, input) in batch.enumerated() {
      guard position[input.exampleID] == nil else {
        throw KDError(.internalError, "example \(input.exampleID) twice in one batch")
      }
      position[input.exampleID] = i
      var req: [String: Any] = ["id": input.exampleID, "text": input.text]
      if let ids = input.ids, reply.tokenizerHash != nil { req["ids"] = ids.map { Int($0) } }
      if wantEmbeddings { req["embedding"] = true }
      if i == batch.count - 1 { req["end_of_batch"] = true }
      lines.append(Array(try JSONSerialization.data(withJSONObject: req, options: [.sortedKeys])))
    }
    // Write on another thread: a teacher that answers while kd still writes
    // must not block on a full pipe (a deadlock otherwise).
    let writer = DispatchGroup()
    nonisolated(unsafe) var writeError: Error?
    writer.enter()
    let requestLines = lines
    DispatchQueue.global().async { [self] in
      defer { writer.leave() }
      do { for l in requestLines { try writeLine(l) } } catch { writeError = error }
    }
    defer { writer.wait() }
    var results = [TeacherResult?](repeating: nil, count: batch.count)
    var remaining = batch.count
    while remaining > 0 {
      guard let line = try readLine() else {
        writer.wait()
        let waiting = batch.indices.filter { results[$0] == nil }.prefix(3).map { String(batch[$0].exampleID) }
        throw KDError(
          .io, "the teacher command closed its output with \(remaining) requests unanswered (examples \(waiting.joined(separator: ", ")))\(exitNote())",
          field: "--teacher-cmd")
      }
      let r = try decode(Response.self, line, what: "a response")
      guard let id = r.id else {
        throw KDError(.input, "a response has no \"id\"", file: "teacher-cmd stdout", line: linesRead, field: "id")
      }
      guard let i = position[id] else {
        throw KDError(.input, "a response names example \(id), which was not requested in this batch", file: "teacher-cmd stdout", line: linesRead, field: "id")
      }
      guard results[i] == nil else {
        throw KDError(.input, "example \(id) was answered twice", file: "teacher-cmd stdout", line: linesRead, field: "id")
      }
      if let e = r.error {
        results[i] = .failed(e)
      } else {
        guard let raw = r.logits else {
          throw KDError(.input, "the response for example \(id) has neither \"logits\" nor \"error\"", file: "teacher-cmd stdout", line: linesRead, field: "logits")
        }
        guard raw.count == n else {
          throw KDError(.input, "the response for example \(id) has \(raw.count) logits, expected \(n)", file: "teacher-cmd stdout", line: linesRead, field: "logits")
        }
        var logits = try Self.finite(raw, field: "logits", exampleID: id, line: linesRead)
        if let p = permutation { logits = p.map { logits[$0] } }
        var embedding: [Float]?
        if wantEmbeddings {
          guard let e = r.embedding, let dim = reply.embeddingDim, e.count == dim else {
            throw KDError(
              .input, "the response for example \(id) has \(r.embedding?.count ?? 0) embedding values, expected \(reply.embeddingDim ?? 0)",
              file: "teacher-cmd stdout", line: linesRead, field: "embedding")
          }
          embedding = try Self.finite(e, field: "embedding", exampleID: id, line: linesRead)
        }
        results[i] = .output(logits: logits, embedding: embedding)
      }
      remaining -= 1
    }
    writer.wait()
    if let writeError { throw writeError }
    return results.map { $0 ?? .failed("no answer") }
  }

  static func finite(_ raw: [Double?], field: String, exampleID: Int64, line: Int) throws -> [Float] {
    var out = [Float](repeating: 0, count: raw.count)
    for (i, v) in raw.enumerated() {
      guard let v, v.isFinite, Float(v).isFinite else {
        throw KDError(
          .numeric, "the teacher returned a non-finite value (NaN or Infinity) for example \(exampleID) at \(field)[\(i)]",
          file: "teacher-cmd stdout", line: line, field: field)
      }
      out[i] = Float(v)
    }
    return out
  }

  public func embed(_ batch: [TeacherInput]) throws -> [[Float]] {
    throw KDError(.unsupported, "an external teacher brings its own head; kd does not fit one for it")
  }

  public func tokenize(_ text: String) throws -> [Int32] {
    throw KDError(.unsupported, "an external teacher tokenizes itself; --retokenize does not apply", field: "--retokenize")
  }
}

/// Compact JSON text with sorted keys.
func jsonText(_ object: Any) -> String {
  guard JSONSerialization.isValidJSONObject(object),
    let d = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
  else { return "{}" }
  return String(decoding: d, as: UTF8.self)
}
