import Foundation
import KDCore

/// One corpus file and how it will be read: the resolved manifest entry,
/// format, domain and task.
struct PlannedFile {
  var absolutePath: String
  var relativePath: String
  var size: Int64
  var mtime: Double
  var format: String
  var domain: String
  var task: String?
  var entry: CorpusManifest.Entry
  /// Folder of the manifest whose entry applied (for relative `labels_from` / `label_names`).
  var manifestFolder: String
  var labelsFromPath: String?
}

/// Walks a corpus folder and decides, per file, how to read it.
struct CorpusPlanner {
  let root: String
  let rootManifest: CorpusManifest?
  private var manifests: [String: CorpusManifest] = [:]   // folder (relative, "" = root) -> manifest
  private var globs: [String: Glob] = [:]

  /// A compiled glob, cached: every file is matched against every entry.
  mutating func glob(_ pattern: String) throws -> Glob {
    if let g = globs[pattern] { return g }
    let g = try Glob(pattern)
    globs[pattern] = g
    return g
  }

  static let manifestName = "kd-corpus.yaml"

  init(root: String, manifestPath: String?) throws {
    self.root = root
    if let manifestPath {
      rootManifest = try CorpusManifest.load(path: manifestPath)
    } else {
      rootManifest = nil
    }
  }

  /// Files under the root, sorted, with manifests and paired label files resolved.
  mutating func plan(skipped: inout [String], errors: inout [IngestSummary.FileError]) throws -> [PlannedFile] {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: root, isDirectory: &isDir) else {
      throw KDError(.usage, "corpus folder does not exist", file: root)
    }
    guard isDir.boolValue else { throw KDError(.usage, "not a folder (kd-ingest takes a corpus folder)", file: root) }
    var all: [String] = []
    try Self.walk(root: root, relative: "", into: &all)
    all.sort()
    // Manifests first.
    for rel in all where PathText.name(rel) == Self.manifestName || rel.hasSuffix(".kd-corpus.yaml") {
      let folder = PathText.parent(rel)
      if folder.isEmpty && rootManifest != nil { continue }
      if PathText.name(rel) != Self.manifestName { continue }
      do {
        manifests[folder] = try CorpusManifest.load(path: PathText.join(root, rel))
      } catch let e as KDError {
        errors.append(.init(file: rel, line: e.line, message: e.message + (e.field.map { " (\($0))" } ?? "")))
      }
    }
    if let rootManifest { manifests[""] = rootManifest }

    var planned: [PlannedFile] = []
    var labelFiles = Set<String>()
    for rel in all {
      let name = PathText.name(rel)
      if name == Self.manifestName || name.hasSuffix(".kd-corpus.yaml") { continue }
      guard let (entry, folder, manifest) = try resolve(rel) else {
        skipped.append(rel + " (excluded by manifest)")
        continue
      }
      if entry.skip == true {
        skipped.append(rel + " (skip: true in manifest)")
        continue
      }
      let format = entry.format ?? Self.defaultFormat(rel)
      guard let format else {
        skipped.append(rel + " (not a corpus format: " + Self.reasonSkipped(rel) + ")")
        continue
      }
      let abs = PathText.join(root, rel)
      let attrs = (try? FileManager.default.attributesOfItem(atPath: abs)) ?? [:]
      let size = (attrs[.size] as? NSNumber)?.int64Value ?? 0
      let mtime = (attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
      let comps = rel.split(separator: "/").map(String.init)
      let domain = entry.domain ?? manifest?.domain ?? (comps.count > 1 ? comps[0] : "general")
      let task = entry.task ?? manifest?.task ?? (comps.count > 2 ? comps[1] : domain)
      var labelsFrom: String?
      if let template = entry.labelsFrom {
        let stem = PathText.stem(name)
        let relToManifest = folder.isEmpty ? rel : String(rel.dropFirst(folder.count + 1))
        let dirOfFile = PathText.parent(relToManifest)
        var path = template.replacingOccurrences(of: "{name}", with: name)
          .replacingOccurrences(of: "{stem}", with: stem)
          .replacingOccurrences(of: "{dir}", with: dirOfFile)
        path = PathText.normalize(PathText.join(folder, path))
        labelsFrom = path
        labelFiles.insert(path)
      }
      planned.append(PlannedFile(absolutePath: abs, relativePath: rel, size: size, mtime: mtime, format: format,
                                 domain: domain, task: task, entry: entry, manifestFolder: folder,
                                 labelsFromPath: labelsFrom))
    }
    // Files that serve as another file's labels are not corpus files of their own.
    return planned.filter { p in
      if labelFiles.contains(p.relativePath) {
        skipped.append(p.relativePath + " (labels of a paired file)")
        return false
      }
      return true
    }
  }

