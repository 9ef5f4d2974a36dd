import Foundation
import KDCore
import KDModels
import KDNN

/// The intermediate losses of one batch (each already weighted), for logs and `--json`.
public struct IntermediateLosses: Sendable, Codable, Equatable {
  public var hidden: Double = 0
  public var attention: Double = 0
  public var value: Double = 0
  public var total: Double { hidden + attention + value }
  public init() {}
}

/// Intermediate-layer distillation of a transformer student against its BERT teacher, run online
/// (the teacher's hidden states and attentions are not cached), inside kd-train for task students
/// and as the whole loss of `kd-train encoder` (domain distillation, `DomainDistiller`):
///
/// - hidden-state MSE (TinyBERT): for the embeddings and each student layer `i`, the mean squared
///   error between the student's hidden state (through a learned linear projection when the widths
///   differ) and the teacher's at layer `layerMap[i]`, averaged over the mapped layers;
/// - last-layer self-attention (MiniLM): `KL(teacher ‖ student)` of the attention distributions
///   of the last student layer and the last teacher layer, averaged over rows and heads, when both
///   have the same head count; otherwise MiniLMv2's query-query and key-key relations over
///   `relationHeads` relation heads (`RelationDistillation`);
/// - last-layer value relation (MiniLMv2): `KL(teacher ‖ student)` of `softmax(V·Vᵀ/√d)` per
///   relation head.
///
/// Each has its own weight (`--hidden-loss`, `--attention-loss`, `--value-loss`); for a task student
/// they are added to the logit loss.
public final class IntermediateDistillation {
  public let teacher: TrainableBert
  public let layerMap: [Int]
  public let hiddenWeight: Float
  public let attentionWeight: Float
  public let valueWeight: Float
  /// Relation heads of the value relation (and of the Q/K relations when head counts differ).
  public let relationHeads: Int
  /// True when the attention term uses Q-Q and K-K relations (the student's head count differs from the teacher's).
  public let attentionAsRelations: Bool
  /// One projection per student hidden state (embeddings + layers) when widths differ.
  let projections: [Dense]

  /// For a task student (`kd-train --student transformer --hidden-loss/--attention-loss`).
  public convenience init(student: TransformerStudent, teacherDirectory: String, layerMap: [Int], hiddenWeight: Float,
                          attentionWeight: Float, seed: UInt64) throws {
    try self.init(studentConfig: student.bert.config, teacherDirectory: teacherDirectory, layerMap: layerMap,
                  hiddenWeight: hiddenWeight, attentionWeight: attentionWeight, seed: seed)
    // The losses read every row of the student's last hidden state and attention.
    student.bert.lastLayerCLSOnly = false
  }

  /// - Parameter relationHeads: nil: the largest count up to the teacher's heads that divides both widths.
  /// - Throws: `KDError(.usage)` naming the flag when the teacher cannot serve (another vocabulary,
  ///   relation heads that do not divide both widths).
  public init(studentConfig s: TrainableBertConfig, teacherDirectory: String, layerMap: [Int], hiddenWeight: Float,
              attentionWeight: Float, valueWeight: Float = 0, relationHeads: Int? = nil, seed: UInt64) throws {
    let configPath = (teacherDirectory as NSString).appendingPathComponent("config.json")
    let flag = hiddenWeight > 0 ? "--hidden-loss" : attentionWeight > 0 ? "--attention-loss" : "--value-loss"
    guard FileManager.default.fileExists(atPath: configPath) else {
      throw KDError(.usage, "intermediate losses need the teacher's Hugging Face folder (--init-from); none at \(teacherDirectory)",
                    file: configPath, field: flag)
    }
    let t = try BertConfig.load(path: configPath)
    guard t.vocabSize == s.vocabSize else {
      throw KDError(.usage, "the teacher's vocabulary (\(t.vocabSize)) differs from the student's (\(s.vocabSize))", file: configPath,
                    field: flag)
    }
    let R = relationHeads ?? stride(from: t.numAttentionHeads, through: 1, by: -1).first {
      s.hiddenSize % $0 == 0 && t.hiddenSize % $0 == 0
    } ?? 1
    guard R > 0, s.hiddenSize % R == 0, t.hiddenSize % R == 0 else {
      throw KDError(.usage, "\(R) relation heads must divide the student's width \(s.hiddenSize) and the teacher's \(t.hiddenSize)",
                    field: "--relation-heads")
    }
    self.relationHeads = R
    attentionAsRelations = t.numAttentionHeads != s.heads
    let tc = TrainableBertConfig(layers: t.numHiddenLayers, hiddenSize: t.hiddenSize, heads: t.numAttentionHeads,
                                 intermediateSize: t.intermediateSize, maxTokens: min(s.maxTokens, t.maxPositionEmbeddings),
                                 vocabSize: t.vocabSize, numClasses: 2, dropout: 0)
    teacher = try TrainableBert.fromTeacher(directory: teacherDirectory, config: tc, layerMap: Array(0..<t.numHiddenLayers), seed: seed)
    self.layerMap = layerMap
    self.hiddenWeight = hiddenWeight
    self.attentionWeight = attentionWeight
    self.valueWeight = valueWeight
    var rng = NNRandom(seed: seed &+ 99)
    projections = s.hiddenSize == t.hiddenSize || hiddenWeight == 0 ? [] : (0...s.layers).map {
      Dense(name: "distill.projection.\($0)", inputSize: s.hiddenSize, outputSize: t.hiddenSize, rng: &rng)
    }
    // Q and K of the last layers are read after inference passes too (validation).
    if attentionWeight > 0 && attentionAsRelations { teacher.layers.last?.attention.keepProjections = true }
  }

