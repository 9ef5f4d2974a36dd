import Foundation
import KDCore
import KDNN
import KDTensor

extension BertEncoder {
  /// An inference encoder holding a copy of `bert`'s current weights (Q, K and V fused, the word
  /// table copied), run by the same forward kernels as the teacher: packed AMX tiles where the CPU
  /// has them, the fused AVX-512 attention and bias/GELU/LayerNorm kernels, rows split across workers.
  /// Its classifier is `bert`'s: the pooler (dense + tanh) on `[CLS]` then the classifier, or the
  /// (normalised) mean-pooled embedding into the classifier.
  convenience init(snapshotOf bert: TrainableBert, threads: Int) throws {
    let c = bert.config, H = c.hiddenSize
    let config = BertConfig(hiddenSize: H, layers: c.layers, heads: c.heads, intermediateSize: c.intermediateSize,
                            maxPositions: c.maxTokens, typeVocabSize: max(1, c.typeVocabSize), vocabSize: c.vocabSize,
                            layerNormEps: c.layerNormEps, padTokenId: c.padTokenId)
    func buffer(_ p: Parameter) -> FloatBuffer { FloatBuffer(p.value) }
    let layers = bert.layers.map { l -> LayerWeights in
      let a = l.attention
      return LayerWeights(
        wqkv: FloatBuffer(a.query.weight.value + a.key.weight.value + a.value.weight.value),
        bqkv: FloatBuffer((a.query.bias?.value ?? []) + (a.key.bias?.value ?? []) + (a.value.bias?.value ?? [])),
        wo: buffer(l.attentionOutput.weight), bo: FloatBuffer(l.attentionOutput.bias?.value ?? [Float](repeating: 0, count: H)),
        ln1g: buffer(l.attentionNorm.gamma), ln1b: buffer(l.attentionNorm.beta),
        wi: buffer(l.intermediate.weight), bi: FloatBuffer(l.intermediate.bias?.value ?? [Float](repeating: 0, count: c.intermediateSize)),
        wout: buffer(l.output.weight), bout: FloatBuffer(l.output.bias?.value ?? [Float](repeating: 0, count: H)),
        ln2g: buffer(l.outputNorm.gamma), ln2b: buffer(l.outputNorm.beta))
    }
    let onEmbedding = bert.classifierPooling == .mean
    let pre: (w: FloatBuffer, b: FloatBuffer, activation: PreClassifierActivation)? = onEmbedding ? nil
      : (w: buffer(bert.pooler.weight), b: FloatBuffer(bert.pooler.bias?.value ?? [Float](repeating: 0, count: H)), activation: .tanh)
    let weights = EncoderWeights(
      word: .owned(buffer(bert.wordEmbeddings.table)), position: buffer(bert.positionEmbeddings.table),
      tokenType0: FloatBuffer(Array(bert.tokenTypeEmbeddings.table.value[0..<H])),
      embLNg: buffer(bert.embeddingNorm.gamma), embLNb: buffer(bert.embeddingNorm.beta), layers: layers,
      preClassifier: pre, positionOffset: 0)
    let head = try LinearHead(weight: bert.classifier.weight.value,
                              bias: bert.classifier.bias?.value ?? [Float](repeating: 0, count: c.numClasses),
                              labels: (0..<c.numClasses).map { "LABEL_\($0)" }, inputSize: H)
    self.init(config: config, family: .bert, weights: weights, pooling: bert.classifierPooling,
              normalize: onEmbedding && bert.normalizePooled, classifier: head, classifierOnEmbedding: onEmbedding,
              directory: "(in memory)", tokenizerPath: nil, hash: "", dtype: .f32, threads: threads)
  }
}

extension TrainableBert {
  /// Logits `[batch × numClasses]` for inference (what `forward(_:training: false)` returns), by the
  /// teacher's inference kernels on a snapshot of the current weights (`BertEncoder(snapshotOf:)`).
  /// The snapshot is rebuilt when a parameter was written since (`Parameter.version`) and dropped by
  /// the next training forward pass, so it never holds memory during training steps. Sets no taps.
  /// Nil when the snapshot cannot run (the caller falls back to the training path).
  func inferenceLogits(_ batch: [[Int32]]) -> [Float]? {
    let versions = parameters.map(\.version)
    let threads = NNThreads.threads
    do {
      let encoder: BertEncoder
      if let s = inferenceSnapshot, s.versions == versions, s.encoder.threads == threads {
        encoder = s.encoder
      } else {
        inferenceSnapshot = nil
        // Training -> inference (or new weights): the training steps' free buffers go back to
        // the system before the snapshot and the evaluation buffers are allocated (`Allocator`).
        for l in layers { l.attention.releaseBuffers() }
        Allocator.releaseFreeMemory()
        encoder = try BertEncoder(snapshotOf: self, threads: threads)
        inferenceSnapshot = (versions, encoder)
      }
      let seqs = cleanedBatch(batch)
      let out = try encoder.runChecked(seqs)
      layout = SequenceLayout(lengths: seqs.map(\.count))
      hiddenStates = []
      return out.logits
    } catch {
      // Only an internal inconsistency can throw here (the sequences are cleaned); the caller then
      // computes the same logits on the training path.
      return nil
    }
  }
}
