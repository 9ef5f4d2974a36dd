import Foundation
import KDCore
import KDStore

/// A teacher run as a separate process that speaks kd's JSON-lines protocol
/// (`schemas/teacher-protocol.schema.json`, docs/teacher-cache.md) on its
/// stdin/stdout, so that a GPU PyTorch or vLLM model fills the same cache.
///
/// One process serves one task: kd writes a handshake line
/// `{"kd_protocol":1,"task":…,"labels":[…],"multi_label":…,"tokenizers":[…],"window":…}`, the teacher
/// answers `{"name":…,"num_outputs":…}`; then kd sends one request line per
/// example (`{"id":…,"text":…}`, with `"ids"` when the teacher reads kd's
/// token ids, the batch's last with `"end_of_batch":true`) and reads one
/// response line per request, in any order (`{"id":…,"logits":[…]}`,
/// `{"id":…,"logits_b64":"…"}` or `{"id":…,"error":"…"}`). With a window
/// (`TeacherCacheOptions.window`) several batches are in flight at once. kd
/// closes stdin when done. The teacher's stderr passes through to kd's stderr.
///
/// The process runs in its own process group; every wait on it has a
/// deadline, and ending it ends the whole group (`TeacherProcess`).
public final class ExternalTeacher: TeacherBackend, @unchecked Sendable {
  /// Default seconds a teacher may take to exit after its input closes before its group gets SIGTERM.
  public static let defaultExitGrace: TimeInterval = 10
  /// Default longest line accepted from a teacher (16 MiB; a 150k-output vocabulary's logits as JSON take ~3.5 MB).
  public static let defaultMaxLineBytes = 16 << 20

  /// The shell command line (run with `/bin/sh -c`).
  public let command: String
  /// Seconds to wait for any one line from the teacher (while it owes kd an answer) before giving up.
  public var responseTimeout: TimeInterval
  /// Longest line accepted from the teacher, in bytes.
  public var maxLineBytes: Int
  /// Seconds the teacher may take to exit after its input is closed; then
  /// SIGTERM to its process group and, `TeacherProcess.termGrace` s later, SIGKILL.
  public var exitGrace: TimeInterval
  /// Checked while waiting for the teacher: when true the wait ends with an error.
  public var isInterrupted: () -> Bool = { false }
  /// Batches kd may have in flight, announced in the handshake (set by the engine).
  var window = 1
  /// Whether the last failure was a response timeout (the teacher was then killed).
  public private(set) var timedOut = false
  /// What ending the last process took ("" when it exited by itself), for the log.
  public private(set) var lastEndNote = ""

  private var process: TeacherProcess?
  var reader: TeacherLineReader?
  private(set) var reply: HandshakeReply?
  /// reply class index for each task class index (nil = same order).
  private(set) var permutation: [Int]?

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
    /// false: requests carry token ids only (needs tokenizer_hash).
    var text: Bool?

