import Foundation
import KDCore
import KDTensor

/// An owned, fixed-size fp32 buffer for weights and workspaces (freed on deinit).
final class FloatBuffer: @unchecked Sendable {
  let p: UnsafeMutablePointer<Float>
  let count: Int

  /// Whether `p` came from posix_memalign (freed with `free`) rather than `allocate`.
  private let fromMemalign: Bool

  init(count: Int) {
    self.count = count
    let n = max(1, count), bytes = n * MemoryLayout<Float>.stride
    var raw: UnsafeMutableRawPointer?
    // 64-byte aligned (a cache line; AMX tile rows), and buffers of 2 MB and more
    // aligned to 2 MB and offered to the kernel for transparent huge pages:
    // attention reads Q/K/V rows 4.6 KB apart, one 4 KB page each, and the
    // dense layers stream tens of MB per layer.
    let alignment = bytes >= 2 << 20 ? 2 << 20 : 64
    if posix_memalign(&raw, alignment, bytes) == 0, let r = raw {
      #if os(Linux)
      if alignment == 2 << 20 { _ = madvise(r, bytes, MADV_HUGEPAGE) }
      #endif
    } else {
      raw = nil
    }
    fromMemalign = raw != nil
    p = raw?.bindMemory(to: Float.self, capacity: n) ?? .allocate(capacity: n)
    p.initialize(repeating: 0, count: n)
  }

  /// The buffer as raw bytes (for packed weights and scratch of other element types).
  var raw: UnsafeMutableRawPointer { UnsafeMutableRawPointer(p) }

  convenience init(_ values: [Float]) {
    self.init(count: values.count)
    values.withUnsafeBufferPointer { src in
      if let b = src.baseAddress { p.update(from: b, count: values.count) }
    }
  }

  deinit {
    if fromMemalign { free(p) } else { p.deallocate() }
  }
}

/// A dense weight packed for `AMXKernels.multiply` (bf16 hi/lo parts in AMX tile order).
final class PackedWeight: @unchecked Sendable {
  let storage: FloatBuffer
  init(_ w: FloatBuffer, n: Int, k: Int) {
    storage = FloatBuffer(count: (AMXKernels.packedBytes(n: n, k: k) + 3) / 4)
    AMXKernels.pack(w.p, n: n, k: k, into: storage.raw)
  }
  var p: UnsafeRawPointer { UnsafeRawPointer(storage.raw) }
}

/// One layer's dense weights packed for AMX, built on first use.
struct PackedLayer {
  let wqkv: PackedWeight, wo: PackedWeight, wi: PackedWeight, wout: PackedWeight
  init(_ L: LayerWeights, hidden H: Int, intermediate I: Int) {
    wqkv = PackedWeight(L.wqkv, n: 3 * H, k: H)
    wo = PackedWeight(L.wo, n: H, k: H)
    wi = PackedWeight(L.wi, n: I, k: H)
    wout = PackedWeight(L.wout, n: H, k: I)
  }
}

/// One transformer layer's weights in the layout the forward pass uses
/// (PyTorch `Linear` layout [out × in]; Q, K and V fused into one [3H × H] matrix).
struct LayerWeights {
  let wqkv: FloatBuffer, bqkv: FloatBuffer
  let wo: FloatBuffer, bo: FloatBuffer
  let ln1g: FloatBuffer, ln1b: FloatBuffer
  let wi: FloatBuffer, bi: FloatBuffer
  let wout: FloatBuffer, bout: FloatBuffer
  let ln2g: FloatBuffer, ln2b: FloatBuffer
}

/// The activation after a checkpoint's pre-classifier dense layer.
enum PreClassifierActivation { case tanh, relu }

/// The word-embedding table, gathered a row per token.
enum WordTable {
  /// Rows stay in the memory-mapped checkpoint (any floating-point dtype, converted per row).
  case mapped(SafetensorsFile, SafetensorsTensorInfo)
  /// An owned fp32 copy (an inference snapshot of a `TrainableBert`).
  case owned(FloatBuffer)

  var dtype: SafetensorsDType {
    switch self {
    case .mapped(_, let info): return info.dtype
    case .owned: return .f32
    }
  }

  /// The first row's bytes.
  var base: UnsafeRawPointer {
    switch self {
    case .mapped(let file, let info): return file.rawPointer(info)
    case .owned(let b): return UnsafeRawPointer(b.p)
    }
  }
}

