import Foundation
import KDCore

/// An exclusive advisory lock held by a writing stage (kd-ingest,
/// kd-teacher-cache) on `<db>.lock`, so that two cron jobs never interleave
/// their writes to one store.
///
/// The lock is `flock(2)`: the kernel releases it when the holder dies, even
/// by `kill -9`, so a crash never leaves a stale lock. The file's content
/// names the holder (stage, pid, host, start time) for the error message of
/// whoever waits.
public final class WriterLock {
  public let path: String
  private var fd: Int32

  /// Takes the lock, waiting up to `timeout` seconds.
  /// - Throws: `KDError(.lock)` naming the holder when the timeout passes.
  public init(databasePath: String, stage: String, timeout: TimeInterval, onWait: ((String) -> Void)? = nil) throws {
    path = databasePath + ".lock"
    fd = Foundation.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
      // Not a lock timeout (`.lock` means "busy, the next run catches up"):
      // a missing folder or a read-only file system needs a person.
      let code = errno
      let folder = (databasePath as NSString).deletingLastPathComponent
      let cause = code == ENOENT && !FileManager.default.fileExists(atPath: folder.isEmpty ? "." : folder)
        ? "the folder \(folder) does not exist" : String(cString: strerror(code))
      throw KDError(.io, "cannot create the database lock file: \(cause)", file: path)
    }
    let deadline = Date().addingTimeInterval(timeout)
    var announced = false
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
      let holder = Self.readHolder(fd: fd)
      if Date() >= deadline {
        close(fd)
        fd = -1
        throw KDError(
          .lock, "another kd run holds the database (\(holder)); waited \(Int(timeout)) s. Try again later or raise --lock-timeout",
          file: databasePath)
      }
      if !announced {
        onWait?("waiting for the database lock held by \(holder) (up to \(Int(timeout)) s)")
        announced = true
      }
      usleep(200_000)
    }
    let info = "\(stage) pid \(getpid()) on \(ProcessInfo.processInfo.hostName) since \(Store.now())"
    ftruncate(fd, 0)
    _ = info.withCString { pwrite(fd, $0, strlen($0), 0) }
  }

  deinit { release() }

  /// Releases the lock (also done on deinit and by the kernel on exit).
  public func release() {
    guard fd >= 0 else { return }
    ftruncate(fd, 0)
    flock(fd, LOCK_UN)
    close(fd)
    fd = -1
  }

  private static func readHolder(fd: Int32) -> String {
    var buf = [UInt8](repeating: 0, count: 512)
    let n = pread(fd, &buf, buf.count, 0)
    guard n > 0 else { return "unknown holder" }
    return String(decoding: buf[0..<n], as: UTF8.self)
  }
}
