import Foundation
import KDCore
import KDStore
import KDTestSupport
import Testing
@testable import KDTeacher

#if canImport(Glibc)
  import Glibc
#endif

/// Misbehaving external teachers (issue 16: 1, 2 and 9; issue 15: 6). Each
/// `mode` is one fault. The script writes its pid (and its children's) to
/// `$KD_FAKE_PIDS` so that a test can check that nothing of it is left.
let misbehavingTeacherScript = #"""
import sys, json, os, time, signal, base64, struct, subprocess
mode = sys.argv[1]
pids = os.environ.get("KD_FAKE_PIDS")
def note_pid(p):
    if pids:
        with open(pids, "a") as f: f.write(f"{p}\n")
note_pid(os.getpid())
hello = json.loads(sys.stdin.readline())
labels = hello["labels"]
reply = {"kd_protocol": 1, "name": "fake", "num_outputs": len(labels)}
if mode == "escape_refuse":
    reply = {"error": "bad\u0000task\u001b[31mRED\u001b]0;title\u0007\u009b"}
if mode == "ids":
    hashes = [t["content_hash"] for t in hello.get("tokenizers", [])]
    reply["tokenizer_hash"] = hashes[0]
    reply["text"] = False
print(json.dumps(reply), flush=True)
if mode == "escape_json":
    sys.stdout.buffer.write(b'{"id": \x00\x1b[2J\x1b]0;pwned\x07}\n'); sys.stdout.flush()
    time.sleep(600)
if mode == "silent":
    child = subprocess.Popen(["sleep", "600"])
    note_pid(child.pid)
    time.sleep(600)
if mode == "endless":
    chunk = b"x" * 65536
    for _ in range(128):  # 8 MiB, no newline, then silence
        sys.stdout.buffer.write(chunk)
    sys.stdout.flush()
    time.sleep(600)
