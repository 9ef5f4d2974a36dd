import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing

/// Environment detection of `--shard` (issue 15, parts 1 and 4).
@Suite struct ShardSpecTests {
  @Test func commandLineWinsOverTheEnvironment() throws {
    let r = try #require(try ShardSpec.resolve("2/4", environment: ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3"]))
    #expect(r.shard == (try ShardSpec(index: 2, count: 4)))
    #expect(r.origin == .commandLine)
  }

  @Test func slurmArrayIndicesAreCountedFromTheirMinimum() throws {
    let a = try #require(try ShardSpec.resolve(nil, environment: ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"]))
    #expect(a.shard.index == 3 && a.shard.count == 4 && a.origin == .slurm)
    let b = try #require(try ShardSpec.resolve(nil, environment: [
      "SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"]))
    #expect(b.shard.index == 3)
    #expect(throws: KDError.self) { try ShardSpec.resolve(nil, environment: ["SLURM_ARRAY_TASK_ID": "1"]) }
    #expect(throws: KDError.self) {
      try ShardSpec.resolve(nil, environment: ["SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "4"])
    }
    #expect(throws: KDError.self) {
      try ShardSpec.resolve(nil, environment: ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_STEP": "2"])
    }
  }

  @Test func kubernetesIndexNeedsACount() throws {
    let k = try #require(try ShardSpec.resolve(nil, environment: ["JOB_COMPLETION_INDEX": "0", "KD_SHARD_COUNT": "8"]))
    #expect(k.shard.index == 0 && k.shard.count == 8 && k.origin == .kubernetes)
    #expect(throws: KDError.self) { try ShardSpec.resolve(nil, environment: ["JOB_COMPLETION_INDEX": "0"]) }
    #expect(try ShardSpec.resolve(nil, environment: [:]) == nil)
  }

  @Test func badValuesAreUsageErrors() throws {
    for bad in ["4/4", "-1/4", "1", "a/b", "1/0"] {
      #expect(throws: KDError.self) { try ShardSpec.parse(bad) }
    }
  }

  /// The assignment depends on the key only, covers every file once, and the store name on K and N.
  @Test func assignmentIsStableAndComplete() throws {
    let paths = (0..<400).map { "medical/t/file\($0).csv" }
    let shards = try (0..<4).map { try ShardSpec(index: $0, count: 4) }
    for p in paths { #expect(shards.filter { $0.containsFile(p) }.count == 1) }
    let counts = shards.map { s in paths.filter { s.containsFile($0) }.count }
    #expect(counts.allSatisfy { $0 > 60 }, "\(counts)")
    #expect(shards[2].storePath(for: "out/data.sqlite") == "out/data.shard-2-of-4.sqlite")
    #expect(shards[2].storePath(for: "out/data.sqlite", teacher: true) == "out/data.teacher-shard-2-of-4.sqlite")
    #expect(ShardSpec.index(ofKey: "file:a.csv", count: 4) == Int(StableHash.fnv1a64("file:a.csv") % 4))
  }
}

/// Four shards, ingested and cached separately, then merged: the same store as
/// one unsharded run (issue 15, parts 3 and 5), on the repo's sample corpora.
@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: TestPaths.binaries + "/kd-merge")
  && (try? runCommand("/usr/bin/env", ["python3", "-c", "pass"]).status) == 0, "kd-merge or python3 is missing"))
struct ShardMergeTests {
  let bin = TestPaths.binaries
  let corpus = TestPaths.packageRoot + "/corpora"
  let teacherCmd = "python3 " + TestPaths.packageRoot + "/tools/teacher-cmd/hash_teacher.py"
  let tasks = ["--task", "abstract_topics", "--task", "banking_intents", "--task", "clause_fairness"]
  var tokenizer: [String] {
    TestPaths.defaultTeacher.map { ["--tokenizer", $0 + "/tokenizer.json"] } ?? ["--tokenizer", "none"]
  }

