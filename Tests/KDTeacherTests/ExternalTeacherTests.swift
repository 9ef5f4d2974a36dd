import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing
@testable import KDTeacher

/// A fake external teacher speaking the protocol; `mode` injects one fault at the second (or third) request.
let fakeTeacherScript = #"""
import sys, json
mode = sys.argv[1]
hello = json.loads(sys.stdin.readline())
assert hello["kd_protocol"] == 1, hello
labels = hello["labels"]
reply = {"kd_protocol": 1, "name": "pyfake", "num_outputs": len(labels), "embedding_dim": 2}
if mode == "permuted": reply["labels"] = list(reversed(labels))
if mode == "badlabels": reply["labels"] = ["x" + l for l in labels]
if mode == "refusetask": reply = {"error": "no such task here"}
print(json.dumps(reply), flush=True)
n = 0
for line in sys.stdin:
    req = json.loads(line)
    n += 1
    logits = [float(len(req["text"]) + c) for c in range(len(labels))]
    if mode == "permuted": logits = list(reversed(logits))
    resp = {"id": req["id"], "logits": logits}
    if req.get("embedding"): resp["embedding"] = [1.0, 2.0]
    if mode == "badjson" and n == 3:
        print("{not json", flush=True); continue
    if mode == "wronglen" and n == 2: resp["logits"] = logits[:-1]
    if mode == "nan" and n == 2: resp["logits"][0] = float("nan")
    if mode == "refuse" and n == 2: resp = {"id": req["id"], "error": "input too long"}
    if mode == "die" and n == 2: sys.exit(3)
    print(json.dumps(resp), flush=True)
