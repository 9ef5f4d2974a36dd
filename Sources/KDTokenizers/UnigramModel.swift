import KDCore

/// Unigram language model (SentencePiece): the most likely segmentation by Viterbi.
///
/// Reference: huggingface/tokenizers `models/unigram/model.rs` (`encode_optimized`, v0.23):
/// ties keep the first candidate found, shorter pieces are tried first, an unknown
/// character costs `min_score - 10`.
final class UnigramModel: TokenModel, @unchecked Sendable {
  let vocabulary: TokenTable
  let tokens: [String?]
  let scores: [Double]
  let unknownID: Int32?
  let byteFallback: Bool
  let fuseUnknown = true
  let unknownScore: Double
  let byteTokens: [Int32]

  init(node: JSONNode) throws {
    let list = try node["vocab"].array()
    var table = TokenTable(capacity: list.count)
    var tokens: [String?] = []
    var scores: [Double] = []
    tokens.reserveCapacity(list.count)
    scores.reserveCapacity(list.count)
    var minScore = Double.infinity
    for (i, item) in list.enumerated() {
      let pair = try item.array()
      guard pair.count == 2 else { throw item.error("expected [piece, score]") }
      let t = try pair[0].string()
      let sc = try pair[1].double()
      table.insert(Array(t.utf8), value: Int32(i), overwrite: true)
      tokens.append(t)
      scores.append(sc)
      minScore = min(minScore, sc)
    }
    vocabulary = table
    self.tokens = tokens
    self.scores = scores
    if let u = try node["unk_id"].optionalInt() {
      guard u >= 0 && u < list.count else { throw node["unk_id"].error("unk_id \(u) is outside the vocabulary (size \(list.count))") }
      unknownID = Int32(u)
    } else {
      unknownID = nil
    }
    byteFallback = try node["byte_fallback"].bool(default: false)
    unknownScore = (minScore.isFinite ? minScore : 0) - 10.0
    byteTokens = (0..<256).map { table.lookup(byteTokenName(UInt8($0))) }
  }

  func tokenize(_ w: Work, _ s: Int, _ e: Int) {
    let n = e - s
    guard n > 0 else { return }
    encodePiece(w, s, e)
    let maxLen = vocabulary.maxKeyLength
    // Best path ending at each character boundary.
    var bestScore = [Double](repeating: 0, count: n + 1)
    var bestStart = [Int32](repeating: -1, count: n + 1)
    var bestID = [Int32](repeating: -1, count: n + 1)
    w.bytes.withUnsafeBufferPointer { bb in
      w.charBytes.withUnsafeBufferPointer { cb in
        let base = bb.baseAddress!
        for i in 0..<n {
          if i > 0 && bestStart[i] < 0 { continue }
          let here = bestScore[i]
          var hasSingle = false
          var j = i + 1
          while j <= n && Int(cb[j] - cb[i]) <= maxLen {
            let id = vocabulary.lookup(base + Int(cb[i]), Int(cb[j] - cb[i]))
            if id >= 0 {
              let cand = scores[Int(id)] + here
              if bestStart[j] < 0 || cand > bestScore[j] {
                bestScore[j] = cand
                bestStart[j] = Int32(i)
                bestID[j] = id
              }
              if j == i + 1 { hasSingle = true }
            }
            j += 1
          }
          if !hasSingle {
            let cand = unknownScore + here
            if bestStart[i + 1] < 0 || cand > bestScore[i + 1] {
              bestScore[i + 1] = cand
              bestStart[i + 1] = Int32(i)
              bestID[i + 1] = unknownID ?? -1
            }
          }
        }
      }
    }
    // Backtrack; consecutive unknown pieces fuse into one.
    var pieces: [(Int, Int)] = []  // char ranges, reversed
    var end = n
    var unkEnd = -1
    while end > 0 {
      let st = Int(bestStart[end])
      if st < 0 { break }
      if let u = unknownID, bestID[end] == u {
        if unkEnd < 0 { unkEnd = end }
      } else {
        if unkEnd >= 0 { pieces.append((end, unkEnd)); unkEnd = -1 }
        pieces.append((st, end))
      }
      end = st
    }
    if unkEnd >= 0 { pieces.append((end, unkEnd)) }
    let starts = w.text.starts, ends = w.text.ends
    w.bytes.withUnsafeBufferPointer { bb in
      let base = bb.baseAddress!
      for (a, b) in pieces.reversed() {
        let ba = Int(w.charBytes[a]), bl = Int(w.charBytes[b]) - ba
        let os = starts[s + a], oe = ends[s + b - 1]
        var id = vocabulary.lookup(base + ba, bl)
        if id < 0 && byteFallback {
          var all = true
          for k in 0..<bl where byteTokens[Int(base[ba + k])] < 0 { all = false; break }
          if all {
            for k in 0..<bl {
              w.ids.append(byteTokens[Int(base[ba + k])])
              w.offsets.append(os)
              w.offsets.append(oe)
            }
            continue
          }
        }
        if id < 0 { id = unknownID ?? 0 }
        w.ids.append(id)
        w.offsets.append(os)
        w.offsets.append(oe)
      }
    }
  }
}
