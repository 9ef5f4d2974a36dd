/// Splits token sequences longer than a teacher accepts into overlapping
/// windows, so that no example is silently truncated.
///
/// A sequence is `[prefix] content… [suffix]`: one leading and one trailing
/// special token (BERT's `[CLS] … [SEP]`, RoBERTa's `<s> … </s>`), as
/// kd-ingest stores it. Each window keeps both specials around a slice of the
/// content of `maxTokens - 2` tokens; consecutive windows overlap by a quarter
/// of that, and the last window ends exactly at the end of the content. The
/// teacher's outputs over the windows are averaged (see `TeacherCache`).
public enum TokenWindows {
  /// The windows of `ids` for a model that accepts at most `maxTokens` tokens
  /// (specials included); `[ids]` itself when it fits.
  public static func split(_ ids: [Int32], maxTokens: Int) -> [[Int32]] {
    guard ids.count > maxTokens, maxTokens >= 3, ids.count >= 2 else { return [ids] }
    let prefix = ids[0], suffix = ids[ids.count - 1]
    let content = ids[1..<(ids.count - 1)]
    let span = maxTokens - 2
    let stride = max(1, span - span / 4)
    var windows: [[Int32]] = []
    var start = content.startIndex
    while true {
      let end = min(start + span, content.endIndex)
      let begin = end - span >= content.startIndex ? end - span : content.startIndex
      var w: [Int32] = [prefix]
      w.append(contentsOf: content[begin..<end])
      w.append(suffix)
      windows.append(w)
      if end == content.endIndex { break }
      start += stride
    }
    return windows
  }
}