"""#

@Suite(.enabled(if: python3Available, "python3 is not installed: external-teacher tests skipped"))
struct ExternalTeacherTests {
  func setUp(_ dir: TemporaryDirectory, count: Int = 6) throws -> (Store, [Int64], String) {
    let store = try makeTemporaryStore(dir)
    let ids = try CorpusFixture.populate(store, examples: CorpusFixture.simple(count))
    let script = try dir.write("teacher.py", fakeTeacherScript)
    return (store, ids, script)
  }

  func run(_ store: Store, _ script: String, _ mode: String, embeddings: Bool = false) throws -> [TeacherCacheSummary] {
    var o = TeacherCacheOptions()
    o.batchSize = 2
    o.commitEvery = 1
    o.storeEmbeddings = embeddings
    let teacher = try ExternalTeacher(command: "python3 \(script) \(mode)", responseTimeout: 30)
    defer { try? teacher.close() }
    return try TeacherCache(store: store, backend: teacher, options: o).run(runID: nil)
  }

  @Test func cachesWhatTheExternalTeacherReturns() throws {
    let dir = try TemporaryDirectory()
    let (store, ids, script) = try setUp(dir)
    let s = try run(store, script, "ok", embeddings: true)
    #expect(s[0].teacher == "pyfake")
    #expect(s[0].kind == "external")
    #expect(s[0].head == "external")
    #expect(s[0].cachedNow == 6)
    let t = try #require(try store.teacher(named: "pyfake"))
    #expect(t.tokenizerID == nil)
    for (i, id) in ids.enumerated() {
      let out = try #require(try store.teacherOutput(teacher: t, exampleID: id))
      let len = Float("text \(i)".count)
      #expect(out.logits.values == [len, len + 1])
      #expect(out.embedding == [1, 2])
    }
    // Incremental: nothing left to compute.
    let again = try run(store, script, "ok", embeddings: true)
    #expect(again[0].cachedNow == 0)
    #expect(again[0].alreadyCached == 6)
  }

  @Test func labelsInAnotherOrderAreMappedOntoTheTask() throws {
    let dir = try TemporaryDirectory()
    let (store, ids, script) = try setUp(dir, count: 2)
    _ = try run(store, script, "permuted")
    let t = try #require(try store.teacher(named: "pyfake"))
    let out = try #require(try store.teacherOutput(teacher: t, exampleID: ids[0]))
    #expect(out.logits.values == [6, 7])
  }

  @Test func mismatchedLabelsAreRefused() throws {
    let dir = try TemporaryDirectory()
    let (store, _, script) = try setUp(dir, count: 2)
    let e = #expect(throws: KDError.self) { _ = try run(store, script, "badlabels") }
    #expect(e?.message.contains("do not match task 'topic'") == true)
    let r = #expect(throws: KDError.self) { _ = try run(store, script, "refusetask") }
    #expect(r?.message.contains("no such task here") == true)
  }

  @Test func badJSONIsAClearErrorAndKeepsCommittedWork() throws {
    let dir = try TemporaryDirectory()
    let (store, _, script) = try setUp(dir)
    let e = #expect(throws: KDError.self) { _ = try run(store, script, "badjson") }
    #expect(e?.message.contains("not valid protocol JSON") == true)
    #expect(e?.message.contains("{not json") == true)
    #expect(e?.line == 4)
    // The first batch (2 examples) was committed before the bad line.
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM teacher_outputs") == 2)
    let resumed = try run(store, script, "ok")
    #expect(resumed[0].cachedNow == 4)
  }

  @Test func wrongLengthNamesTheExample() throws {
    let dir = try TemporaryDirectory()
    let (store, ids, script) = try setUp(dir)
    let e = #expect(throws: KDError.self) { _ = try run(store, script, "wronglen") }
    #expect(e?.message.contains("example \(ids[1]) has 1 logits, expected 2") == true)
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM teacher_outputs") == 0)
  }

  @Test func nanNamesTheExample() throws {
    let dir = try TemporaryDirectory()
    let (store, ids, script) = try setUp(dir)
    let e = #expect(throws: KDError.self) { _ = try run(store, script, "nan") }
    #expect(e?.kind == .numeric)
    #expect(e?.message.contains("example \(ids[1])") == true)
    #expect(e?.message.contains("logits[0]") == true)
  }

  @Test func perExampleErrorsAreSkipped() throws {
    let dir = try TemporaryDirectory()
    let (store, ids, script) = try setUp(dir)
    let s = try run(store, script, "refuse")
    #expect(s[0].cachedNow == 5)
    #expect(s[0].skipped["teacher_error"] == 1)
    #expect(s[0].failures.first == "example \(ids[1]): input too long")
  }

  @Test func aDyingTeacherIsAClearError() throws {
    let dir = try TemporaryDirectory()
    let (store, _, script) = try setUp(dir)
    let e = #expect(throws: KDError.self) { _ = try run(store, script, "die") }
    #expect(e?.message.contains("closed its output") == true)
    #expect(e?.message.contains("status 3") == true)
  }

  @Test func nonFiniteTokensBecomeNull() {
    let line = Array(#"{"id":1,"text":"NaN Infinity","logits":[NaN,-Infinity,Infinity,1.5]}"#.utf8)
    let fixed = String(decoding: ExternalTeacher.replacingNonFiniteTokens(line), as: UTF8.self)
    #expect(fixed == #"{"id":1,"text":"NaN Infinity","logits":[null,null,null,1.5]}"#)
  }
}

/// The built executable, end to end (skipped when it is not built).
@Suite(.enabled(if: python3Available && FileManager.default.isExecutableFile(atPath: TestPaths.binaries + "/kd-teacher-cache"),
                "python3 or the kd-teacher-cache binary is missing"))
struct TeacherCacheCommandTests {
  @Test func cachesDumpsAndReportsJSON() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, examples: CorpusFixture.simple(5))
    let script = try dir.write("teacher.py", fakeTeacherScript)
    let db = store.path
    let first = try runCommand("kd-teacher-cache", ["--db", db, "--teacher-cmd", "python3 \(script) ok", "--json", "--quiet"])
    #expect(first.status == 0, "\(first.stderr)")
    let summary = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
    #expect(summary["status"] as? String == "ok")
    let teachers = try #require(summary["teachers"] as? [[String: Any]])
    #expect(teachers.first?["cached_now"] as? Int == 5)
    #expect(teachers.first?["storage"] as? String == "f32")
    #expect(teachers.first?["bytes_per_example"] as? Double == 8)

    let second = try runCommand("kd-teacher-cache", ["--db", db, "--teacher-cmd", "python3 \(script) ok", "--json", "--quiet"])
    let s2 = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])
    #expect((s2["teachers"] as? [[String: Any]])?.first?["cached_now"] as? Int == 0)

    let dump = try runCommand("kd-teacher-cache", ["dump", "--db", db, "--limit", "2"])
    #expect(dump.status == 0, "\(dump.stderr)")
    let lines = dump.stdout.split(separator: "\n")
    #expect(lines.count == 2)
    let row = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
    #expect(row["teacher"] as? String == "pyfake")
    #expect(row["text"] as? String == "text 0")

    let partial = try runCommand("kd-teacher-cache", ["--db", db, "--teacher-cmd", "python3 \(script) refuse", "--name", "other", "--quiet"])
    #expect(partial.status == 3)
    // A fresh connection: `store` may still hold a read snapshot from before the runs.
    let runs = try Store.open(path: db, readOnly: true).recentRuns(stage: "teacher-cache")
    #expect(runs.map(\.status) == ["partial", "ok", "ok"])

    let missing = try runCommand("kd-teacher-cache", ["--db", dir.file("nope.sqlite"), "--teacher-cmd", "true"])
    #expect(missing.status == 1)
    #expect(missing.stderr.contains("no such database"))
  }

  @Test func matmulModeIsCheckedBeforeAnythingRuns() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, examples: CorpusFixture.simple(3))
    let teacher = TestPaths.packageRoot + "/Tests/KDModelsTests/Resources/tiny-bert"
    let bogus = try runCommand("kd-teacher-cache", ["--db", store.path, "--teacher", teacher, "--matmul", "fp64"])
    #expect(bogus.status == 64)
    #expect(bogus.stderr.contains("--matmul") && bogus.stderr.contains("fp32"))
    // KD_NO_AMX=1 makes this machine one without AMX: asking for it by name is a usage error.
    let noAMX = try runCommand("kd-teacher-cache", ["--db", store.path, "--teacher", teacher, "--matmul", "amx-bf16x3"],
                               environment: ["KD_NO_AMX": "1"])
    #expect(noAMX.status == 64)
    #expect(noAMX.stderr.contains("AMX"))
    let runs = try Store.open(path: store.path, readOnly: true).recentRuns(stage: "teacher-cache")
    #expect(runs.isEmpty || runs.allSatisfy { $0.status != "ok" })
  }
}
