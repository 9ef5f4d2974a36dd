import Foundation
import KDCore
import KDModels
import KDNN

/// Intermediate-layer distillation of a transformer student against its BERT teacher, run online
/// inside kd-train (the teacher's hidden states and attentions are not cached):
///
/// - hidden-state MSE (TinyBERT): for the embeddings and each student layer `i`, the mean squared
///   error between the student's hidden state (through a learned linear projection when the widths
///   differ) and the teacher's at layer `layerMap[i]`, averaged over the mapped layers;
/// - last-layer self-attention KL (MiniLM): `KL(teacher ‖ student)` of the attention distributions
///   of the last student layer and the last teacher layer, averaged over rows and heads (same head count).
///
/// Each has its own weight (`--hidden-loss`, `--attention-loss`); both are added to the logit loss.
public final class IntermediateDistillation {
  public let teacher: TrainableBert
  public let layerMap: [Int]
  public let hiddenWeight: Float
  public let attentionWeight: Float
  /// One projection per student hidden state (embeddings + layers) when widths differ.
  let projections: [Dense]

  /// - Throws: `KDError(.usage)` naming the flag when the teacher cannot serve (another vocabulary,
  ///   another head count for the attention loss).
  public init(student: TransformerStudent, teacherDirectory: String, layerMap: [Int], hiddenWeight: Float,
              attentionWeight: Float, seed: UInt64) throws {
    let configPath = (teacherDirectory as NSString).appendingPathComponent("config.json")
    guard FileManager.default.fileExists(atPath: configPath) else {
      throw KDError(.usage, "intermediate losses need the teacher's Hugging Face folder (--init-from); none at \(teacherDirectory)",
                    file: configPath, field: hiddenWeight > 0 ? "--hidden-loss" : "--attention-loss")
    }
    let t = try BertConfig.load(path: configPath)
    let s = student.bert.config
    guard t.vocabSize == s.vocabSize else {
      throw KDError(.usage, "the teacher's vocabulary (\(t.vocabSize)) differs from the student's (\(s.vocabSize))", file: configPath,
                    field: hiddenWeight > 0 ? "--hidden-loss" : "--attention-loss")
    }
    if attentionWeight > 0 && t.numAttentionHeads != s.heads {
      throw KDError(.usage, "the attention loss needs the teacher's head count (\(t.numAttentionHeads)); the student has \(s.heads)",
                    field: "--attention-loss")
    }
    let tc = TrainableBertConfig(layers: t.numHiddenLayers, hiddenSize: t.hiddenSize, heads: t.numAttentionHeads,
                                 intermediateSize: t.intermediateSize, maxTokens: min(s.maxTokens, t.maxPositionEmbeddings),
                                 vocabSize: t.vocabSize, numClasses: 2, dropout: 0)
    teacher = try TrainableBert.fromTeacher(directory: teacherDirectory, config: tc, layerMap: Array(0..<t.numHiddenLayers), seed: seed)
    self.layerMap = layerMap
    self.hiddenWeight = hiddenWeight
    self.attentionWeight = attentionWeight
    var rng = NNRandom(seed: seed &+ 99)
    projections = s.hiddenSize == t.hiddenSize || hiddenWeight == 0 ? [] : (0...s.layers).map {
      Dense(name: "distill.projection.\($0)", inputSize: s.hiddenSize, outputSize: t.hiddenSize, rng: &rng)
    }
  }

  /// Trainable parameters of the loss itself (projections); optimised with the student, not saved with it.
  public var parameters: [Parameter] { projections.flatMap(\.parameters) }

  /// After the student's training forward pass on `batch`: runs the teacher, computes the
  /// intermediate losses and leaves their gradients on the student for its next `backward`.
  /// Returns the weighted intermediate loss.
  public func prepare(student: TransformerStudent, batch: Batch) -> Float {
    for p in parameters { p.zeroGrad() }
    let seqs = TransformerStudent.sequences(batch)
    _ = teacher.encode(seqs, training: false)
    let sb = student.bert
    precondition(teacher.layout == sb.layout, "teacher and student saw different tokens")
    var total: Float = 0
    if hiddenWeight > 0 {
      var grads: [Int: [Float]] = [:]
      let pairs = [(0, 0)] + layerMap.enumerated().map { ($0.offset + 1, $0.element + 1) }
      let scale = hiddenWeight / Float(pairs.count)
      for (si, ti) in pairs {
        let s = sb.hiddenStates[si], t = teacher.hiddenStates[ti]
        let rows = sb.layout.tokens
        let proj = projections.isEmpty ? nil : projections[si]
        let p = proj?.forward(s, rows: rows, training: true) ?? s
        let n = Float(p.count)
        var d = [Float](repeating: 0, count: p.count)
        var l: Float = 0
        for i in p.indices {
          let e = p[i] - t[i]
          l += e * e
          d[i] = 2 * e / n * scale
        }
        total += scale * l / n
        grads[si] = proj?.backward(d) ?? d
      }
      student.pendingHiddenGradients = grads
    }
    if attentionWeight > 0, let ls = sb.layers.last?.attention, let lt = teacher.layers.last?.attention {
      // d KL(t‖s) / d scores = (p_s − p_t) per row; mean over rows × heads.
      let rows = (0..<ls.layout.count).reduce(0) { $0 + ls.layout.length($1) } * ls.heads
      let w = attentionWeight / Float(max(1, rows))
      var g = [Float](repeating: 0, count: ls.probs.count)
      var kl: Double = 0
      for i in g.indices {
        let ps = ls.probs[i], pt = lt.probs[i]
        g[i] = w * (ps - pt)
        if pt > 0 { kl += Double(pt) * (Foundation.log(Double(pt)) - Foundation.log(max(Double(ps), 1e-30))) }
      }
      ls.extraScoreGradient = g
      total += w * Float(kl)
    }
    return total
  }
}
