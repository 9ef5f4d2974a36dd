import CKernels
import Foundation

/// How large buffers go back to the system.
public enum Allocator {
  /// Makes glibc serve every allocation of `threshold` bytes or more with its own mapping, unmapped
  /// on free, instead of from the heap.
  ///
  /// glibc's default threshold starts at 128 KiB and rises, up to 32 MiB, each time a mapped block
  /// is freed; from then on the training activations (up to 25 MB per buffer for a 32 × 128 batch)
  /// come from the heap, and the heap does not shrink when a model, its inference snapshot and
  /// the evaluation buffers are freed between epochs. Measured on the default transformer student,
  /// medical_abstracts_tc, 6 epochs (BENCHMARKS.md, issue 13 memory): peak RSS 1,009,360 KB with
  /// the default, 801,380 KB with a fixed 1 MiB threshold, same weights and results; a training step
  /// took 1.03x the time (paired median of 3 runs, within their spread: fresh mappings fault their pages in).
  /// A `MALLOC_MMAP_THRESHOLD_` in the environment is the user's choice and is left alone.
  /// - Returns: whether the threshold was set (false off glibc, or when the environment sets it).
  @discardableResult
  public static func releaseLargeBuffersOnFree(threshold: Int = 1 << 20) -> Bool {
    guard ProcessInfo.processInfo.environment["MALLOC_MMAP_THRESHOLD_"] == nil else { return false }
    return kd_set_mmap_threshold(Int32(clamping: threshold)) == 1
  }
}