  func run(_ tool: String, _ args: [String], in dir: TemporaryDirectory, env: [String: String]? = nil) throws -> CommandResult {
    let r = try runCommand(bin + "/" + tool, args, environment: env, currentDirectory: dir.path)
    return r
  }

  /// Everything one run of the pipeline decides, keyed so two stores compare equal when they hold the same corpus.
  static func content(_ path: String) throws -> [String] {
    let s = try Store.open(path: path, readOnly: true)
    var out: [String] = []
    let q = try s.db.prepare(
      """
      SELECT e.id, e.document_id, e.position, e.split, e.domain, t.name, e.text_hash, e.duplicate_of, e.section,
             (SELECT group_concat(l.name || ':' || l.position, ',') FROM example_labels x JOIN labels l ON l.id = x.label_id WHERE x.example_id = e.id),
             (SELECT hex(z.ids) FROM tokenizations z WHERE z.example_id = e.id)
      FROM examples e LEFT JOIN tasks t ON t.id = e.task_id ORDER BY e.id
      """)
    while try q.step() { out.append((0..<11).map { q.optionalText(Int32($0)) ?? "-" }.joined(separator: "|")) }
    let l = try s.db.prepare("SELECT t.name, l.name, l.position FROM labels l JOIN tasks t ON t.id = l.task_id ORDER BY 1, 3")
    while try l.step() { out.append("label \(l.text(0)) \(l.text(1)) \(l.int(2))") }
    let d = try s.db.prepare("SELECT d.id, d.split, d.doc_key, s.path FROM documents d JOIN sources s ON s.id = d.source_id ORDER BY d.id")
    while try d.step() { out.append("doc \(d.int64(0)) \(d.text(1)) \(d.text(2)) \(d.text(3))") }
    return out
  }

  /// teacher name -> its calibration temperature (teachers without one are left out).
  static func calibrations(_ path: String) throws -> [String: Double] {
    let s = try Store.open(path: path, readOnly: true)
    var out: [String: Double] = [:]
    for t in try s.teachers() { out[t.name] = try s.teacherCalibration(teacherID: t.id)?.temperature }
    return out
  }

  /// teacher name + example id -> logits.
  static func logits(_ path: String) throws -> [String: [Float]] {
    let s = try Store.open(path: path, readOnly: true)
    var out: [String: [Float]] = [:]
    for t in try s.teachers() {
      let q = try s.db.prepare("SELECT example_id, logits FROM teacher_outputs WHERE teacher_id = ?")
      try q.bind([.int(t.id)])
      while try q.step() {
        let l = try q.withBlob(1) { try TeacherOutputCodec.decode($0, storage: t.storage, numOutputs: t.numOutputs) }
        out["\(t.name)#\(q.int64(0))"] = l.values
      }
    }
    return out
  }

  static func maxDifference(_ a: [String: [Float]], _ b: [String: [Float]]) -> Float {
    var m: Float = 0
    for (k, v) in a { guard let w = b[k], w.count == v.count else { return .infinity }; for i in v.indices { m = max(m, abs(v[i] - w[i])) } }
    return m
  }

  func wholeAndShards(_ dir: TemporaryDirectory, count: Int = 4) throws {
    let w = try run("kd-ingest", [corpus, "--db", "whole.sqlite", "-q"] + tokenizer, in: dir)
    #expect(w.status == 0, "\(w.stderr)")
    let t = try run("kd-teacher-cache", ["--db", "whole.sqlite", "--teacher-cmd", teacherCmd, "-q"] + tasks, in: dir)
    #expect(t.status == 0, "\(t.stderr)")
    for k in 0..<count {
      // Shards from the job-array environment, as on Slurm.
      let env = ["SLURM_ARRAY_TASK_ID": "\(k)", "SLURM_ARRAY_TASK_COUNT": "\(count)"]
      let i = try run("kd-ingest", [corpus, "--db", "s.sqlite", "-q"] + tokenizer, in: dir, env: env)
      #expect(i.status == 0, "\(i.stderr)")
      let c = try run("kd-teacher-cache", ["--db", "s.sqlite", "--teacher-cmd", teacherCmd, "-q"] + tasks, in: dir, env: env)
      #expect(c.status == 0, "\(c.stderr)")
    }
  }

