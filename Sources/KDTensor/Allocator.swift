import CKernels
import Foundation

/// How a training process reuses its large buffers and when it gives memory back.
///
/// A training step allocates and frees the same activation buffers (up to 25 MB each for a
/// 16 × 256 or 32 × 128 batch) every step. Served from the heap they are reused as they are; served
/// by fresh mappings (glibc's behaviour for large blocks until its threshold has risen, or with a
/// fixed low `M_MMAP_THRESHOLD`) every step faults in and zeroes their pages again. Measured on this
/// 2-vCPU VM (BENCHMARKS.md, issue 13/14 allocator): a 1 MiB threshold made the default
/// transformer student's step 1.44 s instead of 1.08–1.20 s and a fine-tuning epoch of 64 medical
/// abstracts 16.3–17.8 s instead of 12.7–13.1 s.
///
/// The heap, however, keeps the holes of what a phase freed (the inference snapshot, evaluation
/// buffers), and that raised a full transformer run's peak RSS by 20% (issue 13, memory). So
/// training keeps its buffers (`reuseFreedBuffers`), and every change between training and
/// inference hands the free heap pages back (`releaseFreeMemory`, `TrainableBert`).
public enum Allocator {
  /// Blocks under 32 MiB (glibc's largest mmap threshold on 64-bit) come from the heap, and free
  /// space at the heap's top is never trimmed by `free` (a step frees hundreds of MB of activations
  /// at once; trimmed, the next step would fault them in again), only by `releaseFreeMemory`.
  /// A `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` in the environment is the user's
  /// choice and is left alone.
  /// - Returns: whether glibc took the settings (false off glibc, or when the environment sets them).
  @discardableResult
  public static func reuseFreedBuffers() -> Bool {
    let env = ProcessInfo.processInfo.environment
    guard env["MALLOC_MMAP_THRESHOLD_"] == nil, env["MALLOC_TRIM_THRESHOLD_"] == nil else { return false }
    return kd_reuse_freed_buffers(32 << 20, Int32.max) == 1
  }

  /// Gives the heap's free pages back to the system (glibc `malloc_trim(0)`: its top and the
  /// holes inside it). Costs a walk of the heap and page faults on the next reuse, so it is called
  /// between phases, not per step.
  /// - Returns: whether any memory went back.
  @discardableResult
  public static func releaseFreeMemory() -> Bool {
    kd_release_free_memory() == 1
  }
}