/// All encoder weights. Word embeddings of a checkpoint stay in the memory-mapped file and are gathered per token.
struct EncoderWeights {
  let word: WordTable
  let position: FloatBuffer
  /// Token-type row 0 ([H]), or nil for DistilBERT.
  let tokenType0: FloatBuffer?
  let embLNg: FloatBuffer, embLNb: FloatBuffer
  let layers: [LayerWeights]
  /// Dense layer before the classifier, applied to the first token: BERT pooler, RoBERTa `classifier.dense`, DistilBERT `pre_classifier`.
  let preClassifier: (w: FloatBuffer, b: FloatBuffer, activation: PreClassifierActivation)?
  /// Position id of a sequence's first token (RoBERTa: `pad_token_id + 1`).
  let positionOffset: Int
}

extension BertEncoder {
  /// Loads a Hugging Face checkpoint directory.
  ///
  /// Reads `config.json`, `model.safetensors` (fp32, fp16 or bf16; memory-mapped),
  /// and, when present, the sentence-transformers `1_Pooling/config.json`
  /// (pooling mode) and `modules.json` (a `Normalize` module turns on
  /// `normalizeEmbeddings`). `tokenizer.json` is not parsed here (KDTokenizers does);
  /// its path is exposed as `tokenizerPath`.
  ///
  /// - Parameters:
  ///   - directory: the checkpoint directory.
  ///   - threads: worker threads for `forward` (OpenBLAS itself is run single-threaded per worker).
  ///   - pooling: overrides the pooling mode; default: the sentence-transformers
  ///     config if present, else `.cls` for checkpoints with a classification head and `.mean` otherwise.
  /// - Throws: `KDError` naming the file and field: `.io` for missing files,
  ///   `.model` for corrupt or truncated safetensors and shapes that contradict
  ///   the config, `.unsupported` for other architectures, activations or pooling modes.
  public static func load(directory: String, threads: Int, pooling: Pooling? = nil) throws -> BertEncoder {
    let fm = FileManager.default
    let configPath = directory + "/config.json"
    guard fm.fileExists(atPath: configPath) else {
      throw KDError(.io, "config.json not found in the model directory", file: configPath)
    }
    let config = try BertConfig.load(path: configPath)
    let (family, hasClassifier) = try config.family(path: configPath)
    let weightsPath = directory + "/model.safetensors"
    guard fm.fileExists(atPath: weightsPath) else {
      let hint = fm.fileExists(atPath: directory + "/pytorch_model.bin")
        ? " (only pytorch_model.bin is present: convert it to safetensors)" : ""
      throw KDError(.io, "model.safetensors not found\(hint)", file: weightsPath)
    }
    let file = try SafetensorsFile(path: weightsPath)
    let weights = try loadWeights(file: file, config: config, family: family, hasClassifier: hasClassifier)

    var classifier: LinearHead?
    if hasClassifier {
      let name = family == .roberta ? "classifier.out_proj" : "classifier"
      let wInfo = try file.info(name + ".weight")
      guard wInfo.shape.count == 2, wInfo.shape[1] == config.hiddenSize, wInfo.shape[0] > 0 else {
        throw KDError(.model, "shape \(wInfo.shape) contradicts the config (expected [labels, \(config.hiddenSize)])", file: weightsPath, field: name + ".weight")
      }
      let n = wInfo.shape[0]
      var labels: [String] = []
      if config.id2label.isEmpty {
        labels = (0..<n).map { "LABEL_\($0)" }
      } else {
        guard config.id2label.count == n, Set(config.id2label.keys) == Set(0..<n) else {
          throw KDError(.model, "id2label has ids \(config.id2label.keys.sorted()) but the classifier has \(n) outputs", file: configPath, field: "id2label")
        }
        labels = (0..<n).map { config.id2label[$0] ?? "LABEL_\($0)" }
        guard Set(labels).count == n else {
          throw KDError(.model, "id2label has duplicate label names", file: configPath, field: "id2label")
        }
      }
      classifier = try LinearHead(
        weight: try file.floats(name + ".weight", shape: [n, config.hiddenSize]),
        bias: try file.floats(name + ".bias", shape: [n]), labels: labels, inputSize: config.hiddenSize)
    }

    var poolingMode = try SentenceTransformersFolder.pooling(directory: directory) ?? (hasClassifier ? Pooling.cls : Pooling.mean)
    if let pooling { poolingMode = pooling }
    var normalize = false
    var classifierOnEmbedding = false
    if let mods = SentenceTransformersFolder.modules(directory: directory) {
      normalize = SentenceTransformersFolder.normalizes(mods)
      // A last identity Dense module with one output per id2label entry is a classifier on the
      // pooled embedding (what `kd-train teacher --pooling mean` writes).
      if classifier == nil, let last = mods.last, SentenceTransformersFolder.isModule(last, "Dense"),
         let sub = last["path"] as? String {
        let dense = (directory as NSString).appendingPathComponent(sub)
        let densePath = (dense as NSString).appendingPathComponent("config.json")
        guard let d = fm.contents(atPath: densePath), let cfg = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else {
          throw KDError(.model, "modules.json names a Dense module whose config.json is missing or not a JSON object", file: densePath)
        }
        let act = cfg["activation_function"] as? String ?? ""
        let n = cfg["out_features"] as? Int ?? 0
        if act.hasSuffix("Identity"), n >= 2, config.id2label.count == n {
          guard cfg["in_features"] as? Int == config.hiddenSize else {
            throw KDError(.model, "in_features \(cfg["in_features"] ?? "none") differs from the hidden size \(config.hiddenSize)",
                          file: densePath, field: "in_features")
          }
          let headPath = (dense as NSString).appendingPathComponent("model.safetensors")
          guard fm.fileExists(atPath: headPath) else { throw KDError(.io, "the Dense head has no model.safetensors", file: headPath) }
          let h = try SafetensorsFile(path: headPath)
          let labels = (0..<n).map { config.id2label[$0] ?? "LABEL_\($0)" }
          guard Set(labels).count == n else { throw KDError(.model, "id2label has duplicate label names", file: configPath, field: "id2label") }
          classifier = try LinearHead(
            weight: try h.floats("linear.weight", shape: [n, config.hiddenSize]), bias: try h.floats("linear.bias", shape: [n]),
            labels: labels, inputSize: config.hiddenSize)
          classifierOnEmbedding = true
          // It reads the pooled embedding, normalised when a Normalize module comes before it.
          if !mods.contains(where: { SentenceTransformersFolder.isModule($0, "Pooling") }) {
            throw KDError(.unsupported, "a Dense head needs a Pooling module before it", file: directory + "/modules.json")
          }
        }
      }
    }
    let hash = file.withFileBytes { StableHash.hex(StableHash.fnv1a64($0)) }
    let tok = directory + "/tokenizer.json"
    return BertEncoder(
      config: config, family: family, weights: weights, pooling: poolingMode,
      normalize: normalize, classifier: classifier, classifierOnEmbedding: classifierOnEmbedding, directory: directory,
      tokenizerPath: fm.fileExists(atPath: tok) ? tok : nil, hash: hash,
      dtype: weights.word.dtype, threads: threads)
  }

