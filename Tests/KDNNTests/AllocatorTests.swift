import Foundation
import KDTensor
import XCTest

/// `Allocator.releaseLargeBuffersOnFree` (kd-train calls it first): glibc takes the setting, and a
/// freed large buffer's pages go back to the system at once. In a short test process glibc's own
/// default often returns such pages too (it only keeps them once its threshold has risen and the
/// heap has a hole, as after a few training epochs), so the measure of the effect is the full
/// training run in BENCHMARKS.md (issue 13, memory: 1,009,360 KB -> 801,380 KB peak RSS).
final class AllocatorTests: XCTestCase {
  /// Resident pages of this process (`/proc/self/statm`, second field), in bytes.
  func residentBytes() throws -> Int {
    let fields = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
    let pages = try XCTUnwrap(fields.count > 1 ? Int(fields[1]) : nil)
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
  }

  func testFreedBuffersLeaveTheResidentSet() throws {
    #if os(Linux)
    XCTAssertTrue(Allocator.releaseLargeBuffersOnFree(), "glibc refused M_MMAP_THRESHOLD")
    let bytes = 8 << 20
    // glibc's default raises its mmap threshold past a block's size when a mapped block that
    // large is freed (up to 32 MiB); from then on such blocks come from the heap.
    let warmUp = UnsafeMutablePointer<Float>.allocate(capacity: 2 * bytes / 4)
    warmUp.initialize(repeating: 1, count: 2 * bytes / 4)
    warmUp.deallocate()
    // Several buffers as a training step's activations are, then a small block after them, so
    // that freeing them leaves a hole the heap cannot give back by trimming its top.
    var held: [UnsafeMutablePointer<Float>] = []
    for _ in 0..<6 {
      let p = UnsafeMutablePointer<Float>.allocate(capacity: bytes / 4)
      p.initialize(repeating: 1, count: bytes / 4)
      held.append(p)
    }
    let pin = UnsafeMutablePointer<UInt8>.allocate(capacity: 1024)
    defer { pin.deallocate() }
    let before = try residentBytes()
    for p in held { p.deallocate() }
    let after = try residentBytes()
    XCTAssertGreaterThan(before - after, 5 * bytes, "freed 48 MiB, resident set \(before) -> \(after) bytes")
    #else
    throw XCTSkip("glibc only")
    #endif
  }
}
