import CSQLite
import Foundation
import KDCore

/// What `StoreMerge.merge` did: the `--json` summary of kd-merge.
public struct MergeSummary: Codable, Sendable, Equatable {
  public var output: String
  public var inputs: [String]
  /// `N` when the inputs were the N shards of one corpus.
  public var shardCount: Int?
  public var upToDate = false
  public var sources = 0
  public var documents = 0
  public var examples = 0
  public var duplicates = 0
  public var teachers = 0
  public var teacherOutputs = 0
  /// Outputs cached in a shard for an example that is a duplicate of one in another shard (not kept).
  public var teacherOutputsOfDuplicatesDropped = 0
  public var runsKept = 0
  public var seconds: Double = 0
}

/// Combines shard stores into one store that equals what one unsharded run
/// would have written: the same examples in the same order (so the same ids,
/// splits and training order), labels matched by name, token ids and teacher
/// outputs carried over (logits re-ordered when label positions differ), and
/// duplicates recomputed across all of them.
///
/// - Idempotent: the output records each input's fingerprint
///   (`merged_stores`); a rerun on unchanged inputs does nothing.
/// - Crash-safe: the output is built in `<output>.merging` and renamed over the
///   output only when complete, so `kill -9` at any moment leaves either the old
///   output or the new one, and a rerun starts the build again.
/// - Provenance: every input's `runs` and `sources` rows are kept, plus one
///   `merged_stores` row per input and a `merge` run.
/// - Refuses inputs that disagree (schema versions, tokenizers, label sets of a
///   task with a teacher, teachers of the same name), naming both files, and a
///   missing shard, by number.
public enum StoreMerge {
  /// Merges `inputs` into `output`.
  /// - Parameter afterSource: test hook, called after each source is copied (to kill a merge half-way).
  public static func merge(
    inputs: [String], output: String, commandLine: [String], lockTimeout: TimeInterval = 600,
    log: @escaping (String) -> Void = { _ in }, afterSource: (() -> Void)? = nil
  ) throws -> MergeSummary {
    let started = Date()
    var summary = MergeSummary(output: output, inputs: inputs)
    guard !inputs.isEmpty else { throw KDError(.usage, "no input stores", field: "INPUT") }
    let outAbs = URL(fileURLWithPath: output).standardizedFileURL.path
    var seen: [String: String] = [:]
    for p in inputs {
      guard FileManager.default.fileExists(atPath: p) else { throw KDError(.io, "no such store", file: p) }
      let abs = URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path
      if abs == outAbs { throw KDError(.usage, "the output is also an input", file: p) }
      if let other = seen[abs] { throw KDError(.usage, "the same store is given twice (\(other) and \(p))", file: p) }
      seen[abs] = p
    }
    let lock = try WriterLock(databasePath: output, stage: "kd-merge", timeout: lockTimeout, onWait: log)
    defer { lock.release() }

    let stores = try openInputs(inputs)
    summary.shardCount = try checkShards(stores)
    try checkTokenizers(stores)
    try checkTasksAndTeachers(stores)
    let fingerprints = try stores.map { try $0.store.fingerprint() }

    if FileManager.default.fileExists(atPath: output) {
      try Store.refuseEmptyFile(output)
      let existing = try Store.open(path: output, readOnly: true)
      let recorded = try existing.mergedFingerprints()
      if recorded.isEmpty {
        throw KDError(.usage, "the output exists and was not written by kd-merge; pick another path (kd-merge never overwrites a store it did not make)", file: output)
      }
      if recorded.sorted() == fingerprints.sorted() {
        summary.upToDate = true
        summary.examples = try existing.exampleCount()
        summary.seconds = Date().timeIntervalSince(started)
        log("\(output) is up to date with its \(inputs.count) inputs")
        return summary
      }
      log("\(output) was merged from other inputs: rebuilding it")
    }

    let temp = output + ".merging"
    for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: temp + suffix) }
    do {
      if stores.first?.shard?.kind == .examples {
        // Teacher shards are copies of one store: start from shard 0's copy, add the others' outputs.
        let base = stores.sorted { $0.shard!.shard.index < $1.shard!.shard.index }
        try base[0].store.db.run("VACUUM INTO ?", [.text(temp)])
        let out = try Store.open(path: temp)
        try out.db.transaction {
          try ExampleShardMerger(out: out, inputs: base, afterSource: afterSource)
            .merge(commandLine: commandLine, fingerprints: base.map { try $0.store.fingerprint() }, summary: &summary)
        }
        try refitCalibrations(out)
        try out.db.execute("PRAGMA journal_mode=DELETE")
      } else {
        let out = try Store.open(path: temp)
        try out.db.transaction {
          try Builder(out: out, inputs: stores, log: log, afterSource: afterSource)
            .build(commandLine: commandLine, fingerprints: fingerprints, summary: &summary)
        }
        try refitCalibrations(out)
        try out.db.execute("PRAGMA journal_mode=DELETE")
      }
    }
    // The build is complete and in one file: replace the output.
    for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: output + suffix) }
    guard rename(temp, output) == 0 else {
      throw KDError(.io, "cannot rename the merged store into place: \(String(cString: strerror(errno)))", file: output)
    }
    summary.seconds = Date().timeIntervalSince(started)
    return summary
  }

  /// Each shard fitted its teacher's calibration temperature on its own validation outputs, and the
  /// merged teacher came with the first shard's: refit every teacher on all of its merged outputs, as one
  /// unsharded kd-teacher-cache run does after caching (the loader divides the logits by it, so the student
  /// depends on it). Runs on the `.merging` file, before the rename.
  static func refitCalibrations(_ out: Store) throws {
    for t in try out.teachers() {
      guard let task = t.taskID else { continue }
      try out.fitTeacherCalibration(teacher: t, taskID: task)
    }
  }

  struct Input {
    var path: String
    var store: Store
    var shard: StoreShard?
  }

  static func openInputs(_ paths: [String]) throws -> [Input] {
    var versions: [(String, Int)] = []
    for p in paths {
      try Store.refuseEmptyFile(p)
      let raw = try Database(path: p, readOnly: true)
      let v: Int
      do { v = Int(try raw.scalarInt("PRAGMA user_version") ?? 0) } catch let e as DatabaseError {
        throw KDError(.database, "not a kd store (\(e.message))", file: p)
      }
      if let first = versions.first, first.1 != v {
        throw KDError(.schema, "schema version \(first.1) in \(first.0) but \(v) in \(p): run the same kd on both (kd-ingest migrates a store) before merging", file: p)
      }
      versions.append((p, v))
    }
    return try paths.map { p in
      let s = try Store.open(path: p, readOnly: true)
      return Input(path: p, store: s, shard: try s.storeShard())
    }
  }

  /// All inputs are whole stores, or exactly the N shards of one corpus.
  static func checkShards(_ inputs: [Input]) throws -> Int? {
    let sharded = inputs.filter { $0.shard != nil }
    if sharded.isEmpty { return nil }
    if let whole = inputs.first(where: { $0.shard == nil }) {
      throw KDError(.input, "\(sharded[0].path) holds \(sharded[0].shard!) but \(whole.path) a whole corpus: merge shards of one corpus only", file: whole.path)
    }
    let first = sharded[0]
    var byIndex: [Int: String] = [:]
    for i in sharded {
      let s = i.shard!
      if s.kind != first.shard!.kind || s.shard.count != first.shard!.shard.count {
        throw KDError(.input, "\(first.path) holds \(first.shard!) but \(i.path) holds \(s): all shards must come from one --shard K/N split", file: i.path)
      }
      if let other = byIndex[s.shard.index] {
        throw KDError(.input, "\(other) and \(i.path) are both shard \(s.shard.index) of \(s.shard.count)", file: i.path)
      }
      byIndex[s.shard.index] = i.path
    }
    let n = first.shard!.shard.count
    let missing = (0..<n).filter { byIndex[$0] == nil }
    if !missing.isEmpty {
      throw KDError(
        .input,
        "shard\(missing.count > 1 ? "s" : "") \(missing.map(String.init).joined(separator: ", ")) of \(n) \(missing.count > 1 ? "are" : "is") missing (inputs hold \(byIndex.keys.sorted().map(String.init).joined(separator: ", ")))",
        field: "INPUT")
    }
    return n
  }

  /// Every input that holds token ids uses the same tokenizers.
  static func checkTokenizers(_ inputs: [Input]) throws {
    var first: (path: String, set: [String: String])?
    for i in inputs {
      let toks = try i.store.tokenizerHashes()
      if toks.isEmpty { continue }
      guard let f = first else { first = (i.path, toks); continue }
      if Set(toks.keys) != Set(f.set.keys) {
        func names(_ d: [String: String]) -> String { d.sorted { $0.key < $1.key }.map { "'\($0.value)' (\($0.key))" }.joined(separator: ", ") }
        throw KDError(.input, "tokenizers differ: \(f.path) has \(names(f.set)), \(i.path) has \(names(toks)); ingest every shard with the same --tokenizer", file: i.path)
      }
    }
  }

  /// Tasks agree on multi-label; a task with teacher outputs has the same label
  /// set everywhere (outputs are per label); teachers of one name are one teacher.
  static func checkTasksAndTeachers(_ inputs: [Input]) throws {
    var tasks: [String: (path: String, multi: Bool, labels: Set<String>)] = [:]
    var taught = Set<String>()
    for i in inputs { for t in try i.store.teachers() { if let id = t.taskID, let task = try i.store.taskName(id: id) { taught.insert(task) } } }
    for i in inputs {
      for t in try i.store.tasks() {
        let labels = Set(t.labels)
        if let f = tasks[t.name] {
          if f.multi != t.multiLabel {
            throw KDError(.input, "task '\(t.name)' is multi-label in \(f.multi ? f.path : i.path) but not in \(f.multi ? i.path : f.path)", file: i.path)
          }
          if taught.contains(t.name) && f.labels != labels {
            let onlyA = f.labels.subtracting(labels).sorted(), onlyB = labels.subtracting(f.labels).sorted()
            throw KDError(
              .input,
              "label sets of task '\(t.name)' differ: only in \(f.path): [\(onlyA.joined(separator: ", "))]; only in \(i.path): [\(onlyB.joined(separator: ", "))]. Teacher outputs are per label, so declare the label set in the manifest",
              file: i.path)
          }
        } else {
          tasks[t.name] = (i.path, t.multiLabel, labels)
        }
      }
    }
    var teachers: [String: (path: String, t: TeacherRecord, tok: String?, task: String?)] = [:]
    for i in inputs {
      for t in try i.store.teachers() {
        let tok = try t.tokenizerID.flatMap { try i.store.tokenizerHash(id: $0) }
        let task = try t.taskID.flatMap { try i.store.taskName(id: $0) }
        guard let f = teachers[t.name] else { teachers[t.name] = (i.path, t, tok, task); continue }
        var diffs: [String] = []
        if f.t.kind != t.kind { diffs.append("kind \(f.t.kind) vs \(t.kind)") }
        if f.task != task { diffs.append("task \(f.task ?? "none") vs \(task ?? "none")") }
        if f.tok != tok { diffs.append("tokenizer \(f.tok ?? "none") vs \(tok ?? "none")") }
        if f.t.checkpointHash != t.checkpointHash { diffs.append("checkpoint \(f.t.checkpointHash ?? "none") vs \(t.checkpointHash ?? "none")") }
        if f.t.numOutputs != t.numOutputs { diffs.append("outputs \(f.t.numOutputs) vs \(t.numOutputs)") }
        if f.t.storage != t.storage { diffs.append("storage \(f.t.storage.name) vs \(t.storage.name)") }
        if f.t.embeddingDim != t.embeddingDim { diffs.append("embeddings \(f.t.embeddingDim.map(String.init) ?? "none") vs \(t.embeddingDim.map(String.init) ?? "none")") }
        if f.t.headBlob != t.headBlob {
          diffs.append("fitted head differs (each shard fitted its own: fit it once, or use a teacher with its own head)")
        }
        if !diffs.isEmpty {
          throw KDError(.input, "teacher '\(t.name)' differs between \(f.path) and \(i.path): \(diffs.joined(separator: "; "))", file: i.path)
        }
      }
    }
  }

  /// Copies rows into the output in the order one unsharded kd-ingest would have written them.
  final class Builder {
    let out: Store
    let inputs: [Input]
    let log: (String) -> Void
    let afterSource: (() -> Void)?
    var runMap: [[Int64: Int64]]
    var taskMap: [[Int64: Int64]]
    var labelMap: [[Int64: Int64]]
    var tokenizerMap: [[Int64: Int64]]
    var exampleMap: [[Int64: Int64]]
    var columns: [String: [String]] = [:]

    init(out: Store, inputs: [Input], log: @escaping (String) -> Void, afterSource: (() -> Void)?) {
      self.out = out
      self.inputs = inputs
      self.log = log
      self.afterSource = afterSource
      let empty = [[Int64: Int64]](repeating: [:], count: inputs.count)
      runMap = empty; taskMap = empty; labelMap = empty; tokenizerMap = empty; exampleMap = empty
    }

    func cols(_ table: String) throws -> [String] {
      if let c = columns[table] { return c }
      let s = try out.db.prepare("SELECT name FROM pragma_table_info(?) ORDER BY cid")
      try s.bind([.text(table)])
      var c: [String] = []
      while try s.step() { c.append(s.text(0)) }
      columns[table] = c
      return c
    }

    /// Rows of `table` in input `i` (every column, in schema order).
    func rows(_ i: Int, _ table: String, where clause: String = "", _ args: [SQLValue] = [], order: String = "")
      throws -> [[SQLValue]]
    {
      let c = try cols(table)
      let s = try inputs[i].store.db.prepare(
        "SELECT \(c.joined(separator: ", ")) FROM \(table) \(clause.isEmpty ? "" : "WHERE " + clause) \(order.isEmpty ? "" : "ORDER BY " + order)")
      try s.bind(args)
      var out: [[SQLValue]] = []
      while try s.step() {
        var row: [SQLValue] = []
        for k in 0..<Int32(c.count) {
          switch sqlite3_column_type(s.sqliteStatement, k) {
          case SQLITE_NULL: row.append(.null)
          case SQLITE_INTEGER: row.append(.int(s.int64(k)))
          case SQLITE_FLOAT: row.append(.double(s.double(k)))
          case SQLITE_BLOB: row.append(.blob(s.blob(k)))
          default: row.append(.text(s.text(k)))
          }
        }
        out.append(row)
      }
      return out
    }

    func insert(_ table: String, _ row: [SQLValue]) throws -> Int64 {
      let c = try cols(table)
      let s = try out.db.cached(
        "INSERT INTO \(table) (\(c.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: c.count).joined(separator: ", ")))")
      try s.bind(row)
      _ = try s.step()
      s.reset()
      return out.db.lastInsertRowID
    }

    func index(_ table: String, _ column: String) throws -> Int {
      guard let i = try cols(table).firstIndex(of: column) else {
        throw KDError(.internalError, "no column \(column) in \(table)")
      }
      return i
    }

    static func int(_ v: SQLValue) -> Int64? { if case .int(let i) = v { return i }; return nil }
    static func text(_ v: SQLValue) -> String? { if case .text(let t) = v { return t }; return nil }

    func mapped(_ v: SQLValue, _ map: [Int64: Int64]) -> SQLValue {
      guard let old = Self.int(v) else { return .null }
      return map[old].map { .int($0) } ?? .null
    }

    func build(commandLine: [String], fingerprints: [String], summary: inout MergeSummary) throws {
      // Runs first (provenance), in input order, then this merge's own run.
      for i in inputs.indices {
        for var r in try rows(i, "runs", order: "id") {
          let old = Self.int(r[0])!
          r[0] = .null
          runMap[i][old] = try insert("runs", r)
          summary.runsKept += 1
        }
      }
      let runID = try out.beginRun(stage: "merge", commandLine: commandLine)

      // Sources in the order kd-ingest processes files: largest first, then by path.
      struct SourceRef { var input: Int; var id: Int64; var root: String; var path: String; var size: Int64 }
      var refs: [SourceRef] = []
      var paths: [String: String] = [:]
      for i in inputs.indices {
        let s = try inputs[i].store.db.prepare("SELECT id, root, path, size FROM sources ORDER BY id")
        while try s.step() {
          let key = s.text(1) + "\u{0}" + s.text(2)
          if let other = paths[key] {
            throw KDError(.input, "\(other) and \(inputs[i].path) both hold corpus file \(s.text(2))", file: inputs[i].path)
          }
          paths[key] = inputs[i].path
          refs.append(SourceRef(input: i, id: s.int64(0), root: s.text(1), path: s.text(2), size: s.int64(3)))
        }
      }
      refs.sort { a, b in
        a.root != b.root ? a.root < b.root : (a.size != b.size ? a.size > b.size : a.path < b.path)
      }
      let sTask = try index("sources", "task_id"), sRun = try index("sources", "run_id")
      let dSource = try index("documents", "source_id")
      let eDoc = try index("examples", "document_id"), eTask = try index("examples", "task_id"), eDup = try index("examples", "duplicate_of")
      for ref in refs {
        let i = ref.input
        guard var src = try rows(i, "sources", where: "id = ?", [.int(ref.id)]).first else { continue }
        src[0] = .null
        src[sTask] = try mapTask(i, src[sTask])
        src[sRun] = mapped(src[sRun], runMap[i])
        let sourceID = try insert("sources", src)
        summary.sources += 1
        var docMap: [Int64: Int64] = [:]
        for var d in try rows(i, "documents", where: "source_id = ?", [.int(ref.id)], order: "id") {
          let old = Self.int(d[0])!
          d[0] = .null
          d[dSource] = .int(sourceID)
          let new = try insert("documents", d)
          docMap[old] = new
          summary.documents += 1
          for l in try rows(i, "document_labels", where: "document_id = ?", [.int(old)]) {
            _ = try insert("document_labels", [.int(new), .int(try mapLabel(i, Self.int(l[1])!))])
          }
        }
        let examples = try rows(
          i, "examples", where: "document_id IN (SELECT id FROM documents WHERE source_id = ?)", [.int(ref.id)], order: "id")
        for var e in examples {
          let old = Self.int(e[0])!
          e[0] = .null
          e[eDoc] = .int(docMap[Self.int(e[eDoc])!]!)
          e[eTask] = try mapTask(i, e[eTask])
          e[eDup] = .null
          let new = try insert("examples", e)
          exampleMap[i][old] = new
          summary.examples += 1
          for l in try rows(i, "example_labels", where: "example_id = ?", [.int(old)]) {
            _ = try insert("example_labels", [.int(new), .int(try mapLabel(i, Self.int(l[1])!))])
          }
          for var t in try rows(i, "tokenizations", where: "example_id = ?", [.int(old)], order: "tokenizer_id") {
            t[0] = .int(new)
            t[1] = .int(try mapTokenizer(i, Self.int(t[1])!))
            _ = try insert("tokenizations", t)
          }
        }
        afterSource?()
      }
      // Labels no example or document used (declared ones), in each input's order.
      for i in inputs.indices {
        for l in try rows(i, "labels", order: "task_id, position") { _ = try mapLabel(i, Self.int(l[0])!) }
        for t in try rows(i, "tasks", order: "id") { _ = try mapTask(i, t[0]) }
      }
      // Duplicates across shards first: one unsharded run never caches a duplicate's outputs.
      summary.duplicates = try out.refreshDuplicates().duplicates
      try copyTeachers(summary: &summary)
      for (i, input) in inputs.enumerated() {
        try out.db.run(
          "INSERT INTO merged_stores (path, fingerprint, shard_kind, shard_index, shard_count, examples, run_id, merged_at) VALUES (?,?,?,?,?,?,?,?)",
          [.text(input.path), .text(fingerprints[i]), .optional(input.shard?.kind.rawValue),
           .optional(input.shard.map { Int64($0.shard.index) }), .optional(input.shard.map { Int64($0.shard.count) }),
           .int(Int64(exampleMap[i].count)), .int(runID), .text(Store.now())])
      }
      try out.endRun(runID, status: .ok, counts: [
        "inputs": inputs.count, "sources": summary.sources, "documents": summary.documents, "examples": summary.examples,
        "teachers": summary.teachers, "teacher_outputs": summary.teacherOutputs, "duplicates": summary.duplicates,
      ])
    }

    func mapTask(_ i: Int, _ v: SQLValue) throws -> SQLValue {
      guard let old = Self.int(v) else { return .null }
      if let new = taskMap[i][old] { return .int(new) }
      guard let row = try rows(i, "tasks", where: "id = ?", [.int(old)]).first, let name = Self.text(row[1]) else {
        throw KDError(.input, "task \(old) is referenced but missing", file: inputs[i].path)
      }
      let new = try out.taskID(named: name, multiLabel: Self.int(row[2]) == 1)
      taskMap[i][old] = new
      return .int(new)
    }

    func mapLabel(_ i: Int, _ old: Int64) throws -> Int64 {
      if let new = labelMap[i][old] { return new }
      guard let row = try rows(i, "labels", where: "id = ?", [.int(old)]).first, let name = Self.text(row[2]) else {
        throw KDError(.input, "label \(old) is referenced but missing", file: inputs[i].path)
      }
      guard let task = Self.int(try mapTask(i, row[1])) else { throw KDError(.input, "label \(old) has no task", file: inputs[i].path) }
      let new = try out.labelID(task: task, name: name)
      labelMap[i][old] = new
      return new
    }

    func mapTokenizer(_ i: Int, _ old: Int64) throws -> Int64 {
      if let new = tokenizerMap[i][old] { return new }
      guard let row = try rows(i, "tokenizers", where: "id = ?", [.int(old)]).first, let hash = Self.text(row[2]) else {
        throw KDError(.input, "tokenizer \(old) is referenced but missing", file: inputs[i].path)
      }
      let new: Int64
      if let id = try out.tokenizerID(contentHash: hash) {
        new = id
      } else {
        var r = row
        r[0] = .null
        new = try insert("tokenizers", r)
      }
      tokenizerMap[i][old] = new
      return new
    }

    /// Teachers (by name) and their outputs; logits follow the merged label positions.
    func copyTeachers(summary: inout MergeSummary) throws {
      var made: [String: (id: Int64, numOutputs: Int, storage: TeacherStorage, task: Int64?)] = [:]
      for i in inputs.indices {
        for t in try inputs[i].store.teachers() {
          if made[t.name] == nil {
            let task = try t.taskID.map { try Self.int(mapTask(i, .int($0)))! }
            let id = try out.insertTeacher(NewTeacher(
              name: t.name, kind: t.kind, taskID: task, tokenizerID: try t.tokenizerID.map { try mapTokenizer(i, $0) },
              checkpointHash: t.checkpointHash, configJSON: t.configJSON, headJSON: t.headJSON, headBlob: t.headBlob,
              storage: t.storage, numOutputs: t.numOutputs, embeddingDim: t.embeddingDim,
              runID: t.runID.flatMap { runMap[i][$0] }))
            made[t.name] = (id, t.numOutputs, t.storage, task)
            summary.teachers += 1
          }
          let target = made[t.name]!
          // Output position in this input -> position in the merged store (nil: unchanged).
          var permutation: [Int]?
          if let task = t.taskID, let mergedTask = target.task {
            let local = try inputs[i].store.labelPositions(task: task)
            let merged = try out.labelPositions(task: mergedTask)
            if local.count == t.numOutputs {
              var p = [Int](repeating: 0, count: t.numOutputs)
              for (name, pos) in local {
                guard let m = merged[name], m < t.numOutputs else {
                  throw KDError(.input, "teacher '\(t.name)': label '\(name)' has no place among the merged labels", file: inputs[i].path)
                }
                p[pos] = m
              }
              if p != Array(0..<t.numOutputs) { permutation = p }
            }
          }
          let s = try inputs[i].store.db.prepare(
            "SELECT example_id, logits, embedding, run_id FROM teacher_outputs WHERE teacher_id = ? ORDER BY example_id")
          try s.bind([.int(t.id)])
          let isDuplicate = try out.db.cached("SELECT duplicate_of IS NOT NULL FROM examples WHERE id = ?")
          while try s.step() {
            guard let example = exampleMap[i][s.int64(0)] else { continue }
            try isDuplicate.bind([.int(example)])
            let duplicate = try isDuplicate.step() && isDuplicate.int(0) == 1
            isDuplicate.reset()
            if duplicate { summary.teacherOutputsOfDuplicatesDropped += 1; continue }
            var logits = s.blob(1)
            if let permutation {
              let decoded = try logits.withUnsafeBytes {
                try TeacherOutputCodec.decode($0, storage: t.storage, numOutputs: t.numOutputs)
              }
              logits = Self.permute(decoded, permutation, storage: t.storage, numOutputs: t.numOutputs)
            }
            try out.insertTeacherOutput(
              teacherID: target.id, exampleID: example, logits: logits, embedding: s.isNull(2) ? nil : s.blob(2),
              runID: s.isNull(3) ? nil : runMap[i][s.int64(3)])
            summary.teacherOutputs += 1
          }
        }
      }
    }

    static func permute(_ l: TeacherLogits, _ p: [Int], storage: TeacherStorage, numOutputs: Int) -> [UInt8] {
      if l.isDense {
        var v = [Float](repeating: 0, count: numOutputs)
        for (j, x) in l.values.enumerated() { v[p[j]] = x }
        return TeacherOutputCodec.encode(v, storage: storage)
      }
      // Top-k: rebuild a dense vector with -inf outside the kept entries, re-encode the same k.
      var v = [Float](repeating: -.infinity, count: numOutputs)
      for (j, c) in l.indices.enumerated() { v[p[Int(c)]] = l.values[j] }
      return TeacherOutputCodec.encode(v, storage: storage)
    }
  }
}