  /// The manifest entry for a path: the deepest manifest with a matching entry
  /// wins; nil when a manifest excludes the file.
  mutating func resolve(_ rel: String) throws -> (CorpusManifest.Entry, String, CorpusManifest?)? {
    var folder = PathText.parent(rel)
    var nearest: (CorpusManifest, String)?
    while true {
      if let m = manifests[folder] {
        if nearest == nil { nearest = (m, folder) }
        let sub = folder.isEmpty ? rel : String(rel.dropFirst(folder.count + 1))
        // An entry that names the file wins over `exclude`.
        for e in m.files ?? [] where try glob(e.path).matches(sub) { return (e, folder, m) }
        for pattern in m.exclude ?? [] where try glob(pattern).matches(sub) { return nil }
        if m.onlyListed == true { return nil }
      }
      if folder.isEmpty { break }
      folder = PathText.parent(folder)
    }
    return (CorpusManifest.Entry(path: rel), nearest?.1 ?? "", nearest?.0)
  }

  /// Lists regular files (and links to them) below a folder with POSIX
  /// `readdir`; hidden entries are skipped. Foundation's directory
  /// enumerator proved unreliable when used from several threads.
  static func walk(root: String, relative: String, into out: inout [String]) throws {
    let dirPath = relative.isEmpty ? root : root + "/" + relative
    guard let dir = opendir(dirPath) else {
      throw KDError(.io, "cannot list folder: \(String(cString: strerror(errno)))", file: dirPath)
    }
    defer { closedir(dir) }
    var subdirs: [String] = []
    while let entry = readdir(dir) {
      let name = withUnsafePointer(to: entry.pointee.d_name) { p in
        p.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
      }
      if name.hasPrefix(".") { continue }
      let rel = relative.isEmpty ? name : relative + "/" + name
      var st = stat()
      if stat(root + "/" + rel, &st) != 0 {
        // A dangling link or a file that vanished: list it so that reading reports it.
        out.append(rel)
        continue
      }
      if (st.st_mode & S_IFMT) == S_IFDIR { subdirs.append(rel) } else { out.append(rel) }
    }
    for d in subdirs { try walk(root: root, relative: d, into: &out) }
  }

  static let documentationNames = ["readme", "license", "licence", "copying", "notice", "changelog", "authors"]

  /// The format implied by a file name, or nil for files that are not corpus data.
  static func defaultFormat(_ rel: String) -> String? {
    var name = PathText.name(rel).lowercased()
    if name.hasSuffix(".gz") { name = String(name.dropLast(3)) }
    let stem = PathText.stem(name)
    if documentationNames.contains(where: { stem.hasPrefix($0) }) { return nil }
    switch PathText.ext(name) {
    case "txt", "text": return "text"
    case "csv": return "csv"
    case "tsv", "tab": return "tsv"
    case "jsonl", "ndjson": return "jsonl"
    case "nxml": return "jats"
    case "xml": return "xml-auto"
    case "akn": return "akn"
    case "htm", "html", "xhtml": return "edgar"
    default: return nil
    }
  }

  static func reasonSkipped(_ rel: String) -> String {
    let name = PathText.name(rel).lowercased()
    let stem = PathText.stem(name)
    if documentationNames.contains(where: { stem.hasPrefix($0) }) { return "documentation" }
    let ext = PathText.ext(name)
    return ext.isEmpty ? "no extension; set `format` in a manifest" : "unknown extension .\(ext); set `format` in a manifest"
  }
}

/// Path helpers on plain strings ("/"-separated). Foundation's NSString path
/// methods trapped intermittently here (swift-corelibs-foundation), so the
/// walker uses these.
enum PathText {
  static func parent(_ p: String) -> String {
    guard let i = p.lastIndex(of: "/") else { return "" }
    return i == p.startIndex ? "/" : String(p[..<i])
  }
  static func name(_ p: String) -> String {
    guard let i = p.lastIndex(of: "/") else { return p }
    return String(p[p.index(after: i)...])
  }
  static func join(_ a: String, _ b: String) -> String {
    if a.isEmpty { return b }
    if b.isEmpty { return a }
    return a.hasSuffix("/") ? a + b : a + "/" + b
  }
  static func stem(_ p: String) -> String {
    let n = name(p)
    guard let i = n.lastIndex(of: "."), i != n.startIndex else { return n }
    return String(n[..<i])
  }
  static func ext(_ p: String) -> String {
    let n = name(p)
    guard let i = n.lastIndex(of: "."), i != n.startIndex else { return "" }
    return String(n[n.index(after: i)...])
  }
  /// Resolves `.` and `..` components.
  static func normalize(_ p: String) -> String {
    var out: [Substring] = []
    for c in p.split(separator: "/", omittingEmptySubsequences: true) {
      if c == "." { continue }
      if c == "..", let last = out.last, last != ".." { out.removeLast(); continue }
      out.append(c)
    }
    return (p.hasPrefix("/") ? "/" : "") + out.joined(separator: "/")
  }
}
