import ArgumentParser
import Foundation
import KDCLI
import KDCore
import KDStore
import KDTeacher
import KDTensor

@main
struct TeacherCacheCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kd-teacher-cache",
    abstract: "Cache a teacher's outputs (logits, optionally embeddings) for every example that lacks them.",
    discussion: """
      Incremental and resumable: only examples without an output for the teacher
      are computed, and work is committed every --commit-every batches, so a killed
      run loses at most one chunk and a rerun continues. Safe from cron: one writer
      at a time holds <db>.lock.

      `kd-teacher-cache` alone caches for the DB's task with models/all-MiniLM-L6-v2
      (or $KD_TEACHER). See docs/teacher-cache.md.

      Examples:
        kd-teacher-cache
        kd-teacher-cache --db data.sqlite --teacher models/all-MiniLM-L6-v2 --task banking77
        kd-teacher-cache --teacher models/legal-bert --name legal-bert --storage f16 --embeddings
        kd-teacher-cache --matmul fp32        # OpenBLAS fp32 even where the CPU has AMX
        kd-teacher-cache --teacher-cmd "python3 tools/teacher-cmd/hf_teacher.py models/big" --json
        kd-teacher-cache dump --teacher all-MiniLM-L6-v2 --limit 5
        kd-teacher-cache list

      \(KDExit.helpText)
      """,
    subcommands: [Cache.self, Dump.self, List.self],
    defaultSubcommand: Cache.self)
}