  @Test func fourIngestShardsMergedEqualOneUnshardedRun() throws {
    let dir = try TemporaryDirectory()
    try wholeAndShards(dir)
    let m = try run("kd-merge", ["merged.sqlite", "s.shard-*-of-4.sqlite", "--json"], in: dir)
    #expect(m.status == 0, "\(m.stderr)")
    let whole = try Self.content(dir.file("whole.sqlite")), merged = try Self.content(dir.file("merged.sqlite"))
    #expect(whole.count > 1000)
    #expect(whole == merged, "first difference: \(zip(whole, merged).first { $0 != $1 }.map { "\($0.0) vs \($0.1)" } ?? "counts \(whole.count) vs \(merged.count)")")
    let lw = try Self.logits(dir.file("whole.sqlite")), lm = try Self.logits(dir.file("merged.sqlite"))
    #expect(lw.count > 1000 && Set(lw.keys) == Set(lm.keys))
    #expect(Self.maxDifference(lw, lm) <= 1e-6)
    // Each shard fitted its teacher's temperature on its own validation rows; kd-merge refits on all of them.
    let cw = try Self.calibrations(dir.file("whole.sqlite"))
    let cm = try Self.calibrations(dir.file("merged.sqlite"))
    #expect(!cw.isEmpty && cw == cm, "\(cw) vs \(cm)")

    // The same student with the same seed, with half of the labels kept: label-fraction sampling is
    // keyed by content, so the kept labels (and the student) do not depend on the sharding.
    var students: [Data] = []
    // The shards read together without kd-merge (a glob) give that student too.
    for db in ["whole.sqlite", "merged.sqlite", "s.shard-*-of-4.sqlite"] {
      let out = dir.file("models-" + db)
      let r = try run("kd-train", ["--db", db, "--task", "banking_intents", "--epochs", "2", "--seed", "7", "--label-fraction", "0.5",
                                   "--label-seed", "3", "--out", out, "-q"], in: dir)
      #expect(r.status == 0, "\(r.stderr)")
      students.append(try Data(contentsOf: URL(fileURLWithPath: out + "/banking_intents/kd/best/model.safetensors")))
    }
    // A Bool, not `a == b`: a failing #expect on two 4 MB Data values diffs them element by element for minutes.
    let sameMerged = students[0] == students[1], sameTogether = students[0] == students[2]
    #expect(sameMerged, "kd-train gave different students")
    #expect(sameTogether, "kd-train on the shards read together gave another student")
    let dump = try run("kd-teacher-cache", ["dump", "--db", "s.shard-0-of-4.sqlite,s.shard-1-of-4.sqlite,s.shard-2-of-4.sqlite,s.shard-3-of-4.sqlite",
                                            "--teacher", "hash-teacher/banking_intents"], in: dir)
    #expect(dump.status == 0 && dump.stdout.split(separator: "\n").count == lw.keys.filter { $0.hasPrefix("hash-teacher/banking_intents#") }.count,
            "\(dump.stderr)")
    let missing = try run("kd-report", ["--db", "s.shard-0-of-4.sqlite,s.shard-1-of-4.sqlite,s.shard-3-of-4.sqlite"], in: dir)
    #expect(missing.status == 1 && missing.stderr.contains("shard 2 of 4 is missing"), "\(missing.stderr)")

