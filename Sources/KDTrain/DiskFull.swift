import Foundation
import KDCore
import KDStore


/// Says "the disk is full" for the errors a full disk causes while training: SQLite's
/// SQLITE_FULL from the store, ENOSPC (or Foundation's out-of-space error) from checkpoint files.
public enum DiskFull {
  /// SQLite's result code for "database or disk is full".
  static let sqliteFull: Int32 = 13

  /// Whether an error means the disk (or the database's size limit) is full.
  public static func isDiskFull(_ error: Error) -> Bool {
    if let e = error as? DatabaseError { return e.code & 0xff == sqliteFull }
    if let e = error as? KDError { return e.message.contains("disk is full") }
    var ns: NSError? = error as NSError
    while let e = ns {
      if e.domain == NSPOSIXErrorDomain && e.code == Int(ENOSPC) { return true }
      if e.domain == NSCocoaErrorDomain && e.code == NSFileWriteOutOfSpaceError { return true }
      ns = e.userInfo[NSUnderlyingErrorKey] as? NSError
    }
    return false
  }

  /// A disk-full error as `KDError(.io)` saying so (with what failed); any other error unchanged.
  public static func describe(_ error: Error) -> Error {
    guard isDiskFull(error), !((error as? KDError)?.message.hasPrefix("the disk is full") ?? false) else { return error }
    var file: String?
    var cause = "\(error)"
    if let e = error as? DatabaseError {
      file = e.path
      cause = "SQLite: \(e.message)"
    } else if let e = error as? KDError {
      file = e.file
      cause = e.message
    }
    return KDError(.io, "the disk is full (\(cause)). Free some space and rerun: training resumes from its last saved state",
                   file: file)
  }
}