struct Cache: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compute and store teacher outputs for examples that lack them (the default command).",
    discussion: KDExit.helpText)

  @OptionGroup var common: CommonOptions

  @Option(name: .long, help: "Teacher checkpoint directory (config.json, model.safetensors, tokenizer.json). Default: $KD_TEACHER or models/all-MiniLM-L6-v2.")
  var teacher: String?

  @Option(name: .long, help: "Run an external teacher: a shell command speaking kd's JSON-lines protocol (schemas/teacher-protocol.schema.json).")
  var teacherCmd: String?

  @Option(name: .long, help: "Teacher name in the DB (default: the directory's base name, or the external teacher's name). Several tasks: <name>/<task>.")
  var name: String?

  @Option(name: .long, help: "Task to cache for (repeatable). Default: the only task, or every task with labels.")
  var task: [String] = []

  @Option(name: .long, help: "Logit storage: auto (f32 up to 256 outputs, else topk), f32, f16 or topk.")
  var storage: String = "auto"

  @Option(name: .long, help: "k for --storage topk (default 32).")
  var topK: Int?

  @Flag(name: .long, help: "Also cache the pooled embedding (f16), for representation distillation.")
  var embeddings = false

  @Option(name: .long, help: "Examples per teacher call.")
  var batchSize: Int = 32

  @Option(name: .long, help: "Batches per committed transaction (a kill loses at most this much).")
  var commitEvery: Int = 8

  @Flag(name: .long, help: "Tokenize examples lacking the teacher's tokenization with its tokenizer (stored beside the others) instead of refusing them.")
  var retokenize = false

  @Flag(name: .long, help: "Drop an existing teacher of the same name and its outputs when its settings differ.")
  var replace = false

  @Option(name: .long, help: "Compute at most N examples per task in this run.")
  var limit: Int?

  @Flag(name: .long, help: "Fit a head on pooled embeddings even when the checkpoint has its own classifier.")
  var fitHead = false

  @Option(name: .long, help: "Fit the head on this fraction of the labeled training examples (deterministic by example id).")
  var labelFraction: Double = 1

  @Option(name: .long, help: "Seed of the --label-fraction subset.")
  var labelSeed: UInt64 = 0

  @Option(name: .long, help: "Comma-separated L2 strengths to choose from on validation (default 1e-4,1e-3,1e-2,1e-1,1).")
  var strengths: String?

  @Option(name: .customLong("class-weight"), help: "Fitted heads: 'balanced' weighs classes inversely to their frequency and picks the strength on validation macro-F1; 'none' fits plainly and picks on log-loss.")
  var classWeight = "balanced"

  @Option(name: .long, help: "Also save fitted heads as <dir>/<task>/head.safetensors + head.json.")
  var saveHead: String?

  @Option(name: .long, help: "Longest sequence the teacher sees (default: sentence_bert_config.json max_seq_length, else the model's positions). Longer examples are windowed and averaged.")
  var maxTokens: Int?

  @Option(name: .long, help: "Encoder worker threads (default: CPU count).")
  var threads: Int?

  @Option(name: .long, help: "Dense-layer products: auto (amx-bf16x3 where the CPU has AMX, else fp32), fp32 (OpenBLAS), or amx-bf16x3 (AMX tiles, each fp32 operand split into two bf16 parts, three products; ~1e-5 relative error).")
  var matmul: String = "auto"

  @Option(name: .long, help: "Seconds to wait for the DB writer lock.")
  var lockTimeout: Double = 60

  @Option(name: .long, help: "Seconds to wait for any line from --teacher-cmd.")
  var responseTimeout: Double = 600

  func validate() throws {
    guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
    guard commitEvery > 0 else { throw ValidationError("--commit-every must be positive") }
    guard labelFraction > 0 && labelFraction <= 1 else { throw ValidationError("--label-fraction must be in (0, 1]") }
    guard ["balanced", "none"].contains(classWeight) else { throw ValidationError("--class-weight must be balanced or none") }
    if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    if let topK, topK <= 0 { throw ValidationError("--top-k must be positive") }
    guard ["auto", "f32", "f16", "topk"].contains(storage) else {
      throw ValidationError("--storage must be auto, f32, f16 or topk (got '\(storage)')")
    }
    if teacher != nil && teacherCmd != nil { throw ValidationError("pass --teacher or --teacher-cmd, not both") }
  }

  func options() throws -> TeacherCacheOptions {
    var o = TeacherCacheOptions()
    o.name = name
    o.taskNames = task
    switch storage {
    case "auto": o.storage = topK.map { .fixed(.topK($0)) } ?? .auto
    case "topk": o.storage = .fixed(.topK(topK ?? TeacherCache.defaultTopK))
    default: o.storage = .fixed(try TeacherStorage(name: storage, topK: nil))
    }
    o.storeEmbeddings = embeddings
    o.batchSize = batchSize
    o.commitEvery = commitEvery
    o.retokenize = retokenize
    o.replace = replace
    o.limit = limit
    o.head.forceFit = fitHead
    o.head.labelFraction = labelFraction
    o.head.balanced = classWeight == "balanced"
    o.head.labelSeed = labelSeed
    if let strengths {
      o.head.strengths = try strengths.split(separator: ",").map { part in
        guard let v = Float(part.trimmingCharacters(in: .whitespaces)), v >= 0, v.isFinite else {
          throw KDError(.usage, "not a non-negative number: '\(part)'", field: "--strengths")
        }
        return v
      }
    }
    return o
  }

  func makeBackend() throws -> TeacherBackend {
    let mode: MatmulPrecision
    if matmul == "auto" {
      mode = .automatic
    } else if let m = MatmulPrecision(rawValue: matmul) {
      mode = m
    } else {
      throw KDError(.usage, "'\(matmul)': expected auto, fp32 or amx-bf16x3", field: "--matmul")
    }
    if let cmd = teacherCmd {
      if matmul != "auto" { Log.warning("--matmul applies to native teachers; the external teacher computes its own way") }
      return try ExternalTeacher(command: cmd, responseTimeout: responseTimeout)
    }
    let dir = teacher ?? ProcessInfo.processInfo.environment["KD_TEACHER"].flatMap { $0.isEmpty ? nil : $0 }
      ?? "models/all-MiniLM-L6-v2"
    let t = try EncoderTeacher.load(
      directory: dir, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, maxTokens: maxTokens, matmul: mode)
    Log.info("teacher \(t.defaultName): dense layers \(t.encoder.effectiveMatmul == .fp32 ? "fp32 (OpenBLAS)" : "on AMX tiles (bf16x3)")")
    t.saveHeadDirectory = saveHead
    return t
  }

  func run() throws {
    // OpenBLAS 0.3.21 misdetects some CPUs and falls back to slow kernels:
    // restart once with the right OPENBLAS_CORETYPE (no-op when already set).
    BLAS.reexecWithFasterKernelsIfNeeded()
    common.configureLogging()
    try runStage(tool: "kd-teacher-cache") { try cacheOutputs() }
  }

  func cacheOutputs() throws -> Int32 {
    guard FileManager.default.fileExists(atPath: common.db) else {
      throw KDError(.io, "no such database (run kd-ingest first, or pass --db)", file: common.db)
    }
    let options = try options()
    let backend = try makeBackend()
    defer { try? backend.close() }
    // Lock first, then open: a connection opened before waiting could read a stale snapshot.
    let stage = try StageRun.begin(stage: "teacher-cache", database: common.db, commandLine: currentCommandLine,
                                   lockTimeout: lockTimeout, holder: "teacher-cache", onWait: { Log.info($0) })
    let store = stage.store
    let runID = stage.runID
    Interruption.shared.install()

    let cache = TeacherCache(store: store, backend: backend, options: options)
    cache.logger = { Log.info($0) }
    cache.isInterrupted = { Interruption.shared.requested }
    var bar: ProgressBar?
    var last = 0
    cache.progress = { done, total in
      if bar == nil || bar?.total != Int64(total) || done < last {
        bar?.finish()
        bar = ProgressBar(label: "teacher", total: Int64(total), unit: "ex")
        last = 0
      }
      bar?.advance(Int64(done - last))
      last = done
    }
    let summaries: [TeacherCacheSummary]
    do {
      summaries = try cache.run(runID: runID)
      bar?.finish()
    } catch {
      bar?.finish()
      stage.fail(error)
      throw error
    }
    let failed = summaries.reduce(0) { $0 + ($1.skipped["teacher_error"] ?? 0) }
    let status: RunStatus = cache.interrupted ? .interrupted : (failed > 0 ? .partial : .ok)
    let encoded = (try? JSONEncoder().encode(summaries)).flatMap { try? JSONSerialization.jsonObject(with: $0) } ?? []
    try stage.finish(status, counts: ["teachers": encoded])

    for s in summaries {
      var line = "\(s.teacher) [\(s.task)]: cached \(s.cachedNow) now, \(s.alreadyCached) already"
      for (k, v) in s.skipped.sorted(by: { $0.key < $1.key }) { line += ", skipped \(v) (\(k))" }
      if s.windowed > 0 { line += ", \(s.windowed) windowed" }
      if s.tokenizedNow > 0 { line += ", \(s.tokenizedNow) tokenized" }
      line += String(format: "; %.1f s, %.1f ex/s, %@ %.0f B/example", s.seconds, s.examplesPerSecond, s.storage, s.bytesPerExample)
      Log.info(line)
      for f in s.failures { Log.warning(f) }
    }
    if common.json {
      var out: [String: Any] = ["run_id": runID, "status": status.rawValue, "teachers": encoded]
      if let native = backend as? EncoderTeacher { out["matmul"] = native.encoder.effectiveMatmul.rawValue }
      printJSON(out)
    }
    return KDExit.code(for: status)
  }
}