window_wait = 3 if mode == "needs_window" else 1
pending, batches = [], 0
def answer(req):
    n = len(req["ids"]) if mode == "ids" else len(req["text"])
    logits = [float(n + c) for c in range(len(labels))]
    if mode == "huge": logits[0] = 1e300
    resp = {"id": req["id"], "logits": logits}
    if mode in ("b64", "ids"):
        del resp["logits"]
        resp["logits_b64"] = base64.b64encode(struct.pack("<%df" % len(logits), *logits)).decode()
    print(json.dumps(resp), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    if mode == "ids": assert "text" not in req and "ids" in req, req
    pending.append(req)
    if req.get("end_of_batch"):
        batches += 1
        if batches >= window_wait or mode != "needs_window":
            for r in pending: answer(r)
            pending = []
for r in pending: answer(r)
if mode == "linger":
    child = subprocess.Popen(["sleep", "600"])
    note_pid(child.pid)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(600)
"""#

/// Runs `body` on its own thread and fails the test (instead of hanging it) when it takes longer than `seconds`.
final class HardTimeoutBox<T>: @unchecked Sendable { var result: Result<T, Error>? }
struct HardTimeout: Error, CustomStringConvertible { var description: String }

func withHardTimeout<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () throws -> T) throws -> T {
  let box = HardTimeoutBox<T>()
  let done = DispatchSemaphore(value: 0)
  let t = Thread {
    box.result = Result { try body() }
    done.signal()
  }
  t.start()
  guard done.wait(timeout: .now() + seconds) == .success, let r = box.result else {
    throw HardTimeout(description: "still running after \(seconds) s (a hang)")
  }
  return try r.get()
}

/// Whether a process is gone (or a zombie nobody reaped yet).
func processGone(_ pid: pid_t) -> Bool {
  if kill(pid, 0) != 0 && errno == ESRCH { return true }
  guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
    let close = stat.lastIndex(of: ")")
  else { return true }
  return stat[stat.index(close, offsetBy: 2)] == "Z"
}

/// Pids written by the fake teacher, after waiting up to `seconds` for all of them to be gone.
func leftoverPids(_ file: String, waiting seconds: Double = 3) -> [pid_t] {
  let pids = ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { pid_t($0) }
  let deadline = Date().addingTimeInterval(seconds)
  while Date() < deadline {
    if pids.allSatisfy(processGone) { return [] }
    usleep(50_000)
  }
  let left = pids.filter { !processGone($0) }
  for p in left { kill(p, SIGKILL) }  // do not leave them behind a failed test
  return left
}

@Suite(.enabled(if: python3Available, "python3 is not installed: external-teacher tests skipped"))
struct ExternalTeacherLifecycleTests {
  struct Setup {
    var dir: TemporaryDirectory
    var store: Store
    var ids: [Int64]
    var script: String
    var pids: String
  }

  func setUp(count: Int = 6) throws -> Setup {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let ids = try CorpusFixture.populate(store, examples: CorpusFixture.simple(count))
    let script = try dir.write("teacher.py", misbehavingTeacherScript)
    return Setup(dir: dir, store: store, ids: ids, script: script, pids: dir.file("pids"))
  }

  /// Runs the cache with the fake in `mode`; the teacher is closed before returning.
  func run(_ s: Setup, _ mode: String, window: Int = 1, batchSize: Int = 2, responseTimeout: Double = 20,
           maxLineBytes: Int = ExternalTeacher.defaultMaxLineBytes, exitGrace: Double = 1, hardTimeout: Double = 40) throws -> [TeacherCacheSummary] {
    let command = "KD_FAKE_PIDS=\(s.pids) python3 \(s.script) \(mode)"
    let store = s.store
    return try withHardTimeout(hardTimeout) {
      var o = TeacherCacheOptions()
      o.batchSize = batchSize
      o.commitEvery = 1
      o.window = window
      let teacher = try ExternalTeacher(command: command, responseTimeout: responseTimeout, maxLineBytes: maxLineBytes, exitGrace: exitGrace)
      defer { try? teacher.close() }
      return try TeacherCache(store: store, backend: teacher, options: o).run(runID: nil)
    }
  }

  // MARK: 16.1: silent and lingering teachers

  @Test(arguments: [1, 4])
  func aSilentTeacherTimesOutAndItsProcessGroupIsKilled(window: Int) throws {
    let s = try setUp()
    let started = Date()
    let e = #expect(throws: KDError.self) { _ = try run(s, "silent", window: window, responseTimeout: 1, hardTimeout: 30) }
    #expect(e?.field == "--response-timeout", "\(String(describing: e))")
    #expect(e?.message.contains("sent nothing for 1 s") == true)
    #expect(Date().timeIntervalSince(started) < 20)
    #expect(leftoverPids(s.pids).isEmpty, "the teacher or its child outlived kd")
  }

  @Test func aLingeringTeacherIsEndedAfterTheGracePeriodAndTheOutputsKept() throws {
    let s = try setUp()
    let started = Date()
    let out = try run(s, "linger", window: 4, exitGrace: 1, hardTimeout: 30)
    #expect(out[0].cachedNow == 6)
    // 1 s grace, SIGTERM (ignored), SIGKILL 3 s later: well under 15 s with python's start-up.
    #expect(Date().timeIntervalSince(started) < 15)
    #expect(leftoverPids(s.pids).isEmpty, "the lingering teacher or its child outlived kd")
  }

  // MARK: 16.2: line length

  @Test func anEndlessLineIsRefusedAtTheCap() throws {
    let s = try setUp()
    let e = #expect(throws: KDError.self) {
      _ = try run(s, "endless", window: 4, responseTimeout: 10, maxLineBytes: 1 << 20, hardTimeout: 30)
    }
    #expect(e?.kind == .input)
    #expect(e?.message.contains("longer than 1048576 bytes") == true, "\(String(describing: e))")
    #expect(e?.message.contains("--max-line-bytes") == true)
    #expect(e?.line == 2)
    #expect(leftoverPids(s.pids).isEmpty)
  }

  @Test func theLineReaderIsLinearAndSplitsLinesAcrossReads() throws {
    var fds: [Int32] = [0, 0]
    #expect(pipe(&fds) == 0)
    let writeEnd = fds[1]
    let text = (0..<2000).map { "line \($0)" }.joined(separator: "\n") + "\n\n  \nlast"
    let writer = Thread {
      Array(text.utf8).withUnsafeBytes { p in
        var off = 0
        while off < p.count { off += max(0, write(writeEnd, p.baseAddress! + off, min(7, p.count - off))) }
      }
      close(writeEnd)
    }
    writer.start()
    var r = TeacherLineReader(fd: fds[0], maxLineBytes: 64)
    var lines: [String] = []
    while let l = try r.next(onIdle: { _ in }) { lines.append(String(decoding: l, as: UTF8.self)) }
    close(fds[0])
    #expect(lines.count == 2001)
    #expect(lines.first == "line 0" && lines[1999] == "line 1999" && lines.last == "last")
  }

  // MARK: 16.9: escape bytes, 1e300

  @Test func controlAndEscapeBytesFromATeacherAreNotEchoed() throws {
    let s = try setUp()
    let refused = #expect(throws: KDError.self) { _ = try run(s, "escape_refuse") }
    let badJSON = #expect(throws: KDError.self) { _ = try run(s, "escape_json", responseTimeout: 10) }
    for e in [refused, badJSON] {
      let text = try #require(e).description
      #expect(!text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || (0x80...0x9F).contains($0.value) }, "\(text.debugDescription)")
      #expect(text.contains("\\u{1b}"), "\(text.debugDescription)")
    }
    #expect(refused?.message.contains("bad\\u{0}task\\u{1b}[31mRED") == true)
  }

  @Test func aLogitBeyondFloat32IsOutOfRangeNotNaN() throws {
    let s = try setUp()
    let e = #expect(throws: KDError.self) { _ = try run(s, "huge") }
    #expect(e?.kind == .numeric)
    #expect(e?.message.contains("out of the float32 range") == true, "\(String(describing: e))")
    #expect(e?.message.contains("NaN") == false)
    #expect(e?.message.contains("example \(s.ids[0]) at logits[0]") == true)
    #expect(e?.field == "logits")
  }

  // MARK: 15.6: window, token ids, compact logits

  @Test func batchesAreInFlightTogetherWithAWindow() throws {
    let s = try setUp(count: 8)
    // This teacher answers only once it holds 3 batches: one batch at a time would time out.
    let out = try run(s, "needs_window", window: 4, batchSize: 2, responseTimeout: 10)
    #expect(out[0].cachedNow == 8)
    let t = try #require(try s.store.teacher(named: "fake"))
    for (i, id) in s.ids.enumerated() {
      let o = try #require(try s.store.teacherOutput(teacher: t, exampleID: id))
      let len = Float("text \(i)".count)
      #expect(o.logits.values == [len, len + 1])
    }
    let one = try setUp(count: 8)
    let e = #expect(throws: KDError.self) { _ = try run(one, "needs_window", window: 1, batchSize: 2, responseTimeout: 1) }
    #expect(e?.field == "--response-timeout")
  }

  @Test func aTeacherThatKnowsKdsTokenizerGetsTokenIDsOnlyAndMayAnswerInBase64() throws {
    let s = try setUp()
    let out = try run(s, "ids", window: 3)
    #expect(out[0].cachedNow == 6)
    let t = try #require(try s.store.teacher(named: "fake"))
    let examples = CorpusFixture.simple(6)
    for (i, id) in s.ids.enumerated() {
      let o = try #require(try s.store.teacherOutput(teacher: t, exampleID: id))
      let n = Float(examples[i].ids.count)
      #expect(o.logits.values == [n, n + 1])
    }
    let b = try setUp()
    #expect(try run(b, "b64", window: 2)[0].cachedNow == 6)
  }

  @Test func requestsAreValidJSONForAnyText() throws {
    let texts = ["plain", "quote \" back\\slash", "tab\tnew\nline\r", "nul \u{0} esc \u{1b} del \u{7f}", "ünïcödé ✓ 🙂"]
    for text in texts {
      var out: [UInt8] = []
      TeacherRequestEncoder.append(id: -42, text: text, ids: [0, 101, 2_147_483_647], embedding: true, endOfBatch: true, to: &out)
      #expect(out.last == 0x0A)
      let obj = try #require(try JSONSerialization.jsonObject(with: Data(out.dropLast())) as? [String: Any])
      #expect(obj["text"] as? String == text)
      #expect(obj["id"] as? Int == -42)
      #expect(obj["ids"] as? [Int] == [0, 101, 2_147_483_647])
      #expect(obj["end_of_batch"] as? Bool == true && obj["embedding"] as? Bool == true)
    }
  }
}

/// The executable against misbehaving teachers: it must exit by itself, with
/// the documented code, and leave no teacher process behind.
@Suite(.enabled(if: python3Available && FileManager.default.isExecutableFile(atPath: TestPaths.binaries + "/kd-teacher-cache"),
                "python3 or the kd-teacher-cache binary is missing"))
struct TeacherCacheCommandLifecycleTests {
  /// Runs kd-teacher-cache with output to files (a lingering teacher must not
  /// be able to hold a pipe open); kills it after `seconds` (a hang).
  func runBounded(_ args: [String], dir: TemporaryDirectory, seconds: Double) throws -> (status: Int32?, stderr: String, elapsed: Double) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: TestPaths.binaries + "/kd-teacher-cache")
    p.arguments = args
    FileManager.default.createFile(atPath: dir.file("out"), contents: nil)
    FileManager.default.createFile(atPath: dir.file("err"), contents: nil)
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file("out")))
    p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file("err")))
    p.standardInput = FileHandle.nullDevice
    let started = Date()
    try p.run()
    while p.isRunning && Date().timeIntervalSince(started) < seconds { usleep(50_000) }
    let elapsed = Date().timeIntervalSince(started)
    var status: Int32?
    if p.isRunning {
      kill(p.processIdentifier, SIGKILL)
    } else {
      status = p.terminationStatus
    }
    let err = (try? String(contentsOfFile: dir.file("err"), encoding: .utf8)) ?? ""
    return (status, err, elapsed)
  }

  @Test func aSilentTeacherEndsTheRunWithCode124AndNothingLeftRunning() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, examples: CorpusFixture.simple(4))
    let script = try dir.write("teacher.py", misbehavingTeacherScript)
    // Through a wrapper shell that does not exec: terminating the shell alone would orphan the teacher.
    let r = try runBounded(
      ["--db", store.path, "--teacher-cmd", "KD_FAKE_PIDS=\(dir.file("pids")) python3 \(script) silent; true", "--response-timeout", "2"], dir: dir, seconds: 40)
    #expect(r.status == 124, "status \(String(describing: r.status)) after \(r.elapsed) s: \(r.stderr)")
    #expect(r.stderr.contains("sent nothing for 2 s"))
    #expect(leftoverPids(dir.file("pids")).isEmpty, "the teacher or its child outlived kd")
    let runs = try Store.open(path: store.path, readOnly: true).recentRuns(stage: "teacher-cache")
    #expect(runs.first?.status == "failed")
  }

  @Test func aLingeringTeacherDoesNotKeepASuccessfulRunWaiting() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    try CorpusFixture.populate(store, examples: CorpusFixture.simple(4))
    let script = try dir.write("teacher.py", misbehavingTeacherScript)
    // The default grace period (10 s), then SIGTERM (ignored by this teacher), then SIGKILL 3 s later.
    let r = try runBounded(["--db", store.path, "--teacher-cmd", "KD_FAKE_PIDS=\(dir.file("pids")) python3 \(script) linger; true"], dir: dir, seconds: 40)
    #expect(r.status == 0, "status \(String(describing: r.status)) after \(r.elapsed) s: \(r.stderr)")
    #expect(r.elapsed < 25)
    #expect(r.stderr.contains("did not exit within 10 s"), "\(r.stderr)")
    #expect(leftoverPids(dir.file("pids")).isEmpty, "the lingering teacher or its child outlived kd")
    let runs = try Store.open(path: store.path, readOnly: true).recentRuns(stage: "teacher-cache")
    #expect(runs.first?.status == "ok")
  }
}
