import Foundation

/// Finds the default teacher (and its tokenizer) from any working folder.
///
/// The stages' defaults (kd-ingest's `--tokenizer`, kd-teacher-cache's
/// `--teacher`) call this one lookup, so an installed kd works in an empty
/// folder with no flags. An explicit flag always wins; otherwise the first of
/// these that holds the file asked for is used:
///
/// 1. `$KD_TEACHER`: a teacher folder itself (used as given, like `--teacher`);
/// 2. `$KD_MODELS/all-MiniLM-L6-v2`: a models folder named by the environment;
/// 3. `./models/all-MiniLM-L6-v2`: a `models/` folder in the working folder
///    (a checkout of the repository);
/// 4. `<exe>/../share/kd/models/all-MiniLM-L6-v2`: the folder `make install`
///    fills, found from the executable's own path (symlinks resolved), so any
///    `PREFIX` (and a `DESTDIR` staging copy) works.
///
/// An empty environment variable counts as unset.
///
/// For example:
/// ```swift
/// let dir = try ModelPaths.defaultTeacher()          // ".../share/kd/models/all-MiniLM-L6-v2"
/// let tok = ModelPaths.defaultTokenizer()            // its tokenizer.json, or nil
/// ```
public enum ModelPaths {
  /// The default teacher's folder name.
  public static let defaultTeacherName = "all-MiniLM-L6-v2"

  /// Where a lookup can find models: the environment, the working folder and the executable.
  public struct Context: Sendable {
    public var environment: [String: String]
    public var currentDirectory: String
    /// The running executable's path (nil when unknown).
    public var executablePath: String?

    public init(environment: [String: String], currentDirectory: String, executablePath: String?) {
      self.environment = environment; self.currentDirectory = currentDirectory; self.executablePath = executablePath
    }

    /// The running process's context.
    public static var current: Context {
      Context(environment: ProcessInfo.processInfo.environment,
              currentDirectory: FileManager.default.currentDirectoryPath,
              executablePath: ModelPaths.runningExecutable)
    }
  }

  /// One place the lookup tries: a teacher folder and why it is a candidate.
  public struct Candidate: Sendable, Equatable {
    public var folder: String
    /// `$KD_TEACHER`, `$KD_MODELS`, `./models` or `install`.
    public var origin: String
  }

  /// The teacher folders to try for the default teacher, in lookup order.
  public static func candidates(_ context: Context = .current) -> [Candidate] {
    var out: [Candidate] = []
    func env(_ name: String) -> String? {
      guard let v = context.environment[name], !v.isEmpty else { return nil }
      return v
    }
    if let t = env("KD_TEACHER") { out.append(Candidate(folder: t, origin: "$KD_TEACHER")) }
    if let m = env("KD_MODELS") { out.append(Candidate(folder: join(m, defaultTeacherName), origin: "$KD_MODELS")) }
    out.append(Candidate(folder: join(join(context.currentDirectory, "models"), defaultTeacherName), origin: "./models"))
    if let exe = context.executablePath {
      let prefix = ((exe as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
      let share = join(join(join(join(prefix, "share"), "kd"), "models"), defaultTeacherName)
      out.append(Candidate(folder: (share as NSString).standardizingPath, origin: "install"))
    }
    return out
  }

  /// The default teacher folder: `$KD_TEACHER` when set, else the first candidate holding a `config.json`.
  /// - Throws: `KDError(.model)` listing every place tried when none has one.
  public static func defaultTeacher(_ context: Context = .current) throws -> String {
    let all = candidates(context)
    if let first = all.first, first.origin == "$KD_TEACHER" { return first.folder }
    if let hit = all.first(where: { exists(join($0.folder, "config.json")) }) { return hit.folder }
    throw KDError(.model, "default teacher \(defaultTeacherName) not found; tried \(describe(all)). "
                    + "Pass --teacher DIR, set KD_MODELS to a folder holding \(defaultTeacherName), "
                    + "or run `make install` (see README, Install)", field: "--teacher")
  }

  /// The default tokenizer: the default teacher's `tokenizer.json` (first candidate that has one), or nil.
  public static func defaultTokenizer(_ context: Context = .current) -> String? {
    candidates(context).lazy.map { join($0.folder, "tokenizer.json") }.first(where: exists)
  }

  /// The places tried, for messages: `a ($KD_MODELS), b (./models), ...`.
  public static func describe(_ candidates: [Candidate]) -> String {
    candidates.map { "\($0.folder) (\($0.origin))" }.joined(separator: ", ")
  }

  /// This process's executable, symlinks resolved (`/proc/self/exe` on Linux).
  public static var runningExecutable: String? {
    #if os(Linux)
      if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"), !p.isEmpty { return p }
    #endif
    if let p = Bundle.main.executablePath { return (p as NSString).resolvingSymlinksInPath }
    guard let arg0 = CommandLine.arguments.first, arg0.contains("/") else { return nil }
    return (arg0 as NSString).resolvingSymlinksInPath
  }

  private static func join(_ a: String, _ b: String) -> String { (a as NSString).appendingPathComponent(b) }
  private static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
}
