import Foundation
import KDTensor
import XCTest

/// `Allocator` (kd-train's setting): training buffers come from the heap and are reused, and
/// `releaseFreeMemory` hands the heap's free pages, holes included, back to the system at a
/// phase change. The effect on a whole run (speed and peak RSS) is measured in BENCHMARKS.md.
final class AllocatorTests: XCTestCase {
  /// Resident pages of this process (`/proc/self/statm`, second field), in bytes.
  func residentBytes() throws -> Int {
    let fields = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
    let pages = try XCTUnwrap(fields.count > 1 ? Int(fields[1]) : nil)
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
  }

  func testFreedHeapBuffersGoBackAtAPhaseChange() throws {
    #if os(Linux)
    XCTAssertTrue(Allocator.reuseFreedBuffers(), "glibc refused the mmap and trim thresholds")
    let bytes = 8 << 20
    // Six buffers as a training step's activations are (heap blocks now: under the threshold),
    // then a small block after them, so that freeing them leaves a hole below the heap's top.
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
    _ = Allocator.releaseFreeMemory()
    let after = try residentBytes()
    XCTAssertGreaterThan(before - after, 5 * bytes, "freed 48 MiB and trimmed, resident set \(before) -> \(after) bytes")
    #else
    throw XCTSkip("glibc only")
    #endif
  }
}
