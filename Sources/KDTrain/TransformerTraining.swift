import Foundation
import KDCore
import KDModels
import KDNN

/// Settings of the transformer student (`kd-train --student transformer`); part of `TrainingOptions`.
///
/// Defaults (chosen by measurement, BENCHMARKS.md "Transformer students (issue 13)"): 3 layers
/// initialised from teacher layers 1, 3, 5 of all-MiniLM-L6-v2 (DistilBERT-style), the teacher's
/// width (384, 12 heads, 1536), 128 tokens, dropout 0.1; kd-train gives it lr 3e-4 and 6 epochs.
public struct TransformerOptions: Codable, Sendable, Equatable {
  public var layers = 3
  /// nil: the teacher's with `--init teacher`, else 256.
  public var hiddenSize: Int?
  /// nil: the teacher's with `--init teacher`, else 4.
  public var heads: Int?
  /// nil: the teacher's with `--init teacher`, else 4 × hidden.
  public var intermediateSize: Int?
  public var dropout: Float = 0.1
  /// `teacher` (copy embeddings and mapped layers) or `random`.
  public var initialization = "teacher"
  /// The Hugging Face BERT folder `--init teacher` copies from (nil: `models/all-MiniLM-L6-v2`).
  public var teacherDirectory: String?
  /// Teacher layer per student layer, 0-based (nil: evenly spread, ending at the last layer).
  public var layerMap: [Int]?
  /// Worker threads (0: all cores).
  public var threads = 0
  /// Weight of the hidden-state MSE against the teacher (TinyBERT; 0: off).
  public var hiddenLoss: Float = 0
  /// Weight of the last-layer self-attention KL against the teacher (MiniLM; 0: off).
  public var attentionLoss: Float = 0

  public init() {}

  public var resolvedTeacherDirectory: String { teacherDirectory ?? "models/all-MiniLM-L6-v2" }

  /// Checks ranges; throws `KDError(.usage)` naming the flag.
  public func validate() throws {
    guard ["teacher", "random"].contains(initialization) else {
      throw KDError(.usage, "--init must be teacher or random (got '\(initialization)')", field: "--init")
    }
    guard layers > 0 else { throw KDError(.usage, "--layers must be at least 1", field: "--layers") }
    if let m = layerMap {
      guard initialization == "teacher" else { throw KDError(.usage, "--layer-map needs --init teacher", field: "--layer-map") }
      guard m.count == layers else {
        throw KDError(.usage, "--layer-map has \(m.count) entries for \(layers) layers", field: "--layer-map")
      }
    }
    guard threads >= 0 else { throw KDError(.usage, "--threads must be >= 0", field: "--threads") }
    guard hiddenLoss >= 0 && hiddenLoss.isFinite else { throw KDError(.usage, "--hidden-loss must be >= 0", field: "--hidden-loss") }
    guard attentionLoss >= 0 && attentionLoss.isFinite else {
      throw KDError(.usage, "--attention-loss must be >= 0", field: "--attention-loss")
    }
  }

  /// The teacher's config when initialising from it and it is readable.
  func teacherConfig() -> BertConfig? {
    guard initialization == "teacher" else { return nil }
    return try? BertConfig.load(path: (resolvedTeacherDirectory as NSString).appendingPathComponent("config.json"))
  }

  public func studentConfig(vocabSize: Int, numClasses: Int, maxTokens: Int) -> StudentConfig {
    let t = teacherConfig()
    let h = hiddenSize ?? t?.hiddenSize ?? 256
    let b = TrainableBertConfig(layers: layers, hiddenSize: h, heads: heads ?? t?.numAttentionHeads ?? 4,
                                intermediateSize: intermediateSize ?? t?.intermediateSize ?? 4 * h, maxTokens: maxTokens,
                                vocabSize: vocabSize, typeVocabSize: t.map { max(1, $0.typeVocabSize) } ?? 2,
                                layerNormEps: t?.layerNormEps ?? 1e-12, padTokenId: t?.padTokenId ?? 0,
                                numClasses: numClasses, dropout: dropout)
    return .transformer(b, initialization: initialization)
  }

