import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing

private let slowTestsEnabled = ProcessInfo.processInfo.environment["KD_SLOW_TESTS"] == "1"

/// The slow checks of issue 15 (`make test-slow`): the Slurm scripts end to end
/// on a private single-node Slurm, and sharded = unsharded on the shared corpora.
@Suite(.serialized, .enabled(if: slowTestsEnabled, "set KD_SLOW_TESTS=1 (make test-slow)"))
struct ShardSlowTests {
  let bin = TestPaths.binaries
  let root = TestPaths.packageRoot
  var teacherCmd: String { "python3 " + root + "/tools/teacher-cmd/hash_teacher.py" }
  var tokenizer: String { (TestPaths.defaultTeacher ?? root + "/models/all-MiniLM-L6-v2") + "/tokenizer.json" }

  func run(_ tool: String, _ args: [String], in dir: TemporaryDirectory, env: [String: String]? = nil) throws -> CommandResult {
    try runCommand(tool.hasPrefix("/") ? tool : bin + "/" + tool, args, environment: env, currentDirectory: dir.path)
  }

  /// deploy/slurm/submit.sh on a single-node Slurm gives the store of one unsharded run.
  @Test func slurmJobArrayScriptsRunThePipelineEndToEnd() throws {
    guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/slurmctld"),
      FileManager.default.isExecutableFile(atPath: "/usr/sbin/slurmd"), getuid() == 0
    else {
      TestPaths.skipNote("slurm-wlm (slurmctld, slurmd) run as root")
      return
    }
    let dir = try TemporaryDirectory()
    let cluster = dir.file("slurm")
    let env = ["KD_SLURM_PORT": "17317"]
    let up = try run(root + "/deploy/slurm/local-cluster.sh", ["start", cluster], in: dir, env: env)
    defer { _ = try? run(root + "/deploy/slurm/local-cluster.sh", ["stop", cluster], in: dir) }
    #expect(up.status == 0, "slurm did not start: \(up.stdout) \(up.stderr)")
    guard up.status == 0 else { return }
    let tasks = "--task abstract_topics --task banking_intents --task clause_fairness"
    let jobEnv = [
      "SLURM_CONF": cluster + "/slurm.conf", "KD_BIN": bin, "KD_CORPUS": root + "/corpora", "KD_WORK": dir.file("work"),
      "KD_TOKENIZER": tokenizer, "KD_TEACHER_ARGS": "--teacher-cmd '\(teacherCmd)' \(tasks)",
    ]
    let submit = try run(root + "/deploy/slurm/submit.sh", ["4"], in: dir, env: jobEnv)
    #expect(submit.status == 0, "\(submit.stderr)")
    // Wait for the four jobs (at most 10 minutes).
    let deadline = Date().addingTimeInterval(600)
    while Date() < deadline {
      let q = try run("/usr/bin/squeue", ["-h"], in: dir, env: jobEnv)
      if q.status == 0 && q.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { break }
      Thread.sleep(forTimeInterval: 2)
    }
    let data = dir.file("work/data.sqlite")
    #expect(FileManager.default.fileExists(atPath: data), "no merged store; job logs are in \(dir.path)")
    guard FileManager.default.fileExists(atPath: data) else { return }

    #expect(try run("kd-ingest", [root + "/corpora", "--db", "whole.sqlite", "--tokenizer", tokenizer, "-q"], in: dir).status == 0)
    #expect(try run("kd-teacher-cache", ["--db", "whole.sqlite", "--teacher-cmd", teacherCmd, "-q"]
                    + tasks.split(separator: " ").map(String.init), in: dir).status == 0)
    #expect(try ShardMergeTests.content(dir.file("whole.sqlite")) == ShardMergeTests.content(data))
    let a = try ShardMergeTests.logits(dir.file("whole.sqlite")), b = try ShardMergeTests.logits(data)
    #expect(a.count > 1000 && Set(a.keys) == Set(b.keys) && ShardMergeTests.maxDifference(a, b) <= 1e-6)
  }

  /// Four shards of the three shared sets, merged or read together, equal one unsharded run.
  @Test func sharedCorporaFourShardsEqualOneRun() throws {
    guard let shared = TestPaths.sharedCorpora else {
      TestPaths.skipNote("the shared corpora")
      return
    }
    let dir = try TemporaryDirectory()
    let manifest = root + "/corpora/shared.kd-corpus.yaml"
    let tasks = ["--task", "medical_abstracts_tc", "--task", "claudette", "--task", "banking77"]
    let ingest = [shared, "--manifest", manifest, "--tokenizer", tokenizer, "-q"]
    #expect(try run("kd-ingest", ingest + ["--db", "whole.sqlite"], in: dir).status == 0)
    #expect(try run("kd-teacher-cache", ["--db", "whole.sqlite", "--teacher-cmd", teacherCmd, "-q"] + tasks, in: dir).status == 0)
    for k in 0..<4 {
      let i = try run("kd-ingest", ingest + ["--db", "s.sqlite", "--shard", "\(k)/4"], in: dir)
      #expect(i.status == 0 || i.status == 3, "\(i.stderr)")
      let c = try run("kd-teacher-cache", ["--db", "s.sqlite", "--shard", "\(k)/4", "--teacher-cmd", teacherCmd, "-q"] + tasks, in: dir)
      #expect(c.status == 0, "\(c.stderr)")
    }
    let m = try run("kd-merge", ["merged.sqlite", "s.shard-*-of-4.sqlite"], in: dir)
    #expect(m.status == 0, "\(m.stderr)")
    let whole = try ShardMergeTests.content(dir.file("whole.sqlite"))
    #expect(whole.count > 10_000)
    let merged = try ShardMergeTests.content(dir.file("merged.sqlite"))
    let sameContent = whole == merged
    #expect(sameContent, "first difference: \(zip(whole, merged).first { $0 != $1 }.map { "\($0.0) vs \($0.1)" } ?? "counts \(whole.count) vs \(merged.count)")")
    // Each shard fitted its teacher's temperature on its own validation rows; the merge refits on all of them.
    let cw = try ShardMergeTests.calibrations(dir.file("whole.sqlite"))
    let cm = try ShardMergeTests.calibrations(dir.file("merged.sqlite"))
    #expect(cw.count == 3 && cw == cm, "\(cw) vs \(cm)")
    let a = try ShardMergeTests.logits(dir.file("whole.sqlite")), b = try ShardMergeTests.logits(dir.file("merged.sqlite"))
    #expect(a.count > 10_000 && Set(a.keys) == Set(b.keys) && ShardMergeTests.maxDifference(a, b) <= 1e-6)
    var students: [Data] = []
    for db in ["whole.sqlite", "s.shard-*-of-4.sqlite"] {
      let out = dir.file("models-\(students.count)")
      let r = try run("kd-train", ["--db", db, "--task", "banking77", "--epochs", "3", "--seed", "11", "--out", out, "-q"], in: dir)
      #expect(r.status == 0, "\(r.stderr)")
      students.append(try Data(contentsOf: URL(fileURLWithPath: out + "/banking77/kd/best/model.safetensors")))
    }
    // A Bool, not `a == b`: a failing #expect on two 4 MB Data values diffs them element by element for minutes.
    let same = students[0] == students[1]
    #expect(same, "kd-train on the four shards read together gave another student than on the whole store")
  }
}