    enum CodingKeys: String, CodingKey {
      case kdProtocol = "kd_protocol", name, numOutputs = "num_outputs", labels, embeddingDim = "embedding_dim"
      case tokenizerHash = "tokenizer_hash", checkpoint, error, text
    }
  }

  /// A response line.
  struct Response: Decodable {
    var id: Int64?
    var logits: [Double?]?
    var embedding: [Double?]?
    /// base64 of little-endian float32 values (a compact alternative to `logits`).
    var logitsB64: String?
    var embeddingB64: String?
    var error: String?

    enum CodingKeys: String, CodingKey {
      case id, logits, embedding, logitsB64 = "logits_b64", embeddingB64 = "embedding_b64", error
    }
  }

  /// Creates a teacher for `command`; the process starts in `prepare`.
  public init(
    command: String, responseTimeout: TimeInterval = 600, maxLineBytes: Int = ExternalTeacher.defaultMaxLineBytes,
    exitGrace: TimeInterval = ExternalTeacher.defaultExitGrace
  ) throws {
    guard !command.trimmingCharacters(in: .whitespaces).isEmpty else {
      throw KDError(.usage, "the teacher command is empty", field: "--teacher-cmd")
    }
    guard maxLineBytes > 0 else { throw KDError(.usage, "must be positive", field: "--max-line-bytes") }
    self.command = command
    self.responseTimeout = responseTimeout
    self.maxLineBytes = maxLineBytes
    self.exitGrace = max(0, exitGrace)
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

  /// Whether requests carry the text (false only when the teacher reads token ids and said `"text": false`).
  var sendsText: Bool { !(reply?.text == false && reply?.tokenizerHash != nil) }

  // MARK: Process

  private func start() throws {
    try close()
    timedOut = false
    let p = try TeacherProcess(command: command)
    process = p
    reader = TeacherLineReader(fd: p.outputFD, maxLineBytes: maxLineBytes)
  }

  /// Ends the process: closes its stdin and gives it `exitGrace` seconds to
  /// exit, then ends its process group (SIGTERM, then SIGKILL). Returns within
  /// `exitGrace + 5` seconds whatever the teacher does.
  public func close() throws {
    guard let p = process else { return }
    process = nil
    lastEndNote = p.end(grace: exitGrace)
    reader = nil
  }

  /// Ends the process at once (SIGTERM to its group, SIGKILL 3 s later): after a timeout or a protocol error.
  public func abort() {
    guard let p = process else { return }
    process = nil
    lastEndNote = p.end(grace: 0)
    reader = nil
  }

  var inputFD: Int32 { process?.inputFD ?? -1 }

  func exitNote() -> String {
    guard let d = process?.exitDescription() else { return "" }
    return " (the command \(d))"
  }

  func writeLine(_ line: [UInt8]) throws {
    var data = line
    data.append(0x0A)
    try writeBytes(data)
  }

  func writeBytes(_ data: [UInt8]) throws {
    let fd = inputFD
    guard fd >= 0 else { throw KDError(.io, "cannot write to the teacher command: its input is closed", field: "--teacher-cmd") }
    try data.withUnsafeBytes { p in
      var off = 0
      while off < p.count {
        let n = Foundation.write(fd, p.baseAddress! + off, p.count - off)
        if n < 0 {
          if errno == EINTR { continue }
          throw KDError(.io, "cannot write to the teacher command: \(String(cString: strerror(errno)))\(exitNote())", field: "--teacher-cmd")
        }
        off += n
      }
    }
  }

  /// The error for a teacher that owes an answer and has been silent for `responseTimeout`.
  func timeoutError(_ what: String) -> KDError {
    timedOut = true
    return KDError(
      .io, "the teacher command sent nothing for \(TeacherProcess.seconds(responseTimeout)) while \(what); it was stopped (its process group killed)",
      field: "--response-timeout")
  }

  /// The next line from the teacher's stdout, or nil at end of file.
  /// - Parameters:
  ///   - what: what kd waits for, for the timeout message.
  ///   - owedSince: since when kd has been owed an answer (nil: nothing owed, so a silence is fine);
  ///     by default, since the call. It may throw to stop waiting.
  ///   - interruptible: whether `isInterrupted` ends the wait with an error.
  func readLine(waitingFor what: String, interruptible: Bool = true, owedSince: (() throws -> Date?)? = nil) throws -> [UInt8]? {
    guard var r = reader else { return nil }
    reader = nil  // one owner of the buffer while reading (no copy on write)
    defer { reader = r }
    let started = Date()
    return try r.next { _ in
      if interruptible && self.isInterrupted() {
        throw KDError.interrupted("interrupted while waiting for the teacher command (\(what)); committed work is kept")
      }
      let since: Date?
      if let owedSince { since = try owedSince() } else { since = started }
      if let since, Date().timeIntervalSince(since) >= self.responseTimeout { throw self.timeoutError(what) }
    }
  }

  /// Sends SIGTERM, then SIGKILL, to the teacher's process group without closing
  /// its pipes (threads blocked on them get EOF or EPIPE).
  func killGroup() {
    process?.killGroup()
  }

  var linesRead: Int { reader?.linesRead ?? 0 }

  func decode<T: Decodable>(_ type: T.Type, _ line: [UInt8], what: String, lineNumber: Int? = nil) throws -> T {
    let cleaned = Self.replacingNonFiniteTokens(line)
    do {
      return try JSONDecoder().decode(T.self, from: Data(cleaned))
    } catch {
      let excerpt = TeacherText.printable(line.prefix(120), limit: 120)
      throw KDError(
        .input, "\(what) is not valid protocol JSON (\(TeacherText.printable(Self.describe(error)))): \(excerpt)",
        file: "teacher-cmd stdout", line: lineNumber ?? linesRead)
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
    // The tokenizations kd holds for the task, so that a teacher that knows
    // one of them can read token ids instead of re-tokenizing the text.
    let tokenizations = (try? context.store.otherTokenizations(taskID: task.id, tokenizerID: nil)) ?? []
    let tokenizers: [[String: Any]] = tokenizations.compactMap { t in
      guard let name = t.name, let hash = t.contentHash else { return nil }
      return ["name": name, "content_hash": hash, "examples": t.examples]
    }
    let hello: [String: Any] = [
      "kd_protocol": 1, "task": task.name, "labels": task.labels, "multi_label": task.multiLabel,
      "tokenizers": tokenizers, "window": max(1, window), "encodings": ["json", "f32-base64"],
    ]
    try writeLine(Array(try JSONSerialization.data(withJSONObject: hello, options: [.sortedKeys])))
    guard let line = try readLine(waitingFor: "kd waited for the handshake reply") else {
      throw KDError(.io, "the teacher command closed its output before the handshake\(exitNote())", field: "--teacher-cmd")
    }
    let r = try decode(HandshakeReply.self, line, what: "the handshake reply")
    if let e = r.error {
      throw KDError(.model, "the teacher command refused the task '\(task.name)': \(TeacherText.printable(e))", field: "--teacher-cmd")
    }
    if let v = r.kdProtocol, v != 1 {
      throw KDError(.unsupported, "the teacher speaks protocol version \(v); kd speaks 1", file: "teacher-cmd stdout", line: linesRead, field: "kd_protocol")
    }
    guard let n = r.numOutputs, n > 0 else {
      throw KDError(.input, "the handshake reply lacks a positive num_outputs", file: "teacher-cmd stdout", line: linesRead, field: "num_outputs")
    }
    if let dim = r.embeddingDim, dim <= 0 {
      throw KDError(.input, "embedding_dim must be positive", file: "teacher-cmd stdout", line: linesRead, field: "embedding_dim")
    }
    if r.text == false && r.tokenizerHash == nil {
      throw KDError(
        .input, "\"text\": false needs \"tokenizer_hash\" (without text the teacher must read kd's token ids)",
        file: "teacher-cmd stdout", line: linesRead, field: "text")
    }
    permutation = nil
    if let labels = r.labels {
      guard labels.count == n else {
        throw KDError(.input, "num_outputs is \(n) but \(labels.count) labels are listed", file: "teacher-cmd stdout", line: linesRead, field: "labels")
      }
      guard Set(labels) == Set(task.labels), labels.count == task.labels.count else {
        let lacks = Set(task.labels).subtracting(labels).sorted().map { TeacherText.printable($0, limit: 60) }
        let extra = Set(labels).subtracting(task.labels).sorted().map { TeacherText.printable($0, limit: 60) }
        throw KDError(
          .model, "the teacher's labels do not match task '\(task.name)': teacher lacks \(lacks.prefix(20)), task lacks \(extra.prefix(20))",
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

  /// The request lines of one batch, newline-terminated, in one buffer.
  func encodeRequests(_ batch: [TeacherInput], wantEmbeddings: Bool) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(batch.count * 64)
    let withIDs = reply?.tokenizerHash != nil
    let withText = sendsText
    for (i, input) in batch.enumerated() {
      TeacherRequestEncoder.append(
        id: input.exampleID, text: withText ? input.text : nil, ids: withIDs ? input.ids : nil, embedding: wantEmbeddings,
        endOfBatch: i == batch.count - 1, to: &out)
    }
    return out
  }

  /// Parses and checks one response line: the example id and its result.
  /// - Throws: `KDError` naming the line (and the example) for anything that breaks the protocol.
  func parseResponse(_ line: [UInt8], lineNumber: Int, wantEmbeddings: Bool) throws -> (id: Int64, result: TeacherResult) {
    guard let reply, let n = reply.numOutputs else { throw KDError(.internalError, "external teacher used before prepare") }
    let r = try decode(Response.self, line, what: "a response", lineNumber: lineNumber)
    guard let id = r.id else {
      throw KDError(.input, "a response has no \"id\"", file: "teacher-cmd stdout", line: lineNumber, field: "id")
    }
    if let e = r.error { return (id, .failed(TeacherText.printable(e, limit: 300))) }
    let raw: [Double?]
    if let b = r.logitsB64 {
      raw = try Self.floats(base64: b, field: "logits_b64", exampleID: id, line: lineNumber)
    } else if let l = r.logits {
      raw = l
    } else {
      throw KDError(.input, "the response for example \(id) has neither \"logits\" nor \"error\"", file: "teacher-cmd stdout", line: lineNumber, field: "logits")
    }
    guard raw.count == n else {
      throw KDError(.input, "the response for example \(id) has \(raw.count) logits, expected \(n)", file: "teacher-cmd stdout", line: lineNumber, field: "logits")
    }
    var logits = try Self.finite(raw, field: "logits", exampleID: id, line: lineNumber)
    if let p = permutation { logits = p.map { logits[$0] } }
    var embedding: [Float]?
    if wantEmbeddings {
      let e: [Double?]? = try r.embeddingB64.map { try Self.floats(base64: $0, field: "embedding_b64", exampleID: id, line: lineNumber) } ?? r.embedding
      guard let e, let dim = reply.embeddingDim, e.count == dim else {
        throw KDError(
          .input, "the response for example \(id) has \(r.embedding?.count ?? 0) embedding values, expected \(reply.embeddingDim ?? 0)",
          file: "teacher-cmd stdout", line: lineNumber, field: "embedding")
      }
      embedding = try Self.finite(e, field: "embedding", exampleID: id, line: lineNumber)
    }
    return (id, .output(logits: logits, embedding: embedding))
  }

  /// Little-endian float32 values from base64 (NaN/Infinity become nil, reported by `finite`).
  static func floats(base64: String, field: String, exampleID: Int64, line: Int) throws -> [Double?] {
    guard let d = Data(base64Encoded: base64), d.count % 4 == 0 else {
      throw KDError(
        .input, "the response for example \(exampleID) has a \(field) that is not base64 of float32 values",
        file: "teacher-cmd stdout", line: line, field: field)
    }
    return d.withUnsafeBytes { p in
      (0..<(d.count / 4)).map { i -> Double? in
        let v = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        return v.isFinite ? Double(v) : nil
      }
    }
  }

  public func compute(_ batch: [TeacherInput], wantEmbeddings: Bool) throws -> [TeacherResult] {
    guard reply != nil, inputFD >= 0 else {
      throw KDError(.internalError, "external teacher used before prepare")
    }
    var position: [Int64: Int] = [:]
    for (i, input) in batch.enumerated() {
      guard position[input.exampleID] == nil else {
        throw KDError(.internalError, "example \(input.exampleID) twice in one batch")
      }
      position[input.exampleID] = i
    }
    let requests = encodeRequests(batch, wantEmbeddings: wantEmbeddings)
    // Write on another thread: a teacher that answers while kd still writes
    // must not block on a full pipe (a deadlock otherwise).
    let writer = DispatchGroup()
    nonisolated(unsafe) var writeError: Error?
    writer.enter()
    DispatchQueue.global().async { [self] in
      defer { writer.leave() }
      do { try writeBytes(requests) } catch { writeError = error }
    }
    do {
      var results = [TeacherResult?](repeating: nil, count: batch.count)
      var remaining = batch.count
      while remaining > 0 {
        guard let line = try readLine(waitingFor: "\(remaining) of \(batch.count) requests were unanswered") else {
          let waiting = batch.indices.filter { results[$0] == nil }.prefix(3).map { String(batch[$0].exampleID) }
          throw KDError(
            .io, "the teacher command closed its output with \(remaining) requests unanswered (examples \(waiting.joined(separator: ", ")))\(exitNote())",
            field: "--teacher-cmd")
        }
        let (id, result) = try parseResponse(line, lineNumber: linesRead, wantEmbeddings: wantEmbeddings)
        guard let i = position[id] else {
          throw KDError(.input, "a response names example \(id), which was not requested in this batch", file: "teacher-cmd stdout", line: linesRead, field: "id")
        }
        guard results[i] == nil else {
          throw KDError(.input, "example \(id) was answered twice", file: "teacher-cmd stdout", line: linesRead, field: "id")
        }
        results[i] = result
        remaining -= 1
      }
      // The writer is done once every request was answered (they were all read).
      if writer.wait(timeout: .now() + responseTimeout) == .timedOut { throw timeoutError("kd was still writing requests") }
      if let writeError { throw writeError }
      return results.map { $0 ?? .failed("no answer") }
    } catch {
      // A protocol error or a timeout: end the teacher now (its group), so the writer is released.
      abort()
      _ = writer.wait(timeout: .now() + 5)
      throw error
    }
  }

  /// Checks values from the teacher: each must be a finite number within the float32 range.
  static func finite(_ raw: [Double?], field: String, exampleID: Int64, line: Int) throws -> [Float] {
    var out = [Float](repeating: 0, count: raw.count)
    for (i, v) in raw.enumerated() {
      guard let v, v.isFinite else {
        throw KDError(
          .numeric, "the teacher returned a non-finite value (NaN or Infinity) for example \(exampleID) at \(field)[\(i)]",
          file: "teacher-cmd stdout", line: line, field: field)
      }
      let f = Float(v)
      guard f.isFinite else {
        throw KDError(
          .numeric, "the teacher returned \(v) for example \(exampleID) at \(field)[\(i)], out of the float32 range (|x| > 3.4e38)",
          file: "teacher-cmd stdout", line: line, field: field)
      }
      out[i] = f
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