struct Dump: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print cached outputs as JSON lines: example id, document, split, text, labels, logits, probabilities, top class.")

  @OptionGroup var common: CommonOptions

  @Option(name: .long, help: "Teacher name (default: the only teacher in the DB).")
  var teacher: String?

  @Option(name: .long, help: "At most N lines.")
  var limit: Int?

  @Option(name: .long, help: "Only this split (train, validation, test).")
  var split: String?

  @Flag(name: .long, help: "Include the cached embedding.")
  var embeddings = false

  func run() throws {
    common.configureLogging()
    try runStage(tool: "kd-teacher-cache dump") {
      let store = try Store.open(path: common.db, readOnly: true)
      let all = try store.teachers()
      let record: TeacherRecord
      if let teacher {
        guard let r = try store.teacher(named: teacher) else {
          throw KDError(.input, "no teacher named '\(teacher)' (teachers: \(all.map(\.name).joined(separator: ", ")))", field: "--teacher")
        }
        record = r
      } else {
        guard all.count == 1 else {
          throw KDError(
            .usage, all.isEmpty ? "the database has no teachers: run kd-teacher-cache first"
              : "several teachers (\(all.map(\.name).joined(separator: ", "))): pass --teacher", field: "--teacher")
        }
        record = all[0]
      }
      var splitValue: Split?
      if let split {
        guard let s = Split(loose: split) else { throw KDError(.usage, "unknown split '\(split)'", field: "--split") }
        splitValue = s
      }
      var buffer = Data()
      try TeacherDump.write(store: store, teacher: record, split: splitValue, limit: limit, includeEmbedding: embeddings) { line in
        buffer.append(contentsOf: line.utf8)
        buffer.append(0x0A)
        if buffer.count > 1 << 16 {
          FileHandle.standardOutput.write(buffer)
          buffer.removeAll(keepingCapacity: true)
        }
      }
      FileHandle.standardOutput.write(buffer)
      return KDExit.success
    }
  }
}

struct List: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List the teachers in the DB with their cached counts and storage.")

  @OptionGroup var common: CommonOptions

  func run() throws {
    common.configureLogging()
    try runStage(tool: "kd-teacher-cache list") {
      let store = try Store.open(path: common.db, readOnly: true)
      var rows: [[String: Any]] = []
      for t in try store.teachers() {
        let sizes = try store.teacherOutputSizes(teacherID: t.id)
        let task = try t.taskID.flatMap { id in try store.tasks().first { $0.id == id }?.name } ?? ""
        var row: [String: Any] = [
          "name": t.name, "kind": t.kind, "task": task, "storage": t.storage.name, "num_outputs": t.numOutputs,
          "cached": sizes.count, "bytes_per_example": sizes.logitsBytes + sizes.embeddingBytes, "created_at": t.createdAt,
        ]
        if let h = t.headJSON { row["head"] = (try? JSONSerialization.jsonObject(with: Data(h.utf8))) ?? h }
        if let d = t.embeddingDim { row["embedding_dim"] = d }
        rows.append(row)
      }
      if common.json {
        printJSON(["teachers": rows])
      } else {
        for r in rows {
          print("\(r["name"] ?? "")\t\(r["kind"] ?? "")\ttask=\(r["task"] ?? "")\t\(r["storage"] ?? "")\toutputs=\(r["num_outputs"] ?? "")\tcached=\(r["cached"] ?? "")")
        }
      }
      return KDExit.success
    }
  }
}
