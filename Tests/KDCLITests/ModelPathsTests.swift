import Foundation
import KDCore
import KDTestSupport
import Testing

/// The default teacher and tokenizer lookup: $KD_TEACHER, $KD_MODELS, ./models, then the install's share folder.
@Suite struct ModelPathsTests {
  /// A fake teacher folder (config.json + tokenizer.json) at `<root>/<models>/all-MiniLM-L6-v2`.
  @discardableResult
  func teacher(_ dir: TemporaryDirectory, under models: String, tokenizer: Bool = true) throws -> String {
    let folder = "\(models)/\(ModelPaths.defaultTeacherName)"
    try dir.write("\(folder)/config.json", "{}")
    if tokenizer { try dir.write("\(folder)/tokenizer.json", "{}") }
    return dir.file(folder)
  }

  func context(_ dir: TemporaryDirectory, env: [String: String] = [:]) -> ModelPaths.Context {
    ModelPaths.Context(environment: env, currentDirectory: dir.file("work"), executablePath: dir.file("prefix/bin/kd-ingest"))
  }

  @Test func lookupOrderIsTeacherEnvThenModelsEnvThenWorkingFolderThenInstall() throws {
    let dir = try TemporaryDirectory()
    let installed = try teacher(dir, under: "prefix/share/kd/models")
    #expect(try ModelPaths.defaultTeacher(context(dir)) == installed)
    #expect(ModelPaths.defaultTokenizer(context(dir)) == installed + "/tokenizer.json")

    let local = try teacher(dir, under: "work/models")
    #expect(try ModelPaths.defaultTeacher(context(dir)) == local)

    let env = try teacher(dir, under: "elsewhere")
    let withModels = context(dir, env: ["KD_MODELS": dir.file("elsewhere")])
    #expect(try ModelPaths.defaultTeacher(withModels) == env)
    #expect(ModelPaths.defaultTokenizer(withModels) == env + "/tokenizer.json")

    // $KD_TEACHER names a teacher folder and is used as given, like --teacher.
    let named = context(dir, env: ["KD_MODELS": dir.file("elsewhere"), "KD_TEACHER": "/custom/teacher"])
    #expect(try ModelPaths.defaultTeacher(named) == "/custom/teacher")
    #expect(ModelPaths.candidates(named).map(\.origin) == ["$KD_TEACHER", "$KD_MODELS", "./models", "install"])
  }

  @Test func missingOrEmptyPlacesAreSkipped() throws {
    let dir = try TemporaryDirectory()
    let installed = try teacher(dir, under: "prefix/share/kd/models")
    // $KD_MODELS without the teacher, and empty variables, fall through to the install.
    let ctx = context(dir, env: ["KD_MODELS": dir.file("nothing-here"), "KD_TEACHER": ""])
    #expect(try ModelPaths.defaultTeacher(ctx) == installed)
    // A folder with a teacher but no tokenizer.json is passed over for the tokenizer only.
    let local = try teacher(dir, under: "work/models", tokenizer: false)
    #expect(try ModelPaths.defaultTeacher(ctx) == local)
    #expect(ModelPaths.defaultTokenizer(ctx) == installed + "/tokenizer.json")
  }

  @Test func nothingFoundIsAnErrorListingEveryPlaceTried() throws {
    let dir = try TemporaryDirectory()
    let ctx = context(dir, env: ["KD_MODELS": "/no/such/models"])
    #expect(ModelPaths.defaultTokenizer(ctx) == nil)
    #expect {
      try ModelPaths.defaultTeacher(ctx)
    } throws: { error in
      let e = error as? KDError
      return e?.kind == .model && e?.field == "--teacher" && e?.message.contains("/no/such/models/all-MiniLM-L6-v2 ($KD_MODELS)") == true
        && e?.message.contains(dir.file("prefix/share/kd/models/all-MiniLM-L6-v2") + " (install)") == true
        && e?.message.contains("./models") == true
    }
  }

  @Test func theRunningExecutableIsKnown() {
    let exe = ModelPaths.runningExecutable
    #expect(exe != nil)
    #expect(exe.map { FileManager.default.isExecutableFile(atPath: $0) } == true)
  }
}
