/// Groups sequences of similar length into batches for `BertEncoder.forward`.
public enum LengthBatching {
  /// Indices of `lengths` grouped into batches of similar length.
  ///
  /// Indices are sorted by length (ties keep input order), then cut into
  /// consecutive batches of at most `maxBatch` sequences and at most
  /// `maxTokens` tokens (a single longer sequence still gets its own batch).
  /// Deterministic: the same lengths always give the same batches.
  ///
  /// For example, `batches(lengths: [5, 120, 7, 118], maxBatch: 2, maxTokens: 1000)`
  /// is `[[0, 2], [3, 1]]`.
  public static func batches(lengths: [Int], maxBatch: Int, maxTokens: Int) -> [[Int]] {
    let order = lengths.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
    var out: [[Int]] = []
    var current: [Int] = []
    var tokens = 0
    for i in order {
      if !current.isEmpty && (current.count >= max(1, maxBatch) || tokens + lengths[i] > maxTokens) {
        out.append(current)
        current = []
        tokens = 0
      }
      current.append(i)
      tokens += lengths[i]
    }
    if !current.isEmpty { out.append(current) }
    return out
  }
}