  /// Worker threads to use.
  public var effectiveThreads: Int { workerCount(threads) }
}

extension Trainer {
  /// The student to train: `makeStudent`, or for a transformer the teacher-initialised or seeded
  /// random model (and the thread policy set).
  func makeTrainingStudent(_ config: StudentConfig, seed: UInt64) throws -> StudentModel {
    guard config.kind == "transformer" else { return try makeStudent(config, seed: seed) }
    let t = options.transformer ?? TransformerOptions()
    try t.validate()
    NNThreads.set(t.effectiveThreads)
    guard t.initialization == "teacher" else { return try TransformerStudent(config: config, seed: seed) }
    let dir = t.resolvedTeacherDirectory
    let configPath = (dir as NSString).appendingPathComponent("config.json")
    guard FileManager.default.fileExists(atPath: configPath) else {
      throw KDError(.usage, "--init teacher: no Hugging Face model at \(dir) (give --init-from DIR, or --init random)",
                    file: configPath, field: "--init")
    }
    let teacherLayers = try BertConfig.load(path: configPath).numHiddenLayers
    let map = t.layerMap ?? TransformerStudent.defaultLayerMap(studentLayers: config.layers ?? 1, teacherLayers: teacherLayers)
    let student = try TransformerStudent(config: config, teacherDirectory: dir, layerMap: map, seed: seed)
    log("\(name): transformer initialised from \(dir), teacher layers \(map.map(String.init).joined(separator: ",")) → student layers 0..<\(map.count)")
    return student
  }
}

extension Trainer {
  /// The online intermediate losses, when a transformer student asks for any.
  func makeIntermediateDistillation(_ model: StudentModel) throws -> IntermediateDistillation? {
    guard let t = options.transformer, t.hiddenLoss > 0 || t.attentionLoss > 0, let s = model as? TransformerStudent else { return nil }
    let dir = t.resolvedTeacherDirectory
    let teacherLayers = (try? BertConfig.load(path: (dir as NSString).appendingPathComponent("config.json")).numHiddenLayers) ?? 0
    let map = s.config.layerMap ?? t.layerMap
      ?? TransformerStudent.defaultLayerMap(studentLayers: s.bert.config.layers, teacherLayers: teacherLayers)
    for l in map where l >= teacherLayers {
      throw KDError(.usage, "layer \(l) is outside the teacher's \(teacherLayers) layers", field: "--layer-map")
    }
    let d = try IntermediateDistillation(student: s, teacherDirectory: dir, layerMap: map, hiddenWeight: t.hiddenLoss,
                                         attentionWeight: t.attentionLoss, seed: options.seed)
    log("\(name): intermediate losses online against \(dir): hidden MSE × \(t.hiddenLoss) (layers \(map)), last-layer attention KL × \(t.attentionLoss)")
    return d
  }

  /// The weighted intermediate loss of this step (0 without intermediate losses); gradients wait on the student.
  func intermediateLoss(_ d: IntermediateDistillation?, _ model: StudentModel, _ batch: Batch) -> Float {
    guard let d, let s = model as? TransformerStudent else { return 0 }
    return d.prepare(student: s, batch: batch)
  }
}

extension TrainingOptions {
  /// The bow KD student beside another student (`--compare-bow`): the same data, loss, seed and
  /// batch settings, with bow's own defaults for the rest (learning rate 0.01, 15 epochs, 256 tokens).
  public static func bowDefaults(from o: TrainingOptions) -> TrainingOptions {
    var b = o
    let d = TrainingOptions()
    b.student = "bow"
    b.transformer = nil
    b.learningRate = d.learningRate
    b.epochs = d.epochs
    b.maxTokens = d.maxTokens
    b.clip = d.clip
    b.warmup = d.warmup
    b.weightDecay = d.weightDecay
    return b
  }
}
