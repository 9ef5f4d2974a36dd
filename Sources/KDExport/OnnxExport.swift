import Foundation
import KDCore

/// ONNX graphs of kd students (opset 18, IR version 8; standard `ai.onnx` operators only).
///
/// Inputs are `[batch, sequence]` int64 tensors, padded on the right:
/// - bow / mlp: `input_ids`, `attention_mask`;
/// - transformer: `input_ids`, `attention_mask`, `token_type_ids`.
/// Outputs: `logits` `[batch, classes]` and `probabilities` (softmax of the logits).
///
/// The bag students' hashed bigrams are computed inside the graph from the ids
/// (docs/export.md gives the formula): for adjacent ids `a`, `b` (uint64),
/// `h = (a·0x9E3779B97F4A7C15 mod 2⁶⁴) xor b; h = ((h xor (h >> 29))·0xBF58476D1CE4E5B9) mod 2⁶⁴;
/// h = h xor (h >> 32); row = vocabSize + h mod buckets`, exactly `EmbeddingBag.bigramBucket`.
enum OnnxExport {
  /// The opset written: 18 has BitwiseXor (bigram hashing) and LayerNormalization (17).
  static let opset = 18

  struct Result {
    let model: Onnx_ModelProto
    let inputs: [String]
    let labels: [String]
    let parameters: Int
    let leftOut: [String]
  }

  static func build(folder: StudentFolder, fp16: Bool) throws -> Result {
    switch folder.kind {
    case "bow", "mlp": return try bag(folder, fp16: fp16)
    case "transformer": return try bert(folder, fp16: fp16)
    default:
      throw KDError(.usage, "a student of kind '\(folder.kind)' cannot be expressed in ONNX (supported: bow, mlp, transformer)",
                    field: "--format")
    }
  }

  static func metadata(_ folder: StudentFolder, labels: [String], extra: [(String, String)]) -> [(String, String)] {
    let labelJSON = (try? JSONSerialization.data(withJSONObject: labels)).flatMap { String(data: $0, encoding: .utf8) } ?? "[]"
    var m: [(String, String)] = [("kd_kind", folder.kind), ("kd_labels", labelJSON)]
    if let t = folder.task { m.append(("kd_task", t)) }
    return m + extra
  }

  // MARK: bow and mlp

  /// Constants of `EmbeddingBag.bigramBucket`.
  static let bigramMultiplier: UInt64 = 0x9e37_79b9_7f4a_7c15
  static let bigramMixer: UInt64 = 0xbf58_476d_1ce4_e5b9