    // Idempotent: a rerun does nothing.
    let again = try run("kd-merge", ["merged.sqlite", "s.shard-*-of-4.sqlite", "--json"], in: dir)
    #expect(again.status == 0 && again.stdout.contains("\"up_to_date\" : true"), "\(again.stdout)")
  }

  @Test func teacherShardsOfOneStoreMergedEqualOneRun() throws {
    let dir = try TemporaryDirectory()
    #expect(try run("kd-ingest", [corpus, "--db", "whole.sqlite", "-q"] + tokenizer, in: dir).status == 0)
    #expect(try run("kd-ingest", [corpus, "--db", "w2.sqlite", "-q"] + tokenizer, in: dir).status == 0)
    #expect(try run("kd-teacher-cache", ["--db", "whole.sqlite", "--teacher-cmd", teacherCmd, "-q"] + tasks, in: dir).status == 0)
    for k in 0..<3 {
      let env = ["JOB_COMPLETION_INDEX": "\(k)", "KD_SHARD_COUNT": "3"]
      let c = try run("kd-teacher-cache", ["--db", "w2.sqlite", "--teacher-cmd", teacherCmd, "-q"] + tasks, in: dir, env: env)
      #expect(c.status == 0, "\(c.stderr)")
    }
    #expect(FileManager.default.fileExists(atPath: dir.file("w2.teacher-shard-2-of-3.sqlite")))
    let m = try run("kd-merge", ["m.sqlite", "w2.teacher-shard-*-of-3.sqlite"], in: dir)
    #expect(m.status == 0, "\(m.stderr)")
    let lw = try Self.logits(dir.file("whole.sqlite")), lm = try Self.logits(dir.file("m.sqlite"))
    #expect(lw.count > 1000 && Set(lw.keys) == Set(lm.keys))
    #expect(Self.maxDifference(lw, lm) <= 1e-6)
    #expect(try Self.content(dir.file("whole.sqlite")) == Self.content(dir.file("m.sqlite")))
    // Every teacher shard fitted a temperature on its third of the validation rows; the merge refits on all.
    let cw = try Self.calibrations(dir.file("whole.sqlite")), cm = try Self.calibrations(dir.file("m.sqlite"))
    #expect(!cw.isEmpty && cw == cm, "\(cw) vs \(cm)")
  }

  /// kill -9 at any moment of a merge, then a rerun: the same store as an uninterrupted merge.
  @Test func killedMergeThenRerunEqualsAnUninterruptedMerge() throws {
    let dir = try TemporaryDirectory()
    for k in 0..<4 {
      let i = try run("kd-ingest", [corpus, "--db", "s.sqlite", "--shard", "\(k)/4", "--tokenizer", "none", "-q"], in: dir)
      #expect(i.status == 0, "\(i.stderr)")
    }
    #expect(try run("kd-merge", ["ref.sqlite", "s.shard-*-of-4.sqlite"], in: dir).status == 0)
    for delay in [0.2, 0.8] {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: bin + "/kd-merge")
      p.arguments = ["killed.sqlite", "s.shard-*-of-4.sqlite", "-q"]
      p.currentDirectoryURL = URL(fileURLWithPath: dir.path)
      p.environment = ProcessInfo.processInfo.environment.merging(["KD_MERGE_TEST_DELAY_MS": "100"]) { $1 }
      try p.run()
      Thread.sleep(forTimeInterval: delay)
      kill(p.processIdentifier, SIGKILL)
      p.waitUntilExit()
      #expect(p.terminationReason == .uncaughtSignal, "the merge finished before the kill")
    }
    let r = try run("kd-merge", ["killed.sqlite", "s.shard-*-of-4.sqlite"], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(try Self.content(dir.file("killed.sqlite")) == Self.content(dir.file("ref.sqlite")))
    let a = try Self.logits(dir.file("killed.sqlite")), b = try Self.logits(dir.file("ref.sqlite"))
    #expect(a.keys.sorted() == b.keys.sorted() && Self.maxDifference(a, b) == 0)
    #expect(!FileManager.default.fileExists(atPath: dir.file("killed.sqlite.merging")))
  }

  /// Inputs that cannot be one corpus are refused, naming both files; a missing shard by number.
  @Test func disagreeingShardsAreRefusedNamingBothFiles() throws {
    let dir = try TemporaryDirectory()
    for k in 0..<3 {
      let i = try run("kd-ingest", [corpus, "--db", "s.sqlite", "--shard", "\(k)/3", "-q"] + tokenizer, in: dir)
      #expect(i.status == 0, "\(i.stderr)")
    }
    let missing = try run("kd-merge", ["m.sqlite", "s.shard-0-of-3.sqlite", "s.shard-2-of-3.sqlite"], in: dir)
    #expect(missing.status == 1 && missing.stderr.contains("shard 1 of 3 is missing"), "\(missing.stderr)")

    // Another schema version.
    try FileManager.default.copyItem(atPath: dir.file("s.shard-1-of-3.sqlite"), toPath: dir.file("old.sqlite"))
    do {
      let raw = try Database(path: dir.file("old.sqlite"))
      try raw.execute("PRAGMA user_version = 2")
    }
    let schema = try run("kd-merge", ["m.sqlite", "s.shard-0-of-3.sqlite", "old.sqlite", "s.shard-2-of-3.sqlite"], in: dir)
    #expect(schema.status == 1 && schema.stderr.contains("s.shard-0-of-3.sqlite") && schema.stderr.contains("old.sqlite"), "\(schema.stderr)")

    // Another tokenizer.
    let other = TestPaths.packageRoot + "/Tests/KDTokenizersTests/Resources/wordpiece-cased.json"
    let t = try run("kd-ingest", [corpus, "--db", "t.sqlite", "--shard", "1/3", "--tokenizer", other, "-q"], in: dir)
    #expect(t.status == 0, "\(t.stderr)")
    if tokenizer[1] != "none" {
      let tok = try run("kd-merge", ["m.sqlite", "s.shard-0-of-3.sqlite", "t.shard-1-of-3.sqlite", "s.shard-2-of-3.sqlite"], in: dir)
      #expect(tok.status == 1 && tok.stderr.contains("tokenizers differ") && tok.stderr.contains("t.shard-1-of-3.sqlite")
              && tok.stderr.contains("s.shard-0-of-3.sqlite"), "\(tok.stderr)")
    }

    // Shards of different splits of the corpus.
    #expect(try run("kd-ingest", [corpus, "--db", "u.sqlite", "--shard", "1/4", "-q"] + tokenizer, in: dir).status == 0)
    let mixed = try run("kd-merge", ["m.sqlite", "s.shard-0-of-3.sqlite", "u.shard-1-of-4.sqlite", "s.shard-2-of-3.sqlite"], in: dir)
    #expect(mixed.status == 1 && mixed.stderr.contains("u.shard-1-of-4.sqlite"), "\(mixed.stderr)")

    // A store never changes shard.
    let wrong = try run("kd-ingest", [corpus, "--db", "s.shard-0-of-3.sqlite", "-q"] + tokenizer, in: dir)
    #expect(wrong.status == 1 && wrong.stderr.contains("shard 0 of 3"), "\(wrong.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dir.file("m.sqlite")))
  }

  /// Taught tasks must have one label set everywhere: their outputs are per label.
  @Test func differentLabelSetsOfATaughtTaskAreRefused() throws {
    let dir = try TemporaryDirectory()
    for k in 0..<2 {
      #expect(try run("kd-ingest", [corpus, "--db", "s.sqlite", "--shard", "\(k)/2", "-q"] + tokenizer, in: dir).status == 0)
      #expect(try run("kd-teacher-cache", ["--db", "s.sqlite", "--shard", "\(k)/2", "--teacher-cmd", teacherCmd, "-q"] + tasks, in: dir).status == 0)
    }
    do {
      let s = try Store.open(path: dir.file("s.shard-1-of-2.sqlite"))
      let tasks = try s.tasks().filter { ["abstract_topics", "clause_fairness"].contains($0.name) }
      let task = try #require(tasks.first)
      _ = try s.labelID(task: task.id, name: "an extra label")
    }
    let r = try run("kd-merge", ["m.sqlite", "s.shard-*-of-2.sqlite"], in: dir)
    #expect(r.status == 1 && r.stderr.contains("label sets") && r.stderr.contains("s.shard-0-of-2.sqlite")
            && r.stderr.contains("s.shard-1-of-2.sqlite"), "\(r.stderr)")
  }
}
