import Foundation
import KDTestSupport
import Testing

/// Runs a built tool with stderr on a pipe (not a terminal), killing it after
/// `timeout` seconds; returns the status, stderr and how long it ran.
func runPiped(_ tool: String, _ arguments: [String], environment: [String: String], timeout: Double = 120)
  throws -> (status: Int32, stderr: String, seconds: Double)
{
  let p = Process()
  p.executableURL = URL(fileURLWithPath: TestPaths.binaries + "/" + tool)
  p.arguments = arguments
  p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  let out = Pipe(), err = Pipe()
  p.standardOutput = out
  p.standardError = err
  p.standardInput = FileHandle.nullDevice
  let started = Date()
  try p.run()
  final class Box: @unchecked Sendable { var data = Data() }
  let errBox = Box(), outBox = Box()
  let group = DispatchGroup()
  group.enter()
  DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
  group.enter()
  DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
  if group.wait(timeout: .now() + timeout) == .timedOut {
    p.terminate()
    kill(p.processIdentifier, SIGKILL)
    _ = group.wait(timeout: .now() + 5)
  }
  p.waitUntilExit()
  return (p.terminationStatus, String(decoding: errBox.data, as: UTF8.self), Date().timeIntervalSince(started))
}

/// A slow external teacher: 60 ms per example.
let slowTeacherScript = #"""
import sys, json, time
hello = json.loads(sys.stdin.readline())
labels = hello["labels"]
print(json.dumps({"kd_protocol": 1, "name": "slowfake", "num_outputs": len(labels)}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    time.sleep(0.06)
    print(json.dumps({"id": req["id"], "logits": [float(len(req["text"]) % 7 + c) for c in range(len(labels))]}), flush=True)
"""#

/// Issue 16: with stderr not on a terminal, a long stage printed only its
/// first and last lines. Each stage now prints a progress line at least every
/// `KD_PROGRESS_INTERVAL` seconds (30 by default).
@Suite(.enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/python3"), "python3 is absent: progress test skipped"))
struct ProgressLogTests {
  func heartbeats(_ stderr: String, tool: String) -> [Substring] {
    stderr.split(separator: "\n").filter { $0.hasPrefix("\(tool): ") && $0.contains(" elapsed; ") }
  }

  @Test func everyStagePrintsProgressLinesOffATerminal() throws {
    let dir = try TemporaryDirectory()
    var rows = "text,label\n"
    for i in 0..<48 { rows += "example number \(i) about \(i % 2 == 0 ? "fees and charges" : "lost cards") here,\(i % 2 == 0 ? "fees" : "cards")\n" }
    try dir.write("c/bank/intent/data.csv", rows)
    try dir.write("c2/bank/intent/more.csv", "text,label\nanother example,fees\none more,cards\n")
    let script = try dir.write("slow.py", slowTeacherScript)
    let db = dir.file("d.sqlite")
    let fast = ["KD_PROGRESS_INTERVAL": "0.25"]

    // kd-train needs token ids: the default teacher's tokenizer when present.
    let tokenizer = TestPaths.defaultTeacher.map { $0 + "/tokenizer.json" }
    let ingest = try runPiped("kd-ingest", [dir.file("c"), "--db", db, "--tokenizer", tokenizer ?? "none"], environment: [:])
    #expect(ingest.status == 0, "\(ingest.stderr)")

    // kd-teacher-cache: about 3 s of teacher calls.
    let cacheRun = DispatchQueue(label: "cache")
    final class Result: @unchecked Sendable { var value: (status: Int32, stderr: String, seconds: Double)? }
    let cache = Result()
    cacheRun.async {
      cache.value = try? runPiped("kd-teacher-cache", ["--db", db, "--teacher-cmd", "python3 \(script)", "--batch-size", "1",
                                                 "--commit-every", "1"], environment: fast)
    }
    // kd-ingest meanwhile waits for the writer lock the cache run holds: it too must log while it waits.
    Thread.sleep(forTimeInterval: 0.8)
    let waiting = try runPiped("kd-ingest", [dir.file("c2"), "--db", db, "--tokenizer", tokenizer ?? "none", "--lock-timeout", "60"],
                               environment: fast)
    cacheRun.sync {}
    let c = try #require(cache.value)
    #expect(c.status == 0, "\(c.stderr)")
    let cacheBeats = heartbeats(c.stderr, tool: "kd-teacher-cache")
    #expect(Double(cacheBeats.count) >= min(3, (c.seconds - 1) / 0.25 / 3), "\(c.seconds) s:\n\(c.stderr)")
    #expect(cacheBeats.contains { $0.contains("teacher ") && $0.contains(" ex") }, "the line carries the stage's progress:\n\(c.stderr)")
    #expect(waiting.status == 0, "\(waiting.stderr)")
    if waiting.seconds > 1.5 {
      #expect(heartbeats(waiting.stderr, tool: "kd-ingest").count >= 1, "\(waiting.seconds) s:\n\(waiting.stderr)")
    }

    var later = [("kd-report", ["--db", db, "--out", dir.file("report.html")])]
    if tokenizer != nil { later.insert(("kd-train", ["--db", db, "--epochs", "3"]), at: 0) } else { TestPaths.skipNote("the default teacher", "kd-train progress") }
    for (tool, args) in later {
      let r = try runPiped(tool, args, environment: ["KD_PROGRESS_INTERVAL": "0.05"])
      #expect(r.status == 0 || r.status == 3, "\(tool): \(r.stderr)")
      if r.seconds > 0.6 {
        #expect(heartbeats(r.stderr, tool: tool).count >= 1, "\(tool) ran \(r.seconds) s:\n\(r.stderr)")
      }
    }
    // Without the variable the interval is 30 s: these short runs print none.
    let quiet = try runPiped("kd-report", ["--db", db, "--out", dir.file("report2.html")], environment: [:])
    #expect(heartbeats(quiet.stderr, tool: "kd-report").isEmpty)
  }
}
