import Foundation
import KDCore
import KDStore

extension TeacherCache {
  /// Computes `ids` with an external teacher kept busy: up to `options.window`
  /// batches in flight (`ExternalPipeline`), results stored as batches finish.
  ///
  /// Batches are committed `commitEvery` at a time, like the one-batch path: a
  /// protocol error, a NaN or a timeout rolls back the current chunk only. An
  /// interruption stops sending, stores what the teacher answers within
  /// `ExternalTeacher.exitGrace` seconds, and ends.
  func computePipelined(
    _ ids: [Int64], external: ExternalTeacher, teacher: TeacherRecord, runID: Int64?, summary: inout TeacherCacheSummary
  ) throws {
    progress?(0, ids.count)
    guard !ids.isEmpty else { return }
    let batchSize = max(1, options.batchSize)
    let window = max(1, options.window)
    let commitEvery = max(1, options.commitEvery)
    let parts = stride(from: 0, to: ids.count, by: batchSize).map { Array(ids[$0..<min($0 + batchSize, ids.count)]) }
    let pipeline = ExternalPipeline(teacher: external, window: window, wantEmbeddings: teacher.embeddingDim != nil)
    var pending: [Int: (rows: [TeacherInputRow], owner: [Int], windows: [Int])] = [:]
    var nextPart = 0
    var done = 0
    var drainDeadline: Date?

    func checkInterrupt() {
      if drainDeadline == nil && isInterrupted() {
        interrupted = true
        drainDeadline = Date().addingTimeInterval(external.exitGrace)
        log("interrupted: storing the answers to \(pipeline.inFlight) batches in flight (at most \(Int(external.exitGrace)) s)")
      }
    }

    do {
      var more = true
      while more {
        var chunkSummary = summary
        var stored = 0, examples = 0
        more = try store.transaction {
          while stored < commitEvery {
            checkInterrupt()
            // After a failure, submitting would throw it before the batches answered earlier are stored.
            while drainDeadline == nil && nextPart < parts.count && pipeline.inFlight < window && !pipeline.hasFailed {
              let rows = try store.teacherInputs(parts[nextPart], tokenizerID: tokenizerID)
              let (inputs, owner, windows) = try inputs(rows)
              pending[try pipeline.submit(inputs)] = (rows, owner, windows)
              nextPart += 1
            }
            if pipeline.inFlight == 0 && !pipeline.hasFailed { return false }
            if let d = drainDeadline, Date() >= d { return false }
            guard let c = try pipeline.next() else { continue }
            guard let p = pending.removeValue(forKey: c.number) else {
              throw KDError(.internalError, "batch \(c.number) finished twice")
            }
            try storeResults(
              c.results, rows: p.rows, owner: p.owner, windows: p.windows, teacher: teacher, runID: runID, summary: &chunkSummary)
            stored += 1
            examples += p.rows.count
            progress?(done + examples, ids.count)
          }
          return true
        }
        summary = chunkSummary
        done += examples
        if stored > 0 { afterCommit?(summary.cachedNow) }
      }
    } catch {
      Self.shutDown(pipeline, external)
      throw error
    }
    if pipeline.inFlight > 0 {
      // Interrupted with answers still owed: the teacher is ended at once.
      Self.shutDown(pipeline, external)
    } else {
      pipeline.stop()
    }
    if interrupted && done < ids.count { summary.skipped["interrupted"] = ids.count - done }
  }

  /// Stops the pipeline's threads and the teacher's process group, in the order
  /// that releases a thread blocked on a pipe; every step is bounded.
  static func shutDown(_ pipeline: ExternalPipeline, _ external: ExternalTeacher) {
    pipeline.stop(waiting: 0.5)
    if !pipeline.threadsDone {
      external.killGroup()
      pipeline.stop(waiting: 5)
    }
    if pipeline.threadsDone { external.abort() }
  }
}
