// kd-readbench: runs the structured readers on files, for benchmarks, memory
// checks and cross-checks against the Python reference.
//
//   kd-readbench dump  [--reader NAME] FILE...        one JSON line per event
//   kd-readbench bench [--reader NAME] [--repeat N] FILE...
//                                                     MB/s per file + peak RSS
//   kd-readbench generate-pubmed SOURCE.xml[.gz] OUT.xml MEGABYTES
//                                                     concatenates SOURCE's records
import Foundation
import KDCore
import KDIngest

@main
struct ReadBench {
  static func main() {
    var args = Array(CommandLine.arguments.dropFirst())
    guard let command = args.first else { usage() }
    args.removeFirst()
    do {
      switch command {
      case "dump": try dump(args)
      case "bench": try bench(args)
      case "generate-pubmed": try generatePubMed(args)
      default: usage()
      }
    } catch {
      FileHandle.standardError.write(Data("kd-readbench: \(error)\n".utf8))
      exit(1)
    }
  }

  static func usage() -> Never {
    FileHandle.standardError.write(Data("""
      usage: kd-readbench dump [--reader NAME] FILE...
             kd-readbench bench [--reader NAME] [--repeat N] FILE...
             kd-readbench generate-pubmed SOURCE OUT MEGABYTES

      """.utf8))
    exit(2)
  }

  struct Options {
    var reader: String?
    var repeatCount = 1
    var files: [String] = []
  }

  static func parse(_ args: [String]) throws -> Options {
    var options = Options()
    var i = 0
    while i < args.count {
      switch args[i] {
      case "--reader":
        i += 1
        guard i < args.count else { usage() }
        options.reader = args[i]
      case "--repeat":
        i += 1
        guard i < args.count, let n = Int(args[i]), n > 0 else { usage() }
        options.repeatCount = n
      default: options.files.append(args[i])
      }
      i += 1
    }
    if options.files.isEmpty { usage() }
    return options
  }

  static func reader(for path: String, name: String?) throws -> StructuredReader {
    if let name { return try ReaderRegistry.reader(named: name, options: [:]) }
    let handle = FileHandle(forReadingAtPath: path)
    let prefix = [UInt8](handle?.readData(ofLength: 16 << 10) ?? Data())
    guard let reader = ReaderRegistry.detect(path: path, prefix: prefix) else {
      throw KDError(.input, "unknown XML format; configure a generic reader in the manifest", file: path)
    }
    return reader
  }

  static func dump(_ args: [String]) throws {
    let options = try parse(args)
    let out = FileHandle.standardOutput
    for file in options.files {
      let reader = try reader(for: file, name: options.reader)
      try reader.read(path: file) { event in
        var object: [String: Any] = ["file": (file as NSString).lastPathComponent, "format": reader.format]
        switch event {
        case .delete(let id):
          object["delete"] = id
        case .document(let doc):
          object["id"] = doc.externalID ?? NSNull()
          object["title"] = doc.title ?? NSNull()
          object["labels"] = doc.labels
          object["metadata"] = doc.metadata
          object["sections"] = doc.sections.map { s -> [String: Any] in
            ["heading": s.heading ?? NSNull(), "label": s.label ?? NSNull(),
             "identifier": s.identifier ?? NSNull(), "text": s.text]
          }
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        out.write(data)
        out.write(Data("\n".utf8))
      }
    }
  }

  static func bench(_ args: [String]) throws {
    let options = try parse(args)
    print("file\treader\tMB\tdocuments\tsections\tseconds\tMB/s")
    var totalMB = 0.0
    var totalSeconds = 0.0
    var totalDocuments = 0
    var totalSections = 0
    for file in options.files {
      let reader = try reader(for: file, name: options.reader)
      let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.doubleValue ?? 0
      var times: [Double] = []
      var documents = 0
      var sections = 0
      for _ in 0..<options.repeatCount {
        documents = 0
        sections = 0
        let start = DispatchTime.now().uptimeNanoseconds
        try reader.read(path: file) { event in
          if case .document(let doc) = event {
            documents += 1
            sections += doc.sections.count
          }
        }
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
      }
      let median = times.sorted()[times.count / 2]
      let mb = size / 1e6
      totalMB += mb
      totalSeconds += median
      totalDocuments += documents
      totalSections += sections
      print(String(format: "%@\t%@\t%.2f\t%d\t%d\t%.3f\t%.1f", (file as NSString).lastPathComponent, reader.format, mb, documents, sections, median, mb / median))
    }
    print(String(format: "TOTAL\t-\t%.2f\t%d\t%d\t%.4f\t%.1f", totalMB, totalDocuments, totalSections, totalSeconds, totalMB / max(totalSeconds, 1e-9)))
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    print(String(format: "peak_rss_mb\t%.1f", Double(usage.ru_maxrss) / 1024))
  }

  /// Writes a MedlineCitationSet of about `MEGABYTES` by repeating SOURCE's records.
  static func generatePubMed(_ args: [String]) throws {
    guard args.count == 3, let megabytes = Int(args[2]) else { usage() }
    let source = args[0]
    var data: Data
    if source.hasSuffix(".gz") {
      let pipe = Pipe()
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/bin/gzip")
      process.arguments = ["-dc", source]
      process.standardOutput = pipe
      try process.run()
      data = pipe.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
    } else {
      data = try Data(contentsOf: URL(fileURLWithPath: source))
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let first = text.range(of: "<MedlineCitation "), let last = text.range(of: "</MedlineCitation>", options: .backwards) else {
      throw KDError(.input, "no <MedlineCitation> records", file: source)
    }
    let body = Data(text[first.lowerBound..<last.upperBound].utf8)
    FileManager.default.createFile(atPath: args[1], contents: nil)
    guard let out = FileHandle(forWritingAtPath: args[1]) else { throw KDError(.io, "cannot write", file: args[1]) }
    out.write(Data("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MedlineCitationSet>\n".utf8))
    var written = 0
    var copies = 0
    while written < megabytes * 1_000_000 {
      out.write(body)
      out.write(Data("\n".utf8))
      written += body.count + 1
      copies += 1
    }
    out.write(Data("</MedlineCitationSet>\n".utf8))
    try out.close()
    print("wrote \(args[1]): \(copies) copies, \(written / 1_000_000) MB")
  }
}
