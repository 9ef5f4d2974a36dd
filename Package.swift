// swift-tools-version:6.0
// kd: knowledge distillation for domain text, as a SQLite-backed pipeline.
import PackageDescription

// Hot loops (tokenizer, BLAS glue, students) rely on SIMD; on the default
// x86-64 baseline `SIMD.addProduct` becomes a library call (PLATFORM.md).
#if arch(x86_64)
let simdFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let simdFlags: [SwiftSetting] = []
#endif
let common: [SwiftSetting] = [.swiftLanguageMode(.v5)] + simdFlags
// Modules whose inner loops mutate class-held buffers (tokenizer work areas, ingest):
// dynamic exclusivity checks there cost more than the work. Static checks still apply.
let hotLoops: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

let package = Package(
  name: "kd",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "kd-ingest", targets: ["kd-ingest"]),
    .executable(name: "kd-tokenize", targets: ["kd-tokenize"]),
    .executable(name: "kd-teacher-cache", targets: ["kd-teacher-cache"]),
    .executable(name: "kd-train", targets: ["kd-train"]),
    .executable(name: "kd-report", targets: ["kd-report"]),
    .executable(name: "kd-merge", targets: ["kd-merge"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    // ONNX export (KDExport): the runtime library only; the generated onnx.pb.swift is committed,
    // so the protoc plugin is never built here. Adds ~1-2 min to a first debug build on 2 cores.
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
  ],
  targets: [
    // C libraries (see ../shared/PLATFORM.md for the shims).
    .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
    .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
    .systemLibrary(name: "COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

    // Libraries, one per concern; dependencies point down.
    .target(name: "KDCore", swiftSettings: common),
    // Accuracy, macro-F1, ECE and temperature scaling: one definition for kd-train, kd-teacher-cache and kd-report.
    .target(name: "KDEval", swiftSettings: common),
    .target(name: "KDStore", dependencies: ["CSQLite", "KDCore", "KDEval"], swiftSettings: common + hotLoops),
    // Exclusivity is checked at compile time; the run-time checks cost ~10% of encoding (BENCHMARKS.md).
    .target(name: "KDTokenizers", dependencies: ["KDCore"], swiftSettings: common + hotLoops),
    .target(
      name: "KDIngest",
      dependencies: ["KDCore", "KDStore", "KDTokenizers", "CLibXML2", "CZlib",
                     .product(name: "Yams", package: "Yams")],
      swiftSettings: common + hotLoops),
    // AVX-512 versions of the encoder's hottest kernels, picked at run time (ckernels.h).
    .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"])]),
    .target(name: "KDTensor", dependencies: ["KDCore", "COpenBLAS", "CKernels"], swiftSettings: common),
    // Trainable layers (forward + backward) on KDTensor's kernels: students and the trainable BERT.
    .target(name: "KDNN", dependencies: ["KDCore", "KDTensor", "COpenBLAS", "CKernels"], swiftSettings: common),
    .target(name: "KDModels", dependencies: ["KDCore", "KDTensor", "KDNN"], swiftSettings: common),
    .target(
      name: "KDTeacher", dependencies: ["KDCore", "KDStore", "KDTokenizers", "KDTensor", "KDModels", "KDEval"],
      swiftSettings: common),
    .target(
      name: "KDTrain", dependencies: ["KDCore", "KDStore", "KDTokenizers", "KDTensor", "KDModels", "KDEval", "KDNN"],
      swiftSettings: common),
    .target(name: "KDReport", dependencies: ["KDCore", "KDStore", "KDEval"], swiftSettings: common),
    // Student export: Hugging Face folders and ONNX graphs (docs/export.md).
    .target(
      name: "KDExport",
      dependencies: ["KDCore", "KDTensor", "KDModels", "KDTrain", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      swiftSettings: common),
    .target(
      name: "KDCLI",
      dependencies: ["KDCore", "KDStore",
                     .product(name: "ArgumentParser", package: "swift-argument-parser"),
                     .product(name: "Logging", package: "swift-log")],
      swiftSettings: common),

    // Thin executables: argument parsing, then one library call.
    .executableTarget(
      name: "kd-ingest",
      dependencies: ["KDCLI", "KDIngest", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: common),
    .executableTarget(
      name: "kd-tokenize",
      dependencies: ["KDCLI", "KDTokenizers", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: common),
    .executableTarget(
      name: "kd-teacher-cache",
      dependencies: ["KDCLI", "KDTeacher", "KDTensor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: common),
    .executableTarget(
      name: "kd-train",
      dependencies: ["KDCLI", "KDTrain", "KDExport", "KDModels", "KDStore", "KDTensor",
                     .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: common),
    .executableTarget(
      name: "kd-merge",
      dependencies: ["KDCLI", "KDStore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: common),
    .executableTarget(name: "kd-readbench", dependencies: ["KDCore", "KDIngest"], swiftSettings: common),
    .executableTarget(
      name: "kd-report",
      dependencies: ["KDCLI", "KDReport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: common),

    // Benchmark driver for the teacher encoder (tools/bench/teacher/run.sh).
    .executableTarget(
      name: "kd-bench-teacher", dependencies: ["KDCore", "KDTensor", "KDModels"], path: "tools/bench/teacher/swift",
      swiftSettings: common),

    // Tests mirror the modules, plus end-to-end tests of the built executables.
    .target(name: "KDTestSupport", dependencies: ["KDCore", "KDStore"], path: "Tests/KDTestSupport",
            swiftSettings: common),
    .testTarget(name: "KDStoreTests", dependencies: ["KDStore", "KDTestSupport"], swiftSettings: common),
    .testTarget(name: "KDTokenizersTests", dependencies: ["KDTokenizers", "KDTestSupport"],
                resources: [.copy("Resources")], swiftSettings: common),
    .testTarget(name: "KDIngestTests", dependencies: ["KDIngest", "KDTestSupport"],
                resources: [.copy("Resources")], swiftSettings: common),
    .testTarget(name: "KDModelsTests", dependencies: ["KDModels", "KDTensor", "KDTokenizers", "KDTestSupport"],
                resources: [.copy("Resources")], swiftSettings: common),
    .testTarget(name: "KDNNTests", dependencies: ["KDNN", "KDModels", "KDTensor", "KDTestSupport"], swiftSettings: common),
    .testTarget(name: "KDTeacherTests", dependencies: ["KDTeacher", "KDTensor", "KDTokenizers", "KDTestSupport"], swiftSettings: common),
    .testTarget(name: "KDTrainTests", dependencies: ["KDTrain", "KDTestSupport"], swiftSettings: common),
    .testTarget(name: "KDCLITests", dependencies: ["KDTestSupport"], exclude: ["Resources"], swiftSettings: common),
    .testTarget(name: "KDExportTests", dependencies: ["KDExport", "KDTrain", "KDModels", "KDStore", "KDTokenizers", "KDTestSupport"],
                resources: [.copy("Resources")], swiftSettings: common),
    .testTarget(name: "KDReportTests", dependencies: ["KDReport", "KDTestSupport"], swiftSettings: common),
    .testTarget(name: "KDEvalTests", dependencies: ["KDEval"], swiftSettings: common),
  ]
)