/// Merges teacher shards (`kd-teacher-cache --shard K/N` from one whole
/// store): every input is a copy of the same corpus, each with the outputs of
/// its own examples. The output is shard 0's copy plus every other shard's
/// outputs and runs.
struct ExampleShardMerger {
  let out: Store
  let inputs: [StoreMerge.Input]
  let afterSource: (() -> Void)?

  func merge(commandLine: [String], fingerprints: [String], summary: inout MergeSummary) throws {
    let corpus = try inputs.map { try $0.store.corpusFingerprint() }
    for (k, c) in corpus.enumerated() where c != corpus[0] {
      throw KDError(.input, "\(inputs[0].path) and \(inputs[k].path) are copies of different corpora (the whole store changed between shards): rerun the teacher shards from one store", file: inputs[k].path)
    }
    try out.db.run("DELETE FROM store_shard")
    // Runs of shard 0 came with the copy (they include the whole store's runs,
    // shared by every copy); each other shard's own runs are appended.
    func key(_ st: Statement) -> String { "\(st.text(1))|\(st.text(4))|\(st.int64(5))|\(st.text(6))" }
    let runSQL = "SELECT id, stage, command_line, kd_version, host, pid, started_at, ended_at, status, counts_json, error FROM runs ORDER BY id"
    var shared = Set<String>()
    let base = try inputs[0].store.db.prepare(runSQL)
    while try base.step() { shared.insert(key(base)) }
    summary.runsKept = shared.count
    var runMaps: [[Int64: Int64]] = [[:]]
    for i in inputs.indices.dropFirst() {
      var map: [Int64: Int64] = [:]
      let s = try inputs[i].store.db.prepare(runSQL)
      while try s.step() {
        if shared.contains(key(s)) { continue }
        try out.db.run(
          "INSERT INTO runs (stage, command_line, kd_version, host, pid, started_at, ended_at, status, counts_json, error) VALUES (?,?,?,?,?,?,?,?,?,?)",
          [.text(s.text(1)), .text(s.text(2)), .text(s.text(3)), .text(s.text(4)), .int(s.int64(5)), .text(s.text(6)),
           .optional(s.optionalText(7)), .text(s.text(8)), .optional(s.optionalText(9)), .optional(s.optionalText(10))])
        map[s.int64(0)] = out.db.lastInsertRowID
        summary.runsKept += 1
      }
      runMaps.append(map)
    }
    let runID = try out.beginRun(stage: "merge", commandLine: commandLine)
    var teacherIDs: [String: Int64] = [:]
    for t in try out.teachers() { teacherIDs[t.name] = t.id }
    summary.teacherOutputs = Int(try out.db.scalarInt("SELECT COUNT(*) FROM teacher_outputs") ?? 0)
    for i in inputs.indices.dropFirst() {
      for t in try inputs[i].store.teachers() {
        let id: Int64
        if let existing = teacherIDs[t.name] {
          id = existing
        } else {
          id = try out.insertTeacher(NewTeacher(
            name: t.name, kind: t.kind, taskID: t.taskID, tokenizerID: try t.tokenizerID.flatMap { try inputs[i].store.tokenizerHash(id: $0) }.flatMap { try out.tokenizerID(contentHash: $0) },
            checkpointHash: t.checkpointHash, configJSON: t.configJSON, headJSON: t.headJSON, headBlob: t.headBlob,
            storage: t.storage, numOutputs: t.numOutputs, embeddingDim: t.embeddingDim, runID: t.runID.flatMap { runMaps[i][$0] ?? $0 }))
          teacherIDs[t.name] = id
        }
        let s = try inputs[i].store.db.prepare("SELECT example_id, logits, embedding, run_id FROM teacher_outputs WHERE teacher_id = ?")
        try s.bind([.int(t.id)])
        while try s.step() {
          let run: Int64? = s.isNull(3) ? nil : (runMaps[i][s.int64(3)] ?? s.int64(3))
          try out.db.run(
            "INSERT OR IGNORE INTO teacher_outputs (example_id, teacher_id, logits, embedding, run_id) VALUES (?,?,?,?,?)",
            [.int(s.int64(0)), .int(id), .blob(s.blob(1)), s.isNull(2) ? .null : .blob(s.blob(2)), .optional(run)])
          summary.teacherOutputs += out.db.changes
        }
      }
      afterSource?()
    }
    summary.teachers = teacherIDs.count
    summary.examples = try out.exampleCount()
    summary.sources = Int(try out.db.scalarInt("SELECT COUNT(*) FROM sources") ?? 0)
    summary.documents = Int(try out.db.scalarInt("SELECT COUNT(*) FROM documents") ?? 0)
    summary.duplicates = try out.duplicateCounts().duplicates
    for (i, input) in inputs.enumerated() {
      try out.db.run(
        "INSERT INTO merged_stores (path, fingerprint, shard_kind, shard_index, shard_count, examples, run_id, merged_at) VALUES (?,?,?,?,?,?,?,?)",
        [.text(input.path), .text(fingerprints[i]), .text(ShardKind.examples.rawValue), .int(Int64(input.shard!.shard.index)),
         .int(Int64(input.shard!.shard.count)), .int(Int64(summary.examples)), .int(runID), .text(Store.now())])
    }
    try out.endRun(runID, status: .ok, counts: ["inputs": inputs.count, "teachers": summary.teachers, "teacher_outputs": summary.teacherOutputs])
  }
}

