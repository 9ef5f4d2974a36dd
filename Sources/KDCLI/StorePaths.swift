import Foundation
import KDCore

/// Store paths given on a command line: plain paths, or glob patterns
/// (`'shards/data.shard-*.sqlite'`, quoted so the shell leaves them alone).
public enum StorePaths {
  /// Expands each pattern that contains `*`, `?` or `[` (sorted matches);
  /// other paths are kept as given.
  /// - Throws: `KDError(.io)` when a pattern matches nothing.
  public static func expand(_ patterns: [String]) throws -> [String] {
    var out: [String] = []
    for p in patterns {
      guard p.contains(where: { "*?[".contains($0) }) else {
        out.append(p)
        continue
      }
      var g = glob_t()
      defer { globfree(&g) }
      let rc = glob(p, 0, nil, &g)
      if rc == GLOB_NOMATCH || g.gl_pathc == 0 {
        throw KDError(.io, "no store matches the pattern", file: p)
      }
      guard rc == 0 else { throw KDError(.io, "cannot expand the pattern (glob error \(rc))", file: p) }
      var matches: [String] = []
      for i in 0..<Int(g.gl_pathc) {
        if let c = g.gl_pathv[i] { matches.append(String(cString: c)) }
      }
      // Lock files, WAL and shared-memory files and merge scratch files sit beside stores.
      // Views of stores read together (StoreView) are never inputs themselves.
      out += matches.filter { m in
        ![".lock", "-wal", "-shm", "-journal", ".merging", ".copying"].contains { m.hasSuffix($0) }
          && m.range(of: #"\.view-[0-9a-f]{8}\.sqlite$"#, options: .regularExpression) == nil
      }.sorted()
    }
    return out
  }
}