  static func loadWeights(file: SafetensorsFile, config c: BertConfig, family: EncoderFamily, hasClassifier: Bool) throws -> EncoderWeights {
    let H = c.hiddenSize, I = c.intermediateSize
    let prefixes = ["bert.", "roberta.", "distilbert.", ""]
    guard let p = prefixes.first(where: { file.tensors[$0 + "embeddings.word_embeddings.weight"] != nil }) else {
      throw KDError(.model, "no embeddings.word_embeddings.weight tensor (with or without a bert./roberta./distilbert. prefix): not a \(family.rawValue) checkpoint", file: file.path)
    }
    func f(_ name: String, _ shape: [Int]) throws -> FloatBuffer { FloatBuffer(try file.floats(p + name, shape: shape)) }
    func ln(_ name: String) throws -> (FloatBuffer, FloatBuffer) {
      if file.tensors[p + name + ".gamma"] != nil, file.tensors[p + name + ".weight"] == nil {
        return (try f(name + ".gamma", [H]), try f(name + ".beta", [H]))
      }
      return (try f(name + ".weight", [H]), try f(name + ".bias", [H]))
    }
    let word = try file.info(p + "embeddings.word_embeddings.weight", shape: [c.vocabSize, H])
    // Integer buffers (position_ids, token_type_ids) are tolerated; weights must be floating point.
    guard word.dtype.isFloatingPoint else {
      throw KDError(.model, "dtype \(word.dtype.rawValue) is not a floating-point type", file: file.path, field: word.name)
    }
    let position = try f("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, H])
    var tokenType0: FloatBuffer?
    if family != .distilbert {
      let tt = try file.info(p + "embeddings.token_type_embeddings.weight", shape: [c.typeVocabSize, H])
      let row = FloatBuffer(count: H)
      try file.readRows(tt, from: 0, count: H, into: row.p)
      tokenType0 = row
    }
    let (eg, eb) = try ln("embeddings.LayerNorm")
    var layers: [LayerWeights] = []
    for l in 0..<c.numHiddenLayers {
      let names: [String]
      let lnNames: (String, String)
      if family == .distilbert {
        let b = "transformer.layer.\(l)."
        names = ["attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "ffn.lin1", "ffn.lin2"].map { b + $0 }
        lnNames = (b + "sa_layer_norm", b + "output_layer_norm")
      } else {
        let b = "encoder.layer.\(l)."
        names = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                 "intermediate.dense", "output.dense"].map { b + $0 }
        lnNames = (b + "attention.output.LayerNorm", b + "output.LayerNorm")
      }
      var qkv: [Float] = [], bqkv: [Float] = []
      for n in names[0..<3] {
        qkv += try file.floats(p + n + ".weight", shape: [H, H])
        bqkv += try file.floats(p + n + ".bias", shape: [H])
      }
      let (g1, b1) = try ln(lnNames.0)
      let (g2, b2) = try ln(lnNames.1)
      layers.append(LayerWeights(
        wqkv: FloatBuffer(qkv), bqkv: FloatBuffer(bqkv),
        wo: try f(names[3] + ".weight", [H, H]), bo: try f(names[3] + ".bias", [H]),
        ln1g: g1, ln1b: b1,
        wi: try f(names[4] + ".weight", [I, H]), bi: try f(names[4] + ".bias", [I]),
        wout: try f(names[5] + ".weight", [H, I]), bout: try f(names[5] + ".bias", [H]),
        ln2g: g2, ln2b: b2))
    }
    var pre: (FloatBuffer, FloatBuffer, PreClassifierActivation)?
    if hasClassifier {
      switch family {
      case .bert:
        pre = (try f("pooler.dense.weight", [H, H]), try f("pooler.dense.bias", [H]), .tanh)
      case .roberta:
        pre = (FloatBuffer(try file.floats("classifier.dense.weight", shape: [H, H])),
               FloatBuffer(try file.floats("classifier.dense.bias", shape: [H])), .tanh)
      case .distilbert:
        pre = (FloatBuffer(try file.floats("pre_classifier.weight", shape: [H, H])),
               FloatBuffer(try file.floats("pre_classifier.bias", shape: [H])), .relu)
      }
    }
    return EncoderWeights(
      word: .mapped(file, word), position: position, tokenType0: tokenType0, embLNg: eg, embLNb: eb, layers: layers,
      preClassifier: pre.map { (w: $0.0, b: $0.1, activation: $0.2) },
      positionOffset: family == .roberta ? c.padTokenId + 1 : 0)
  }
}

/// What a sentence-transformers folder says about its pipeline (`1_Pooling/config.json`, `modules.json`):
/// read here once for the inference encoder, teacher fine-tuning and the encoder export.
public enum SentenceTransformersFolder {
  /// The pooling of `directory/1_Pooling/config.json`; nil when the folder has none.
  /// - Throws: `KDError` naming the file when it is not a JSON object (`.model`) or asks for a pooling
  ///   other than exactly one of CLS and mean (`.unsupported`).
  public static func pooling(directory: String) throws -> Pooling? {
    let path = (directory as NSString).appendingPathComponent("1_Pooling/config.json")
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
      throw KDError(.model, "not a JSON object", file: path)
    }
    let on = { (k: String) in (obj[k] as? Bool) ?? false }
    if on("pooling_mode_max_tokens") || on("pooling_mode_mean_sqrt_len_tokens") || on("pooling_mode_weightedmean_tokens") || on("pooling_mode_lasttoken") {
      throw KDError(.unsupported, "only CLS and mean pooling are supported", file: path)
    }
    switch (on("pooling_mode_cls_token"), on("pooling_mode_mean_tokens")) {
    case (true, false): return .cls
    case (false, true): return .mean
    default:
      throw KDError(.unsupported, "exactly one of pooling_mode_cls_token and pooling_mode_mean_tokens must be true", file: path)
    }
  }

  /// The modules of `directory/modules.json`; nil when absent or not a JSON array of objects.
  public static func modules(directory: String) -> [[String: Any]]? {
    FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent("modules.json"))
      .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [[String: Any]] }
  }

  /// Whether `modules` has a `Normalize` module (L2-normalised embeddings).
  public static func normalizes(_ modules: [[String: Any]]) -> Bool { modules.contains { isModule($0, "Normalize") } }

  /// Whether `module`'s type is `sentence_transformers.models.<kind>`.
  public static func isModule(_ module: [String: Any], _ kind: String) -> Bool {
    (module["type"] as? String)?.hasSuffix("models." + kind) == true
  }
}
