import Foundation

/// Which part of a corpus one array task handles: shard `index` of `count`
/// (0-based, `0 <= index < count`).
///
/// The assignment is a pure function of the item's key, so it never depends
/// on the order files are found in, on which machine runs the task, or on the
/// other shards:
/// - kd-ingest assigns each file by a hash of its path relative to the corpus root;
/// - kd-teacher-cache assigns each example by a hash of its text.
///
/// From the command line (`--shard K/N`) or, when not given, from the job
/// engine's environment:
/// - Slurm job arrays: `SLURM_ARRAY_TASK_ID` minus `SLURM_ARRAY_TASK_MIN`
///   (0 when unset) of `SLURM_ARRAY_TASK_COUNT`;
/// - Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX` of `KD_SHARD_COUNT`
///   (Kubernetes does not pass the completion count; set it in the manifest).
public struct ShardSpec: Sendable, Equatable, Hashable, CustomStringConvertible {
  public var index: Int
  public var count: Int

  public init(index: Int, count: Int) throws {
    guard count >= 1, index >= 0, index < count else {
      throw KDError(.usage, "shard \(index)/\(count): expected K/N with 0 <= K < N", field: "--shard")
    }
    self.index = index
    self.count = count
  }

  /// `K/N`, 0-based.
  public var description: String { "\(index)/\(count)" }

  /// Whether this is the whole corpus (`0/1`).
  public var isWhole: Bool { count == 1 }

  /// Parses `K/N` (0-based K).
  public static func parse(_ text: String) throws -> ShardSpec {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let k = Int(parts[0].trimmingCharacters(in: .whitespaces)),
      let n = Int(parts[1].trimmingCharacters(in: .whitespaces))
    else {
      throw KDError(.usage, "'\(text)': expected K/N, e.g. 0/4 for the first of four shards", field: "--shard")
    }
    return try ShardSpec(index: k, count: n)
  }

  /// Where a shard came from, for the log.
  public enum Origin: String, Sendable { case commandLine = "--shard", slurm = "SLURM_ARRAY_TASK_ID", kubernetes = "JOB_COMPLETION_INDEX" }

  /// The shard from `--shard` when given, else from the environment (Slurm
  /// array or Kubernetes Indexed Job), else nil (the whole corpus).
  /// - Throws: `KDError(.usage)` for malformed values or an index without a count.
  public static func resolve(_ option: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
    throws -> (shard: ShardSpec, origin: Origin)?
  {
    if let option { return (try parse(option), .commandLine) }
    func int(_ name: String) throws -> Int? {
      guard let v = environment[name], !v.isEmpty else { return nil }
      guard let i = Int(v.trimmingCharacters(in: .whitespaces)) else {
        throw KDError(.usage, "\(name)=\(v) is not a whole number", field: name)
      }
      return i
    }
    if let id = try int("SLURM_ARRAY_TASK_ID") {
      guard let n = try int("SLURM_ARRAY_TASK_COUNT") else {
        throw KDError(.usage, "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; pass --shard K/N", field: "--shard")
      }
      let min = try int("SLURM_ARRAY_TASK_MIN") ?? 0
      if let step = try int("SLURM_ARRAY_TASK_STEP"), step != 1 {
        throw KDError(.usage, "a Slurm array with step \(step) cannot be numbered 0..<N; use --array=0-\(n - 1) or pass --shard K/N", field: "--shard")
      }
      do {
        return (try ShardSpec(index: id - min, count: n), .slurm)
      } catch {
        throw KDError(.usage, "SLURM_ARRAY_TASK_ID=\(id) (min \(min)) is not one of \(n) consecutive tasks; use --array=0-\(n - 1) or pass --shard K/N", field: "--shard")
      }
    }
    if let index = try int("JOB_COMPLETION_INDEX") {
      guard let n = try int("KD_SHARD_COUNT") else {
        throw KDError(.usage, "JOB_COMPLETION_INDEX is set but KD_SHARD_COUNT is not: set it to the Job's completions, or pass --shard K/N", field: "--shard")
      }
      return (try ShardSpec(index: index, count: n), .kubernetes)
    }
    return nil
  }

  /// The shard a key belongs to: FNV-1a 64 of the key, mod `count`.
  public static func index(ofKey key: String, count: Int) -> Int {
    Int(StableHash.fnv1a64(key) % UInt64(count))
  }

  /// The shard an example text belongs to (by its stored `text_hash`, FNV-1a 64 of the text).
  public static func index(ofTextHash hash: UInt64, count: Int) -> Int {
    Int(hash % UInt64(count))
  }

  /// Whether a file (path relative to the corpus root) belongs to this shard.
  public func containsFile(_ relativePath: String) -> Bool {
    Self.index(ofKey: "file:" + relativePath, count: count) == index
  }

  /// Whether an example (FNV-1a 64 of its text) belongs to this shard.
  public func containsText(hash: UInt64) -> Bool {
    Self.index(ofTextHash: hash, count: count) == index
  }

  /// The store file of this shard next to `database`: `data.sqlite` becomes
  /// `data.shard-2-of-4.sqlite` (shard 2 of 4, 0-based) for kd-ingest, and
  /// `data.teacher-shard-2-of-4.sqlite` for kd-teacher-cache sharding a whole store.
  public func storePath(for database: String, teacher: Bool = false) -> String {
    let ns = database as NSString
    let ext = ns.pathExtension
    let stem = ext.isEmpty ? database : ns.deletingPathExtension
    return stem + (teacher ? ".teacher-shard-" : ".shard-") + "\(index)-of-\(count)" + (ext.isEmpty ? "" : "." + ext)
  }
}
