import ArgumentParser
import Foundation
import KDCLI
import KDCore
import KDTokenizers

/// `kd-tokenize`: text lines on stdin -> one JSON line of token ids per input line.
@main
struct KDTokenize: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kd-tokenize",
    abstract: "Tokenize text lines with a Hugging Face tokenizer.json (or a BERT vocab.txt).",
    discussion: """
      Reads UTF-8 text from stdin, one text per line (a trailing CR is dropped; invalid UTF-8 \
      bytes become U+FFFD), and writes one JSON object per line: {"ids":[...]} plus \
      "offsets":[[start,end],...] with --offsets. Offsets count Unicode scalars (code points) \
      of the line, like Python's tokenizers; special tokens have [0,0].

      Examples:
        echo "Chest pain with ST elevation." | kd-tokenize --tokenizer models/all-MiniLM-L6-v2/tokenizer.json
        kd-tokenize --tokenizer tokenizer.json --offsets --tokens < lines.txt > ids.jsonl
        kd-tokenize --tokenizer tokenizer.json --max-length 128 --stride 32 < long.txt
        kd-tokenize --tokenizer tokenizer.json --info

      \(KDExit.helpText)
      """)

  @Option(name: .long, help: "Path to tokenizer.json or vocab.txt.")
  var tokenizer: String

  @Flag(name: .long, help: "Also write character offsets.")
  var offsets = false

  @Flag(name: .long, help: "Also write token strings.")
  var tokens = false

  @Flag(name: .customLong("no-special-tokens"), help: "Do not add [CLS]/[SEP]-style special tokens.")
  var noSpecialTokens = false

  @Flag(name: .customLong("file-settings"), help: "Apply the truncation and padding configured in the file (as HF Tokenizer.from_file does). Default: ignore them.")
  var fileSettings = false

  @Option(name: .customLong("max-length"), help: "Truncate to this many tokens (special tokens included).")
  var maxLength: Int?

  @Option(name: .long, help: "With --max-length: write every overflow window, consecutive windows sharing this many tokens.")
  var stride: Int?

  @Option(name: .long, help: "Worker threads.")
  var threads: Int = 1

  @Flag(name: .long, help: "After the output, print a JSON summary (lines, tokens, seconds) on stderr.")
  var json = false

  @Flag(name: .long, help: "Print vocabulary size, content hash and pipeline settings, then exit.")
  var info = false

  @Option(name: .long, help: "Benchmark: encode the input this many times and print timing JSON instead of ids.")
  var benchmark: Int?

  func run() throws {
    let tok: Tokenizer
    do {
      tok = try Tokenizer.load(path: tokenizer)
    } catch let e as KDError {
      throw ExitCode(KDCLI.exitCode(for: e, tool: "kd-tokenize"))
    }
    let started = DispatchTime.now().uptimeNanoseconds
    if info {
      print("{\"vocabulary_size\":\(tok.vocabularySize),\"content_hash\":\"\(tok.contentHash)\",\"max_length\":\(tok.maxLength.map(String.init) ?? "null"),\"special_tokens\":\(tok.specialTokenCount)}")
      return
    }
    if let m = maxLength, m <= 0 { throw ValidationError("--max-length must be positive") }
    if let s = stride, s < 0 { throw ValidationError("--stride must not be negative") }
    if stride != nil && maxLength == nil { throw ValidationError("--stride needs --max-length") }
    let data = FileHandle.standardInput.readDataToEndOfFile()
    var lines: [String] = []
    data.withUnsafeBytes { raw in
      let b = raw.bindMemory(to: UInt8.self)
      var start = 0
      let n = b.count
      var i = 0
      while i <= n {
        if i == n || b[i] == 0x0A {
          if i == n && start == n { break }
          var end = i
          if end > start && b[end - 1] == 0x0D { end -= 1 }
          lines.append(String(decoding: UnsafeBufferPointer(rebasing: b[start..<end]), as: UTF8.self))
          start = i + 1
        }
        i += 1
      }
    }
    let add = !noSpecialTokens
    if let rounds = benchmark {
      let bytes = lines.reduce(0) { $0 + $1.utf8.count }
      var times: [Double] = []
      var tokenCount = 0
      for _ in 0..<max(1, rounds) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let encs = tok.encodeBatch(lines, addSpecialTokens: add, threads: threads)
        let t1 = DispatchTime.now().uptimeNanoseconds
        tokenCount = encs.reduce(0) { $0 + $1.count }
        times.append(Double(t1 - t0) / 1e9)
      }
      times.sort()
      let median = times[times.count / 2]
      print("{\"bytes\":\(bytes),\"tokens\":\(tokenCount),\"lines\":\(lines.count),\"threads\":\(threads),\"median_s\":\(median),\"memory_bytes\":\(tok.memoryBytes)}")
      return
    }
    var truncation: Truncation? = fileSettings ? tok.configuredTruncation : nil
    let padding: Padding? = fileSettings ? tok.configuredPadding : nil
    if let m = maxLength { truncation = Truncation(maxLength: m, stride: stride ?? 0) }
    let out = FileHandle.standardOutput
    var buffer = ""
    buffer.reserveCapacity(1 << 20)
    let chunk = 4096
    var k = 0
    var tokenTotal = 0
    while k < lines.count {
      let batch = Array(lines[k..<min(k + chunk, lines.count)])
      k += batch.count
      let encs = tok.encodeBatch(batch, addSpecialTokens: add, truncation: truncation, padding: padding, threads: threads)
      for e in encs {
        tokenTotal += e.count
        buffer += json(e, tok, windows: stride != nil)
        buffer += "\n"
      }
      out.write(Data(buffer.utf8))
      buffer.removeAll(keepingCapacity: true)
    }
    if json {
      let secs = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
      FileHandle.standardError.write(Data("{\"lines\":\(lines.count),\"tokens\":\(tokenTotal),\"seconds\":\(secs)}\n".utf8))
    }
  }

  func json(_ e: Encoding, _ tok: Tokenizer, windows: Bool) -> String {
    var s = "{\"ids\":["
    s += e.ids.map { String($0) }.joined(separator: ",")
    s += "]"
    if offsets {
      s += ",\"offsets\":["
      s += e.offsets.map { "[\($0.start),\($0.end)]" }.joined(separator: ",")
      s += "]"
    }
    if tokens {
      s += ",\"tokens\":["
      s += e.ids.map { JSONText.quote(tok.token(forID: $0) ?? "") }.joined(separator: ",")
      s += "]"
    }
    if fileSettings || maxLength != nil {
      s += ",\"attention_mask\":[" + e.attentionMask.map { String($0) }.joined(separator: ",") + "]"
    }
    if windows {
      s += ",\"overflowing\":[" + e.overflowing.map { json($0, tok, windows: false) }.joined(separator: ",") + "]"
    }
    return s + "}"
  }

}
