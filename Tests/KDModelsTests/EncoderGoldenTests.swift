import Foundation
import KDCore
import KDTensor
import Testing

@testable import KDModels

/// The Swift encoder against PyTorch `transformers` outputs (tools/teacher/make_fixtures.py).
@Suite struct EncoderGoldenTests {
  static let fixtures = ["tiny-bert", "tiny-bert-bf16", "tiny-roberta-fp16", "tiny-distilbert-fp16"]

  @Test(arguments: fixtures)
  func matchesTransformersOnPaddedBatch(name: String) throws {
    let dir = Fixtures.resources + "/" + name
    let golden = try Fixtures.golden(dir + "/golden.json")
    for (pooling, minRows) in [(Pooling.cls, 1), (.mean, 1000)] {
      let encoder = try BertEncoder.load(directory: dir, threads: 2, pooling: pooling)
      encoder.matmul = .fp32  // AMXTests covers the AMX path
      encoder.minRowsPerWorker = minRows
      let out = try encoder.forward(golden.sequences)
      #expect(out.batchSize == golden.sequences.count)
      let want = pooling == .cls ? golden.cls : golden.mean
      for i in 0..<golden.sequences.count {
        let d = Fixtures.maxAbsDiff(out.embedding(i), want[i])
        #expect(d <= 1e-4, "\(name) \(pooling) sequence \(i) (length \(golden.sequences[i].count)): max |Δ| \(d)")
        let l = Fixtures.maxAbsDiff(try #require(out.logits(i)), try #require(golden.logits)[i])
        #expect(l <= 1e-4, "\(name) logits sequence \(i): max |Δ| \(l)")
      }
    }
  }

  @Test func storedDTypeAndLabelsComeFromTheCheckpoint() throws {
    let bf16 = try BertEncoder.load(directory: Fixtures.resources + "/tiny-bert-bf16", threads: 1)
    #expect(bf16.storedDType == .bf16)
    #expect(bf16.classifier?.labels == ["negative", "neutral", "positive"])
    #expect(bf16.pooling == .cls)  // a classification checkpoint without a pooling config
    let fp32 = try BertEncoder.load(directory: Fixtures.resources + "/tiny-bert", threads: 1)
    #expect(fp32.storedDType == .f32)
    #expect(fp32.maxPositions == 40)
    #expect(fp32.checkpointHash.count == 16 && fp32.checkpointHash != bf16.checkpointHash)
    let roberta = try BertEncoder.load(directory: Fixtures.resources + "/tiny-roberta-fp16", threads: 1)
    #expect(roberta.family == .roberta && roberta.maxPositions == 40)
  }

  @Test func batchingThreadsAndOrderDoNotChangeResults() throws {
    let dir = Fixtures.resources + "/tiny-bert"
    let golden = try Fixtures.golden(dir + "/golden.json")
    let one = try BertEncoder.load(directory: dir, threads: 1)
    let three = try BertEncoder.load(directory: dir, threads: 3)
    let batched = try three.forward(golden.sequences)
    for (i, s) in golden.sequences.enumerated() {
      let single = try one.forward([s])
      #expect(Fixtures.maxAbsDiff(single.embedding(0), batched.embedding(i)) <= 1e-5)
      #expect(Fixtures.maxAbsDiff(try #require(single.logits(0)), try #require(batched.logits(i))) <= 1e-5)
    }
    // Both ways of splitting dense layers over workers give the same results.
    three.minRowsPerWorker = 1
    let byRows = try three.forward(golden.sequences)
    for i in 0..<golden.sequences.count {
      #expect(Fixtures.maxAbsDiff(byRows.embedding(i), batched.embedding(i)) <= 1e-5)
      #expect(Fixtures.maxAbsDiff(try #require(byRows.logits(i)), try #require(batched.logits(i))) <= 1e-5)
    }
    // Trailing pad ids (fixed tokenizer padding) are ignored like masked positions.
    let padded = try one.forward(golden.sequences.map { $0 + [0, 0, 0] }.map { Array($0.prefix(40)) })
    #expect(Fixtures.maxAbsDiff(padded.pooled, batched.pooled) <= 1e-5)
    let reversed = try one.forward(golden.sequences.reversed())
    let n = golden.sequences.count
    for i in 0..<n {
      #expect(Fixtures.maxAbsDiff(reversed.embedding(n - 1 - i), batched.embedding(i)) <= 1e-5)
    }
    #expect(try one.forward([]).batchSize == 0)
  }

  @Test func classifierLabelsMapOntoAVocabulary() throws {
    let dir = Fixtures.resources + "/tiny-bert"
    let golden = try Fixtures.golden(dir + "/golden.json")
    let enc = try BertEncoder.load(directory: dir, threads: 1)
    try enc.mapClassifierLabels(onto: ["positive", "negative", "neutral"])
    let out = try enc.forward([golden.sequences[2]])
    let want = try #require(golden.logits)[2]
    let got = try #require(out.logits(0))
    #expect(Fixtures.maxAbsDiff(got, [want[2], want[0], want[1]]) <= 1e-4)
    #expect(throws: KDError.self) { try enc.mapClassifierLabels(onto: ["positive", "negative", "other"]) }
    do {
      try enc.mapClassifierLabels(onto: ["positive", "negative"])
      Issue.record("a vocabulary with a label missing must be rejected")
    } catch let e as KDError {
      #expect(e.kind == .model && e.description.contains("neutral"))
    }
  }

  @Test func fittedHeadReadsPooledEmbeddings() throws {
    let dir = Fixtures.resources + "/tiny-bert"
    let golden = try Fixtures.golden(dir + "/golden.json")
    let enc = try BertEncoder.load(directory: dir, threads: 1, pooling: .mean)
    let head = try LinearHead(weight: (0..<64).map { Float($0 % 7) * 0.1 - 0.3 }, bias: [0.5, -0.5],
                              labels: ["a", "b"], inputSize: 32)
    try enc.attachFittedHead(head)
    let out = try enc.forward(golden.sequences)
    let want = head.logits(out.pooled, rows: out.batchSize)
    #expect(try #require(out.logits) == want)
    #expect(throws: KDError.self) {
      try enc.attachFittedHead(try LinearHead(weight: [1, 2], bias: [0, 0], labels: ["a", "b"], inputSize: 1))
    }
  }

