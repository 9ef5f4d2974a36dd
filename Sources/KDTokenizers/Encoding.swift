/// Character offsets of one token in the source text: `start ..< end`, counted
/// in Unicode scalars (what Python's `tokenizers` reports for a `str`).
/// Special tokens added by the post-processor and padding have `(0, 0)`.
public struct TokenOffsets: Sendable, Equatable, Hashable, CustomStringConvertible {
  public var start: Int
  public var end: Int
  public init(start: Int, end: Int) {
    self.start = start
    self.end = end
  }
  public var description: String { "(\(start), \(end))" }
}

/// The result of encoding one text: parallel arrays, one entry per token.
public struct Encoding: Sendable, Equatable {
  /// Token ids.
  public var ids: [Int32]
  /// Segment (token type) ids.
  public var typeIDs: [Int32]
  /// 1 for real tokens, 0 for padding.
  public var attentionMask: [Int8]
  /// 1 for special tokens added by the post-processor and for padding.
  public var specialTokensMask: [Int8]
  /// Character offsets into the source text.
  public var offsets: [TokenOffsets]
  /// Further windows when truncation with overflow produced them (HF `overflowing`).
  public var overflowing: [Encoding]

  public init(ids: [Int32] = [], typeIDs: [Int32] = [], attentionMask: [Int8] = [], specialTokensMask: [Int8] = [],
              offsets: [TokenOffsets] = [], overflowing: [Encoding] = []) {
    self.ids = ids
    self.typeIDs = typeIDs
    self.attentionMask = attentionMask
    self.specialTokensMask = specialTokensMask
    self.offsets = offsets
    self.overflowing = overflowing
  }

  /// Number of tokens (including special and padding tokens).
  public var count: Int { ids.count }

  mutating func reserve(_ n: Int) {
    ids.reserveCapacity(n)
    typeIDs.reserveCapacity(n)
    attentionMask.reserveCapacity(n)
    specialTokensMask.reserveCapacity(n)
    offsets.reserveCapacity(n)
  }

  func slice(_ r: Range<Int>) -> Encoding {
    Encoding(ids: Array(ids[r]), typeIDs: Array(typeIDs[r]), attentionMask: Array(attentionMask[r]),
             specialTokensMask: Array(specialTokensMask[r]), offsets: Array(offsets[r]))
  }
}

/// Which end of a sequence truncation or padding acts on.
public enum Direction: String, Sendable {
  case left, right
}

/// Truncation settings (HF `TruncationParams` for a single sequence).
public struct Truncation: Sendable, Equatable {
  /// Maximum number of tokens, special tokens included.
  public var maxLength: Int
  /// Tokens shared by consecutive overflow windows.
  public var stride: Int
  public var direction: Direction

  public init(maxLength: Int, stride: Int = 0, direction: Direction = .right) {
    self.maxLength = maxLength
    self.stride = stride
    self.direction = direction
  }
}

/// Padding settings (HF `PaddingParams`).
public struct Padding: Sendable, Equatable {
  public enum Strategy: Sendable, Equatable {
    /// Pad to the longest encoding of the batch.
    case longest
    /// Pad to a fixed length.
    case fixed(Int)
  }
  public var strategy: Strategy
  public var direction: Direction
  public var padToMultipleOf: Int?
  public var padID: Int32
  public var padTypeID: Int32
  public var padToken: String

  public init(strategy: Strategy = .longest, direction: Direction = .right, padToMultipleOf: Int? = nil,
              padID: Int32 = 0, padTypeID: Int32 = 0, padToken: String = "[PAD]") {
    self.strategy = strategy
    self.direction = direction
    self.padToMultipleOf = padToMultipleOf
    self.padID = padID
    self.padTypeID = padTypeID
    self.padToken = padToken
  }
}
