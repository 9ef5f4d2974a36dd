import Foundation
import KDStore

/// Runs the tokenization pass on its own thread and SQLite connection while
/// the file pass writes, so the two use both cores. Its transactions
/// interleave with the file pass's through SQLite's write lock (WAL).
final class TokenizerWorker: @unchecked Sendable {
  private let pass: (Store, inout IngestSummary, @escaping () -> Bool) throws -> Void
  private let databasePath: String
  private let lock = NSLock()
  private var producing = true
  private let done = DispatchSemaphore(value: 0)
  private var result: Result<IngestSummary, Error> = .success(IngestSummary())
  private var thread: Thread?

  init?(pass: ((Store, inout IngestSummary, @escaping () -> Bool) throws -> Void)?, databasePath: String, threads: Int) {
    guard let pass else { return nil }
    self.pass = pass
    self.databasePath = databasePath
  }

  func start() {
    let t = Thread { [self] in
      var summary = IngestSummary()
      do {
        let store = try Store.open(path: databasePath)
        try pass(store, &summary) { [self] in
          lock.lock()
          defer { lock.unlock() }
          return producing
        }
        result = .success(summary)
      } catch {
        result = .failure(error)
      }
      done.signal()
    }
    t.stackSize = 8 << 20
    thread = t
    t.start()
  }

  /// Tells the worker that no more examples will arrive, waits for it to
  /// drain the rest, and returns its counts.
  func finish() -> Result<IngestSummary, Error> {
    endOfInput()
    done.wait()
    return result
  }

  /// Tells the worker that no more examples will arrive, without waiting:
  /// it drains the rest on all its threads while the caller goes on.
  func endOfInput() {
    lock.lock()
    producing = false
    lock.unlock()
  }
}