  /// The full all-MiniLM-L6-v2 parity test: runs when models/all-MiniLM-L6-v2 exists.
  @Test func miniLMParity() throws {
    guard let dir = Fixtures.miniLM(skipping: "MiniLM parity") else { return }
    let golden = try Fixtures.golden(Fixtures.resources + "/minilm_parity.json")
    let enc = try BertEncoder.load(directory: dir, threads: 2)
    #expect(enc.pooling == .mean && enc.normalizeEmbeddings && enc.hiddenSize == 384)
    enc.matmul = .fp32  // AMXTests.miniLMParityOnAMX covers the AMX path
    let (worst, count) = try Fixtures.miniLMParity(enc)
    print("MiniLM parity: max |Δ| = \(worst) over \(count) sequences")
    #expect(worst <= 1e-4)
    // Normalised mean pooling (the sentence-transformers output) agrees too.
    enc.pooling = .mean
    enc.normalizeEmbeddings = true
    let norm = try enc.forward([golden.sequences[0]])
    let g = golden.mean[0]
    let len = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
    #expect(Fixtures.maxAbsDiff(norm.embedding(0), g.map { $0 / len }) <= 1e-5)
  }
}

@Suite struct LengthBatchingTests {
  @Test func groupsBySimilarLengthUnderBudgets() {
    #expect(LengthBatching.batches(lengths: [5, 120, 7, 118], maxBatch: 2, maxTokens: 1000) == [[0, 2], [3, 1]])
    #expect(LengthBatching.batches(lengths: [10, 10, 10, 300], maxBatch: 8, maxTokens: 25) == [[0, 1], [2], [3]])
    #expect(LengthBatching.batches(lengths: [], maxBatch: 4, maxTokens: 100).isEmpty)
    let lengths = (0..<100).map { ($0 * 37) % 64 + 1 }
    let b = LengthBatching.batches(lengths: lengths, maxBatch: 16, maxTokens: 512)
    #expect(b.flatMap { $0 }.sorted() == Array(0..<100))
    #expect(b.allSatisfy { $0.count <= 16 && $0.reduce(0) { $0 + lengths[$1] } <= 512 })
  }
}