  static func bag(_ folder: StudentFolder, fp16: Bool) throws -> Result {
    let w = try StudentWeights(path: folder.weightsPath)
    let cfg = folder.configPath
    let vocab = try folder.int("vocabSize", "vocab_size")
    let buckets = folder.optionalInt("buckets") ?? 0
    let dim = try folder.int("dimension", "dim")
    let hidden = folder.kind == "mlp" ? (folder.optionalInts("hidden") ?? []) : []
    let classes = try folder.int("numClasses", "num_classes")
    let maxTokens = folder.optionalInt("maxTokens", "max_tokens") ?? 512
    guard vocab > 0, buckets >= 0, dim > 0, classes > 1, hidden.allSatisfy({ $0 > 0 }) else {
      throw KDError(.input, "student sizes must be positive (vocab \(vocab), buckets \(buckets), dim \(dim), hidden \(hidden), classes \(classes))",
                    file: cfg, field: "student")
    }
    let labels = folder.labelNames(count: classes)
    let g = OnnxGraphBuilder(fp16: fp16)
    let ids = g.input("input_ids", .int64, dims: ["batch", "sequence"])
    let mask = g.input("attention_mask", .int64, dims: ["batch", "sequence"])
    let table = g.weight("embedding.weight", shape: [vocab + buckets, dim],
                         values: try w.floats("embedding.weight", [vocab + buckets, dim]))
    let one = g.int64Constant([1])
    let maskF = g.node("Cast", [mask], out: "mask_f", [OnnxGraphBuilder.attr("to", int: Int(OnnxType.float.rawValue))])
    let minusOne = g.int64Constant([-1])
    // Token rows, masked, summed over the sequence.
    let tok = g.node("Gather", [table, ids], out: "token_rows", [OnnxGraphBuilder.attr("axis", int: 0)])
    let tokMasked = g.node("Mul", [tok, g.node("Unsqueeze", [maskF, minusOne], out: "mask_f3")], out: "token_rows_masked")
    var sum = g.node("ReduceSum", [tokMasked, one], out: "token_sum", [OnnxGraphBuilder.attr("keepdims", int: 0)])
    var count = g.node("ReduceSum", [maskF, one], out: "token_count", [OnnxGraphBuilder.attr("keepdims", int: 1)])
    if buckets > 0 {
      let zero = g.int64Constant([0])
      let end = g.int64Constant([Int64.max])
      let left = g.node("Slice", [ids, zero, minusOne, one], out: "bigram_left")
      let right = g.node("Slice", [ids, one, end, one], out: "bigram_right")
      let to64 = [OnnxGraphBuilder.attr("to", int: Int(OnnxType.uint64.rawValue))]
      let a = g.node("Cast", [left], out: "bigram_a", to64)
      let b = g.node("Cast", [right], out: "bigram_b", to64)
      let rightShift = [OnnxGraphBuilder.attr("direction", string: "RIGHT")]
      var h = g.node("BitwiseXor", [g.node("Mul", [a, g.uint64Constant(bigramMultiplier)], out: "hash_mul1"), b], out: "hash_x1")
      h = g.node("BitwiseXor", [h, g.node("BitShift", [h, g.uint64Constant(29)], out: "hash_s29", rightShift)], out: "hash_x2")
      h = g.node("Mul", [h, g.uint64Constant(bigramMixer)], out: "hash_mul2")
      h = g.node("BitwiseXor", [h, g.node("BitShift", [h, g.uint64Constant(32)], out: "hash_s32", rightShift)], out: "hash_x3")
      let bucket = g.node("Mod", [h, g.uint64Constant(UInt64(buckets))], out: "bigram_bucket")
      let row = g.node("Add", [g.node("Cast", [bucket], out: "bigram_bucket_i64", [OnnxGraphBuilder.attr("to", int: Int(OnnxType.int64.rawValue))]),
                               g.int64Constant([Int64(vocab)], shape: [])], out: "bigram_row")
      let bigMask = g.node("Mul", [g.node("Slice", [maskF, zero, minusOne, one], out: "mask_left"),
                                   g.node("Slice", [maskF, one, end, one], out: "mask_right")], out: "bigram_mask")
      let big = g.node("Gather", [table, row], out: "bigram_rows", [OnnxGraphBuilder.attr("axis", int: 0)])
      let bigMasked = g.node("Mul", [big, g.node("Unsqueeze", [bigMask, minusOne], out: "bigram_mask3")], out: "bigram_rows_masked")
      sum = g.node("Add", [sum, g.node("ReduceSum", [bigMasked, one], out: "bigram_sum", [OnnxGraphBuilder.attr("keepdims", int: 0)])],
                   out: "feature_sum")
      count = g.node("Add", [count, g.node("ReduceSum", [bigMask, one], out: "bigram_count", [OnnxGraphBuilder.attr("keepdims", int: 1)])],
                     out: "feature_count")
    }
    // An example without tokens pools to zeros, as kd does.
    var x = g.node("Div", [sum, g.node("Max", [count, g.floatConstant(1)], out: "feature_count_min1")], out: "pooled")
    var width = dim
    for (i, h) in hidden.enumerated() {
      let name = "hidden.\(i)"
      x = g.linear(x, name: name, weight: try w.floats(name + ".weight", [h, width]), bias: try w.floats(name + ".bias", [h]),
                   inputs: width, outputs: h)
      x = g.node("Relu", [x], out: name + "/relu")
      width = h
    }
    let logits = g.linear(x, name: "output", weight: try w.floats("output.weight", [classes, width]),
                          bias: try w.floats("output.bias", [classes]), inputs: width, outputs: classes)
    g.output(logits, as: "logits", .float, dims: ["batch", classes])
    let probs = g.node("Softmax", [logits], out: "softmax", [OnnxGraphBuilder.attr("axis", int: -1)])
    g.output(probs, as: "probabilities", .float, dims: ["batch", classes])
    var known = Set(["embedding.weight", "output.weight", "output.bias"])
    for i in hidden.indices { known.formUnion(["hidden.\(i).weight", "hidden.\(i).bias"]) }
    let doc = """
      kd \(folder.kind) student: mean of token-id rows and hashed-bigram rows of one embedding table, \
      \(hidden.isEmpty ? "" : "ReLU layers \(hidden), ")linear output. Inputs: input_ids and attention_mask [batch, sequence] int64, \
      right-padded, ids < \(vocab), at most \(maxTokens) per row (kd's tokenization: special tokens added, cut to max tokens). \
      Bigram row of adjacent ids a, b: h = (a*0x9E3779B97F4A7C15) xor b; h = (h xor (h>>29))*0xBF58476D1CE4E5B9; \
      h = h xor (h>>32) (uint64, wrapping); row = \(vocab) + h mod \(buckets).
      """
    let meta = metadata(folder, labels: labels, extra: [
      ("kd_vocab_size", String(vocab)), ("kd_buckets", String(buckets)), ("kd_max_tokens", String(maxTokens)),
      ("kd_bigram_formula", "h=(a*0x9E3779B97F4A7C15)^b; h=(h^(h>>29))*0xBF58476D1CE4E5B9; h^=h>>32; row=vocab_size+h%buckets (uint64, wrapping)"),
    ])
    let model = g.model(name: "kd_\(folder.kind)", opset: opset, metadata: meta, doc: doc)
    return Result(model: model, inputs: ["input_ids", "attention_mask"], labels: labels, parameters: g.parameterCount,
                  leftOut: w.names.filter { !known.contains($0) })
  }