  /// Trainable parameters of the loss itself (projections); optimised with the student, not saved with it.
  public var parameters: [Parameter] { projections.flatMap(\.parameters) }

  /// After the student's training forward pass on `batch`: runs the teacher, computes the
  /// intermediate losses and leaves their gradients on the student for its next `backward`.
  /// Returns the weighted intermediate loss.
  public func prepare(student: TransformerStudent, batch: Batch) -> Float {
    let (losses, grads) = apply(student: student.bert, sequences: TransformerStudent.sequences(batch), training: true)
    if hiddenWeight > 0 { student.pendingHiddenGradients = grads }
    return Float(losses.total)
  }

  /// After the student's forward pass on `sequences` (`encode` or `forward`): runs the teacher on them
  /// and computes the weighted losses. With `training`, the gradients of the attention and relation
  /// terms are left on the student's last attention layer for its next backward pass, and those of
  /// the hidden-state term are returned (by hidden-state index, for `TrainableBert.backward…(hiddenGradients:)`).
  public func apply(student sb: TrainableBert, sequences: [[Int32]], training: Bool) -> (IntermediateLosses, [Int: [Float]]) {
    if training { for p in parameters { p.zeroGrad() } }
    _ = teacher.encode(sequences, training: false)
    precondition(teacher.layout == sb.layout, "teacher and student saw different tokens")
    var losses = IntermediateLosses()
    var grads: [Int: [Float]] = [:]
    if hiddenWeight > 0 {
      let pairs = [(0, 0)] + layerMap.enumerated().map { ($0.offset + 1, $0.element + 1) }
      let scale = hiddenWeight / Float(pairs.count)
      for (si, ti) in pairs {
        let s = sb.hiddenStates[si], t = teacher.hiddenStates[ti]
        let rows = sb.layout.tokens
        let proj = projections.isEmpty ? nil : projections[si]
        let p = proj?.forward(s, rows: rows, training: training) ?? s
        let n = Float(p.count)
        var d = [Float](repeating: 0, count: training ? p.count : 0)
        var l: Double = 0
        for i in p.indices {
          let e = p[i] - t[i]
          l += Double(e * e)
          if training { d[i] = 2 * e / n * scale }
        }
        losses.hidden += Double(scale) * l / Double(n)
        if training { grads[si] = proj?.backward(d) ?? d }
      }
    }
    guard let ls = sb.layers.last?.attention, let lt = teacher.layers.last?.attention else { return (losses, grads) }
    let sw = sb.config.hiddenSize, tw = teacher.config.hiddenSize
    if attentionWeight > 0 && !attentionAsRelations {
      // d KL(t‖s) / d scores = (p_s − p_t) per row; mean over rows × heads.
      let rows = sb.layout.tokens * ls.heads
      let w = attentionWeight / Float(max(1, rows))
      var g = [Float](repeating: 0, count: training ? ls.probs.count : 0)
      var kl: Double = 0
      for i in ls.probs.indices {
        let ps = ls.probs[i], pt = lt.probs[i]
        if training { g[i] = w * (ps - pt) }
        if pt > 0 { kl += Double(pt) * (Foundation.log(Double(pt)) - Foundation.log(max(Double(ps), 1e-30))) }
      }
      if training { ls.extraScoreGradient = g }
      losses.attention = Double(w) * kl
    } else if attentionWeight > 0 {
      let q = RelationDistillation.kl(student: ls.q, studentWidth: sw, teacher: lt.q, teacherWidth: tw, layout: sb.layout,
                                      heads: relationHeads, weight: attentionWeight)
      let k = RelationDistillation.kl(student: ls.k, studentWidth: sw, teacher: lt.k, teacherWidth: tw, layout: sb.layout,
                                      heads: relationHeads, weight: attentionWeight)
      losses.attention = q.loss + k.loss
      if training {
        ls.extraQueryGradient = q.gradient
        ls.extraKeyGradient = k.gradient
      }
    }
    if valueWeight > 0 {
      let v = RelationDistillation.kl(student: ls.values, studentWidth: sw, teacher: lt.values, teacherWidth: tw, layout: sb.layout,
                                      heads: relationHeads, weight: valueWeight)
      losses.value = v.loss
      if training { ls.extraValueGradient = v.gradient }
    }
    return (losses, grads)
  }
}
