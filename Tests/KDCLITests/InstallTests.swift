import Foundation
@testable import KDStore
import KDTestSupport
import Testing

/// `make install` into a temporary prefix, then the README's three commands with no
/// flags in an empty folder (issue 17): the executables find the default teacher in
/// PREFIX/share/kd/models from their own path. Then `make uninstall`.
@Suite(.serialized) struct InstallTests {
  @Test func installedToolsRunTheReadmePipelineInAnEmptyFolder() throws {
    let root = TestPaths.packageRoot
    let bin = (TestPaths.binaries as NSString).standardizingPath
    for tool in ["kd-ingest", "kd-teacher-cache", "kd-train", "kd-report", "kd-tokenize"] {
      guard FileManager.default.isExecutableFile(atPath: bin + "/" + tool) else { return TestPaths.skipNote(bin + "/" + tool) }
    }
    guard FileManager.default.fileExists(atPath: root + "/models/all-MiniLM-L6-v2/.complete") else {
      return TestPaths.skipNote("models/all-MiniLM-L6-v2 (make teacher)")
    }
    let dir = try TemporaryDirectory("kd-install")
    let prefix = dir.file("prefix")
    // The Makefile's install, with the debug build (BIN= skips the release build).
    let install = try runCommand("/usr/bin/env", ["make", "-s", "-C", root, "install", "BIN=\(bin)", "PREFIX=\(prefix)"])
    try #require(install.status == 0, "make install: \(install.stderr)")
    #expect(FileManager.default.isExecutableFile(atPath: prefix + "/bin/kd-train"))
    #expect(FileManager.default.fileExists(atPath: prefix + "/share/kd/models/all-MiniLM-L6-v2/model.safetensors"))

    // An empty folder holding only a corpus; no models/ folder, no KD_MODELS or KD_TEACHER.
    let work = dir.file("work")
    // The first 160 rows of the banking sample keep the debug teacher and trainer quick.
    let tsv = try String(contentsOfFile: root + "/corpora/financial/banking_intents/queries.tsv", encoding: .utf8)
    let rows = tsv.split(separator: "\n", omittingEmptySubsequences: true).prefix(161)
    try dir.write("work/corpus/financial/banking_intents/queries.tsv", rows.joined(separator: "\n") + "\n")
    let path = prefix + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    let env = ["PATH": path, "KD_MODELS": "", "KD_TEACHER": ""]
    func sh(_ line: String) throws -> CommandResult {
      try runCommand("/bin/sh", ["-c", line], environment: env, currentDirectory: work)
    }
    #expect(try sh("command -v kd-ingest").stdout.hasPrefix(prefix))

    let ingest = try sh("kd-ingest corpus/")
    try #require(ingest.status == 0, "kd-ingest: \(ingest.stderr)")
    #expect(!ingest.stderr.contains("without token ids"), "\(ingest.stderr)")
    let store = try Store.open(path: work + "/data.sqlite")
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM tokenizations") ?? 0 >= 150)

    let cache = try sh("kd-teacher-cache")
    try #require(cache.status == 0, "kd-teacher-cache: \(cache.stderr)")
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM teacher_outputs") ?? 0 >= 150)

    let train = try sh("kd-train --db data.sqlite")
    try #require(train.status == 0, "kd-train: \(train.stderr)")
    #expect(train.stdout.contains("| banking_intents |"), "\(train.stdout)")
    #expect(FileManager.default.fileExists(atPath: work + "/kd-models/banking_intents/kd/best/model.safetensors"))

    // Uninstalled, the same command finds no teacher and says where it looked.
    let uninstall = try runCommand("/usr/bin/env", ["make", "-s", "-C", root, "uninstall", "PREFIX=\(prefix)"])
    #expect(uninstall.status == 0, "\(uninstall.stderr)")
    #expect(!FileManager.default.fileExists(atPath: prefix + "/bin/kd-train"))
    #expect(!FileManager.default.fileExists(atPath: prefix + "/share/kd"))
    let bare = try runCommand(bin + "/kd-teacher-cache", [], environment: env, currentDirectory: work)
    #expect(bare.status == 1)
    #expect(bare.stderr.contains("default teacher all-MiniLM-L6-v2 not found") && bare.stderr.contains("./models"),
            "\(bare.stderr)")
  }
}