  // MARK: transformer

  static func bert(_ folder: StudentFolder, fp16: Bool) throws -> Result {
    let st = try TransformerStudent.load(folder)
    let s = st.shape
    let H = s.hiddenSize, I = s.intermediateSize, heads = s.heads, d = s.headSize
    let labels = folder.labelNames(count: s.numClasses)
    let g = OnnxGraphBuilder(fp16: fp16)
    let ids = g.input("input_ids", .int64, dims: ["batch", "sequence"])
    let mask = g.input("attention_mask", .int64, dims: ["batch", "sequence"])
    let types = g.input("token_type_ids", .int64, dims: ["batch", "sequence"])
    func wt(_ name: String) -> [Float] { st.values(name) }
    let axis0 = [OnnxGraphBuilder.attr("axis", int: 0)]
    let eps = [OnnxGraphBuilder.attr("axis", int: -1), OnnxGraphBuilder.attr("epsilon", float: Float(s.layerNormEps))]

    // Embeddings: word + position + token type, then LayerNorm.
    let word = g.node("Gather", [g.weight("bert.embeddings.word_embeddings.weight", shape: [s.vocabSize, H],
                                          values: wt("bert.embeddings.word_embeddings.weight")), ids], out: "word_embeddings", axis0)
    let seqLen = g.node("Gather", [g.node("Shape", [ids], out: "ids_shape"), g.int64Constant([1], shape: [])], out: "seq_len", axis0)
    let positions = g.node("Range", [g.int64Constant([0], shape: []), seqLen, g.int64Constant([1], shape: [])], out: "position_ids")
    let pos = g.node("Gather", [g.weight("bert.embeddings.position_embeddings.weight", shape: [s.maxPositions, H],
                                         values: wt("bert.embeddings.position_embeddings.weight")), positions],
                     out: "position_embeddings", axis0)
    let tt = g.node("Gather", [g.weight("bert.embeddings.token_type_embeddings.weight", shape: [s.typeVocabSize, H],
                                        values: wt("bert.embeddings.token_type_embeddings.weight")), types],
                    out: "token_type_embeddings", axis0)
    let emb = g.node("Add", [g.node("Add", [word, pos], out: "emb_wp"), tt], out: "emb_sum")
    func layerNorm(_ x: String, _ name: String) -> String {
      g.node("LayerNormalization", [x, g.weight(name + ".weight", shape: [H], values: wt(name + ".weight")),
                                    g.weight(name + ".bias", shape: [H], values: wt(name + ".bias"))], out: name, eps)
    }
    var x = layerNorm(emb, "bert.embeddings.LayerNorm")

    // Additive attention mask [batch, 1, 1, sequence]: 0 where attended, the lowest float where padded.
    let maskF = g.node("Cast", [mask], out: "mask_f", [OnnxGraphBuilder.attr("to", int: Int(OnnxType.float.rawValue))])
    let maskBias = g.node("Unsqueeze", [
      g.node("Mul", [g.node("Sub", [g.floatConstant(1), maskF], out: "mask_inverted"), g.floatConstant(-Float.greatestFiniteMagnitude)],
             out: "mask_bias2"),
      g.int64Constant([1, 2]),
    ], out: "mask_bias")
    let split = g.int64Constant([0, 0, Int64(heads), Int64(d)])
    let merge = g.int64Constant([0, 0, Int64(H)])
    let scale = g.floatConstant(1 / Float(d).squareRoot())
    func linear(_ x: String, _ name: String, _ inputs: Int, _ outputs: Int) -> String {
      g.linear(x, name: name, weight: wt(name + ".weight"), bias: wt(name + ".bias"), inputs: inputs, outputs: outputs)
    }
    for l in 0..<s.layers {
      let p = "bert.encoder.layer.\(l)."
      func heads(_ v: String, _ perm: [Int], _ name: String) -> String {
        g.node("Transpose", [g.node("Reshape", [v, split], out: p + name + "/split")], out: p + name + "/heads",
               [OnnxGraphBuilder.attr("perm", ints: perm)])
      }
      let q = heads(linear(x, p + "attention.self.query", H, H), [0, 2, 1, 3], "q")
      let k = heads(linear(x, p + "attention.self.key", H, H), [0, 2, 3, 1], "k")
      let v = heads(linear(x, p + "attention.self.value", H, H), [0, 2, 1, 3], "v")
      let scores = g.node("Add", [g.node("Mul", [g.node("MatMul", [q, k], out: p + "scores_raw"), scale], out: p + "scores_scaled"),
                                  maskBias], out: p + "scores")
      let probs = g.node("Softmax", [scores], out: p + "attention_probs", [OnnxGraphBuilder.attr("axis", int: -1)])
      let ctx = g.node("Reshape", [g.node("Transpose", [g.node("MatMul", [probs, v], out: p + "context_heads")], out: p + "context_t",
                                          [OnnxGraphBuilder.attr("perm", ints: [0, 2, 1, 3])]), merge], out: p + "context")
      let attn = linear(ctx, p + "attention.output.dense", H, H)
      x = layerNorm(g.node("Add", [attn, x], out: p + "attention_residual"), p + "attention.output.LayerNorm")
      let inter = linear(x, p + "intermediate.dense", H, I)
      // Exact GELU: 0.5·x·(1 + erf(x/√2)), as BERT's "gelu".
      let erf = g.node("Erf", [g.node("Mul", [inter, g.floatConstant(1 / Float(2).squareRoot())], out: p + "gelu_scaled")], out: p + "gelu_erf")
      let gelu = g.node("Mul", [g.node("Mul", [inter, g.floatConstant(0.5)], out: p + "gelu_half"),
                                g.node("Add", [erf, g.floatConstant(1)], out: p + "gelu_erf1")], out: p + "gelu")
      let out = linear(gelu, p + "output.dense", I, H)
      x = layerNorm(g.node("Add", [out, x], out: p + "output_residual"), p + "output.LayerNorm")
    }
    // Pooler on [CLS] (the first token), then the classifier.
    let first = g.node("Gather", [x, g.int64Constant([0], shape: [])], out: "cls_state", [OnnxGraphBuilder.attr("axis", int: 1)])
    let pooled = g.node("Tanh", [linear(first, "bert.pooler.dense", H, H)], out: "pooled")
    let logits = linear(pooled, "classifier", H, s.numClasses)
    g.output(logits, as: "logits", .float, dims: ["batch", s.numClasses])
    g.output(g.node("Softmax", [logits], out: "softmax", [OnnxGraphBuilder.attr("axis", int: -1)]), as: "probabilities", .float,
             dims: ["batch", s.numClasses])
    let doc = """
      kd transformer student (BertForSequenceClassification: \(s.layers) layers, hidden \(H), \(heads) heads, \
      intermediate \(I), exact GELU, [CLS] -> pooler dense+tanh -> classifier). Inputs: input_ids, attention_mask, \
      token_type_ids [batch, sequence] int64, right-padded, at most \(s.maxPositions) tokens, as the exported tokenizer.json produces.
      """
    let meta = metadata(folder, labels: labels, extra: [
      ("kd_vocab_size", String(s.vocabSize)), ("kd_max_tokens", String(s.maxPositions)),
    ])
    return Result(model: g.model(name: "kd_transformer", opset: opset, metadata: meta, doc: doc),
                  inputs: ["input_ids", "attention_mask", "token_type_ids"], labels: labels,
                  parameters: g.parameterCount, leftOut: st.extra)
  }
}
