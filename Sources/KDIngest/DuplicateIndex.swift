import KDCore
import KDStore

/// Finds each new example's first earlier copy (same task, identical text)
/// while the file pass inserts it, so a run that only adds files never
/// re-scans the store for duplicates.
///
/// Examples of this run are looked up in memory, earlier ones through the
/// `examples_text_hash` index. New ids are larger than every earlier id, so
/// earlier examples never change their first copy. A run that deletes
/// examples (a changed or pruned file) still recomputes every duplicate
/// (`Store.refreshDuplicates`): a deleted first copy moves the role to another.
final class DuplicateIndex {
  private struct Key: Hashable {
    var task: Int64?
    var hash: UInt64
  }
  private let store: Store
  private let previousMaxID: Int64
  private var firsts: [Key: Int64] = [:]
  /// Keys added by the file being ingested, removed again if it rolls back.
  private var fileKeys: [Key] = []

  init(store: Store, previousMaxID: Int64) {
    self.store = store
    self.previousMaxID = previousMaxID
  }

  /// The first copy of `text` for `task`, or nil when this is the first.
  func firstCopy(task: Int64?, hash: UInt64, text: String) throws -> Int64? {
    let key = Key(task: task, hash: hash)
    if previousMaxID > 0, let id = try store.firstExample(taskID: task, textHash: hash, text: text, maxID: previousMaxID) {
      return id
    }
    guard let id = firsts[key] else { return nil }
    // Same hash: compare the texts, so a hash collision is never a duplicate.
    let first = try store.exampleText(id: id)
    return first == text ? id : nil
  }

  /// Records a stored example (call after `firstCopy` returned nil).
  func added(task: Int64?, hash: UInt64, id: Int64) {
    let key = Key(task: task, hash: hash)
    if firsts[key] == nil {
      firsts[key] = id
      fileKeys.append(key)
    }
  }

  /// The current file committed: its examples stay.
  func fileCommitted() { fileKeys.removeAll(keepingCapacity: true) }

  /// The current file rolled back: its examples (and their ids) are gone.
  func fileAborted() {
    for k in fileKeys { firsts[k] = nil }
    fileKeys.removeAll(keepingCapacity: true)
  }
}
