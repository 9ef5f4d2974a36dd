import Foundation
import KDCore

/// Keeps an external teacher busy: up to `window` batches in flight.
///
/// Three threads share the work, so that the teacher never waits for kd:
/// - the caller (the store's thread) reads inputs from the store, hands
///   batches to `submit`, and stores finished batches from `next`;
/// - a writer thread sends request lines (a full pipe blocks it, not kd);
/// - a reader thread reads, parses and checks responses as they arrive, and
///   completes a batch when its last example is answered.
///
/// Every wait has a deadline: a teacher that owes an answer and stays silent
/// for `responseTimeout` fails the pipeline (`ExternalTeacher.timedOut`).
final class ExternalPipeline: @unchecked Sendable {
  struct Completed {
    var number: Int
    var results: [TeacherResult]
  }

  private final class Batch {
    var results: [TeacherResult?]
    var remaining: Int
    let exampleIDs: [Int64]
    init(_ ids: [Int64]) {
      exampleIDs = ids
      results = [TeacherResult?](repeating: nil, count: ids.count)
      remaining = ids.count
    }
  }

  let teacher: ExternalTeacher
  let window: Int
  let wantEmbeddings: Bool

  private let cond = NSCondition()
  // Guarded by `cond`:
  private var batches: [Int: Batch] = [:]
  private var where_: [Int64: (batch: Int, index: Int)] = [:]
  private var completed: [Completed] = []
  private var failure: Error?
  private var writeQueue: [[UInt8]] = []
  private var writerDone = false
  private var readerDone = false
  private var stopping = false
  /// When kd last heard from the teacher, or started owing it nothing.
  private var lastHeard = Date()
  private var nextNumber = 0

  private var threads: [Thread] = []

  init(teacher: ExternalTeacher, window: Int, wantEmbeddings: Bool) {
    self.teacher = teacher
    self.window = max(1, window)
    self.wantEmbeddings = wantEmbeddings
    let w = Thread { [unowned self] in self.writerLoop() }
    let r = Thread { [unowned self] in self.readerLoop() }
    w.name = "kd-teacher-writer"
    r.name = "kd-teacher-reader"
    threads = [w, r]
    w.start()
    r.start()
  }

  /// Batches sent and not yet fully answered (or answered and not yet taken by `next`).
  var inFlight: Int {
    cond.lock(); defer { cond.unlock() }
    return batches.count + completed.count
  }

  /// Whether the reader or writer has failed. Submit nothing more then: `next` still hands out the
  /// batches answered before the failure (they are committed), then throws it.
  var hasFailed: Bool {
    cond.lock(); defer { cond.unlock() }
    return failure != nil
  }

  /// Sends a batch (non-blocking: the writer thread writes it). - Returns: its number.
  func submit(_ inputs: [TeacherInput]) throws -> Int {
    let bytes = teacher.encodeRequests(inputs, wantEmbeddings: wantEmbeddings)
    cond.lock(); defer { cond.unlock() }
    if let failure { throw failure }
    let n = nextNumber
    nextNumber += 1
    for (i, input) in inputs.enumerated() {
      guard where_[input.exampleID] == nil else {
        throw KDError(.internalError, "example \(input.exampleID) is already in flight")
      }
      where_[input.exampleID] = (n, i)
    }
    if batches.isEmpty && completed.isEmpty { lastHeard = Date() }
    batches[n] = Batch(inputs.map(\.exampleID))
    writeQueue.append(bytes)
    cond.broadcast()
    return n
  }

  /// The next fully answered batch, waiting at most `slice` seconds (nil: none yet).
  /// - Throws: the reader's or writer's failure (protocol error, timeout, dead teacher).
  func next(slice: TimeInterval = 0.25) throws -> Completed? {
    cond.lock(); defer { cond.unlock() }
    let deadline = Date().addingTimeInterval(slice)
    while completed.isEmpty && failure == nil {
      if !cond.wait(until: deadline) { break }
    }
    if !completed.isEmpty { return completed.removeFirst() }
    if let failure { throw failure }
    return nil
  }

  /// Stops both threads (call after the teacher was ended or on the way out); waits at most `seconds`.
  func stop(waiting seconds: TimeInterval = 5) {
    cond.lock()
    stopping = true
    cond.broadcast()
    cond.unlock()
    let deadline = Date().addingTimeInterval(seconds)
    cond.lock()
    while !(writerDone && readerDone) {
      if !cond.wait(until: deadline) { break }
    }
    cond.unlock()
  }

  private var isStopping: Bool {
    cond.lock(); defer { cond.unlock() }
    return stopping
  }

  /// Whether both threads have ended.
  var threadsDone: Bool {
    cond.lock(); defer { cond.unlock() }
    return writerDone && readerDone
  }

  private func fail(_ error: Error) {
    cond.lock()
    if failure == nil { failure = error }
    cond.broadcast()
    cond.unlock()
  }

  private func writerLoop() {
    defer {
      cond.lock(); writerDone = true; cond.broadcast(); cond.unlock()
    }
    while true {
      cond.lock()
      while writeQueue.isEmpty && !stopping && failure == nil { cond.wait() }
      if stopping || failure != nil { cond.unlock(); return }
      let bytes = writeQueue.removeFirst()
      cond.unlock()
      do {
        try teacher.writeBytes(bytes)
      } catch {
        // The teacher closed its input (it died or gave up): the reader reports
        // what follows (end of output with its exit status, or a timeout).
        return
      }
    }
  }

  private func readerLoop() {
    defer {
      cond.lock(); readerDone = true; cond.broadcast(); cond.unlock()
    }
    do {
      while true {
        let line = try teacher.readLine(waitingFor: "answers to batches in flight were owed", interruptible: false) { [self] in
          cond.lock(); defer { cond.unlock() }
          if stopping { throw StopReading() }
          if batches.isEmpty { lastHeard = Date(); return nil }
          return lastHeard
        }
        if isStopping { return }
        guard let line else {
          cond.lock()
          let owed = batches.values.reduce(0) { $0 + $1.remaining }
          let waiting = batches.keys.sorted().lazy.flatMap { [batches] k in
            batches[k]!.exampleIDs.enumerated().filter { batches[k]!.results[$0.offset] == nil }.map(\.element)
          }.prefix(3).map(String.init)
          cond.unlock()
          if owed > 0 {
            throw KDError(
              .io, "the teacher command closed its output with \(owed) requests unanswered (examples \(waiting.joined(separator: ", ")))\(teacher.exitNote())",
              field: "--teacher-cmd")
          }
          return
        }
        let lineNumber = teacher.linesRead
        let (id, result) = try teacher.parseResponse(line, lineNumber: lineNumber, wantEmbeddings: wantEmbeddings)
        cond.lock()
        lastHeard = Date()
        guard let (b, i) = where_[id], let batch = batches[b] else {
          cond.unlock()
          throw KDError(
            .input, "a response names example \(id), which is not among the requests in flight (answered twice, or never requested)",
            file: "teacher-cmd stdout", line: lineNumber, field: "id")
        }
        where_[id] = nil
        batch.results[i] = result
        batch.remaining -= 1
        if batch.remaining == 0 {
          batches[b] = nil
          completed.append(Completed(number: b, results: batch.results.map { $0 ?? .failed("no answer") }))
          cond.broadcast()
        }
        cond.unlock()
      }
    } catch is StopReading {
      return
    } catch {
      fail(error)
    }
  }

  private struct StopReading: Error {}
}
