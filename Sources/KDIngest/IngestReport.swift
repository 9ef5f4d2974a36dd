import Foundation

/// Human-readable rendering of an ingest summary (stderr).
public enum IngestReport {
  public static func text(_ s: IngestSummary) -> String {
    var lines: [String] = []
    if s.dryRun {
      lines.append("dry run on \(s.corpus): nothing written")
      for key in ["new", "changed", "pruned"] {
        for p in s.plan[key] ?? [] { lines.append("  would \(key == "new" ? "add" : key == "changed" ? "replace" : "prune") \(p)") }
      }
      lines.append("files: \(s.filesNew) new, \(s.filesChanged) changed, \(s.filesUnchanged) unchanged, \(s.filesPruned) to prune")
      return lines.joined(separator: "\n")
    }
    if !s.changedAnything {
      lines.append("nothing to do: \(s.filesUnchanged) files unchanged since the last run")
    }
    lines.append("files: \(s.filesSeen) seen, \(s.filesNew) new, \(s.filesChanged) changed, \(s.filesUnchanged) unchanged, \(s.filesFailed) failed, \(s.filesPruned) pruned, \(s.filesSkipped) skipped")
    lines.append("added: \(s.documentsAdded) documents, \(s.examplesAdded) examples" + (s.documentsDeleted > 0 ? "; \(s.documentsDeleted) documents deleted by the source" : "")
      + (s.tokenizer != nil ? "; tokenized \(s.examplesTokenized) examples" : ""))
    if s.duplicates > 0 {
      lines.append("duplicates: \(s.duplicates) examples repeat an earlier text (\(s.duplicatesAcrossSplits) across splits); loaders skip them")
    }
    if s.examplesOverMaxLength > 0 {
      lines.append("note: \(s.examplesOverMaxLength) examples are longer than the tokenizer's max length; use --segment window to split them")
    }
    if !s.totals.isEmpty {
      lines.append("store totals for this corpus (documents / examples / labeled / tokens):")
      for domain in s.totals.keys.sorted() {
        for split in ["train", "validation", "test"] {
          guard let t = s.totals[domain]?[split] else { continue }
          lines.append("  " + pad(domain, 14) + pad(split, 11) + lpad(t.documents, 9) + lpad(t.examples, 10) + lpad(t.labeled, 10) + lpad(t.tokens, 12))
        }
      }
    }
    if !s.errors.isEmpty {
      lines.append("errors:")
      for e in s.errors.prefix(50) {
        lines.append("  \(e.file)\(e.line.map { ":\($0)" } ?? ""): \(e.message)")
      }
      if s.errors.count > 50 { lines.append("  ... \(s.errors.count - 50) more (see --json)") }
    }
    lines.append(String(format: "done in %.1f s (%.1f MB read, %.1f MB/s)", s.seconds, Double(s.bytesRead) / 1e6, s.seconds > 0 ? Double(s.bytesRead) / 1e6 / s.seconds : 0))
    return lines.joined(separator: "\n")
  }

  static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
  static func lpad(_ v: Int, _ n: Int) -> String { let s = String(v); return s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
}