extension Store {
  /// Identifies a corpus (sources, documents, examples) regardless of teacher outputs.
  public func corpusFingerprint() throws -> String {
    var key = ""
    let s = try db.prepare("SELECT root, path, content_hash FROM sources ORDER BY id")
    while try s.step() { key += "\(s.text(0))|\(s.text(1))|\(s.text(2))\n" }
    key += "examples=\(try db.scalarInt("SELECT COUNT(*) FROM examples") ?? 0)|\(try db.scalarInt("SELECT MAX(id) FROM examples") ?? 0)"
    return StableHash.hex(StableHash.fnv1a64(key))
  }

  /// Identifies a store's content for kd-merge's idempotence: FNV-1a 64 over
  /// its sources (path and content hash), teacher rows and row counts, and the
  /// newest run's end.
  public func fingerprint() throws -> String {
    var key = ""
    let s = try db.prepare("SELECT root, path, content_hash, status FROM sources ORDER BY root, path")
    while try s.step() { key += "\(s.text(0))|\(s.text(1))|\(s.text(2))|\(s.text(3))\n" }
    for t in ["examples", "example_labels", "tokenizations", "teachers", "teacher_outputs", "runs"] {
      key += "\(t)=\(try db.scalarInt("SELECT COUNT(*) FROM \(t)") ?? 0)\n"
    }
    key += try db.scalarText("SELECT MAX(COALESCE(ended_at, started_at)) FROM runs") ?? ""
    return StableHash.hex(StableHash.fnv1a64(key))
  }

