import Foundation
import KDCore

#if canImport(Glibc)
  import Glibc
#endif

/// The process of an external teacher: `/bin/sh -c CMD` started in its own
/// session (so its own process group), with stdin and stdout on pipes and
/// stderr passed through.
///
/// Every wait here has a deadline. Ending it ends the whole process group:
/// stdin is closed, the group gets `grace` seconds to exit by itself, then
/// SIGTERM, then (after `TeacherProcess.termGrace` seconds) SIGKILL. A teacher
/// started by a wrapper script, or one that keeps running after the shell
/// exits, is reached too (unless it leaves the group itself, with `setsid`).
final class TeacherProcess: @unchecked Sendable {
  /// Seconds between SIGTERM and SIGKILL to the teacher's process group.
  static let termGrace: TimeInterval = 3

  let command: String
  /// The shell's pid, which is also the process group id.
  let pid: pid_t
  /// kd's end of the teacher's stdin (-1 once closed).
  private(set) var inputFD: Int32
  /// kd's end of the teacher's stdout (-1 once closed).
  private(set) var outputFD: Int32
  private let lock = NSLock()
  private var reaped = false
  private var status: Int32 = 0
  private var ended = false

  /// Starts `/bin/sh -c command` in a new session.
  /// - Throws: `KDError(.io)` when the process cannot be started.
  init(command: String) throws {
    self.command = command
    var toChild: [Int32] = [-1, -1], fromChild: [Int32] = [-1, -1]
    guard Self.cloexecPipe(&toChild) else {
      throw KDError(.io, "cannot create a pipe for the teacher command: \(String(cString: strerror(errno)))", field: "--teacher-cmd")
    }
    guard Self.cloexecPipe(&fromChild) else {
      Glibc.close(toChild[0]); Glibc.close(toChild[1])
      throw KDError(.io, "cannot create a pipe for the teacher command: \(String(cString: strerror(errno)))", field: "--teacher-cmd")
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
    posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
    // Nothing else of kd's reaches the teacher: not the DB, not <db>.lock
    // (a lingering teacher holding the lock would block the next run).
    for fd in Self.openDescriptors() where fd > 2 {
      posix_spawn_file_actions_addclose(&actions, fd)
    }
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    // POSIX_SPAWN_SETSID (glibc >= 2.26): a new session and process group, so
    // that the whole group can be signalled and a terminal's Ctrl-C reaches kd only.
    // Signals kd ignores (SIGPIPE) or handles are reset to their defaults.
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGPIPE, SIGINT, SIGTERM, SIGCHLD] { sigaddset(&defaults, s) }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setflags(&attr, Int16(0x80 | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    var child: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
    defer { for a in argv { free(a) } }
    let rc = posix_spawn(&child, "/bin/sh", &actions, &attr, argv, environ)
    Glibc.close(toChild[0])
    Glibc.close(fromChild[1])
    guard rc == 0 else {
      Glibc.close(toChild[1]); Glibc.close(fromChild[0])
      throw KDError(.io, "cannot start the teacher command: \(String(cString: strerror(rc)))", field: "--teacher-cmd")
    }
    pid = child
    inputFD = toChild[1]
    outputFD = fromChild[0]
    TeacherProcessRegistry.shared.add(pid)
  }

  deinit { end(grace: 0) }

  private static func cloexecPipe(_ fds: inout [Int32]) -> Bool {
    guard pipe(&fds) == 0 else { return false }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return true
  }

  private static func openDescriptors() -> [Int32] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    if !names.isEmpty { return names.compactMap { Int32($0) } }
    return Array(3..<Int32(min(Int(sysconf(Int32(_SC_OPEN_MAX))), 4096)))
  }

  /// Closes the teacher's stdin (its signal that the work is done).
  func closeInput() {
    lock.lock(); defer { lock.unlock() }
    if inputFD >= 0 { Glibc.close(inputFD); inputFD = -1 }
  }

  /// Reaps the shell if it has exited; returns its wait status then.
  private func reap() -> Int32? {
    lock.lock(); defer { lock.unlock() }
    if reaped { return status }
    var st: Int32 = 0
    let r = waitpid(pid, &st, WNOHANG)
    if r == pid || (r < 0 && errno == ECHILD) {
      reaped = true
      status = r == pid ? st : 0
      return status
    }
    return nil
  }

  /// The shell's exit status when it has exited (without waiting), e.g. "exited with status 3".
  func exitDescription(waiting seconds: TimeInterval = 0.2) -> String? {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
      if let st = reap() { return Self.describe(status: st) }
      if Date() >= deadline { return nil }
      usleep(10_000)
    }
  }

  static func describe(status st: Int32) -> String {
    let sig = st & 0x7f
    if sig == 0 { return "exited with status \((st >> 8) & 0xff)" }
    return "was killed by signal \(sig)"
  }

  /// Whether any process of the teacher's group is still there (the shell or what it started).
  private var groupAlive: Bool {
    _ = reap()
    return kill(-pid, 0) == 0 || (!reaped && kill(pid, 0) == 0)
  }

  /// Waits until the group is gone, at most `seconds`. - Returns: whether it is gone.
  private func waitGroup(_ seconds: TimeInterval) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while groupAlive {
      if Date() >= deadline { return false }
      usleep(20_000)
    }
    return true
  }

  /// Ends the teacher: closes its stdin, gives the group `grace` seconds to exit,
  /// then SIGTERM, then SIGKILL. Returns within `grace + termGrace + 2` seconds.
  /// - Returns: what had to be done ("" when it exited by itself).
  @discardableResult
  func end(grace: TimeInterval) -> String {
    lock.lock()
    if ended { lock.unlock(); return "" }
    ended = true
    lock.unlock()
    closeInput()
    var note = ""
    if !waitGroup(grace) {
      note = "the teacher did not exit within \(Self.seconds(grace)) of its input closing: " + killGroup()
    }
    _ = reap()
    lock.lock()
    if outputFD >= 0 { Glibc.close(outputFD); outputFD = -1 }
    lock.unlock()
    TeacherProcessRegistry.shared.remove(pid)
    return note
  }

  /// SIGTERM to the group, then SIGKILL `termGrace` seconds later if it is still
  /// there; returns within `termGrace + 2` seconds. Pipes stay open.
  @discardableResult
  func killGroup() -> String {
    guard groupAlive else { return "it had exited" }
    var note = "sent SIGTERM to its process group"
    kill(-pid, SIGTERM)
    if !waitGroup(Self.termGrace) {
      note += ", then SIGKILL after \(Self.seconds(Self.termGrace))"
      kill(-pid, SIGKILL)
      _ = waitGroup(2)
    }
    return note
  }

  static func seconds(_ s: TimeInterval) -> String {
    s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
  }
}

/// The process groups of running teachers, killed when kd exits without
/// ending them (e.g. a second Ctrl-C, which exits at once).
final class TeacherProcessRegistry: @unchecked Sendable {
  static let shared = TeacherProcessRegistry()
  private let lock = NSLock()
  private var groups: Set<pid_t> = []
  private var installed = false

  func add(_ pid: pid_t) {
    lock.lock(); defer { lock.unlock() }
    groups.insert(pid)
    if !installed {
      installed = true
      atexit { TeacherProcessRegistry.shared.killAll() }
    }
  }

  func remove(_ pid: pid_t) {
    lock.lock(); defer { lock.unlock() }
    groups.remove(pid)
  }

  func killAll() {
    lock.lock()
    let all = groups
    groups = []
    lock.unlock()
    for g in all { kill(-g, SIGTERM) }
  }
}