  /// The input fingerprints recorded by the merge that wrote this store.
  public func mergedFingerprints() throws -> [String] {
    let s = try db.prepare("SELECT fingerprint FROM merged_stores WHERE run_id = (SELECT MAX(run_id) FROM merged_stores)")
    var out: [String] = []
    while try s.step() { out.append(s.text(0)) }
    return out
  }

  /// content hash -> name of every tokenizer in the store.
  public func tokenizerHashes() throws -> [String: String] {
    let s = try db.prepare("SELECT content_hash, name FROM tokenizers")
    var out: [String: String] = [:]
    while try s.step() { out[s.text(0)] = s.text(1) }
    return out
  }

  public func tokenizerHash(id: Int64) throws -> String? {
    try db.scalarText("SELECT content_hash FROM tokenizers WHERE id = ?", [.int(id)])
  }

  public func taskName(id: Int64) throws -> String? {
    try db.scalarText("SELECT name FROM tasks WHERE id = ?", [.int(id)])
  }

  /// label name -> position for a task.
  public func labelPositions(task: Int64) throws -> [String: Int] {
    let s = try db.prepare("SELECT name, position FROM labels WHERE task_id = ?")
    try s.bind([.int(task)])
    var out: [String: Int] = [:]
    while try s.step() { out[s.text(0)] = s.int(1) }
    return out
  }
}
