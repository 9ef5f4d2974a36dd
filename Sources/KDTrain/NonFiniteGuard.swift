import Foundation
import KDCore
import KDNN

extension Trainer {
  /// Throws `KDError(.numeric)` naming the epoch, the step and the first tensor when a weight is
  /// NaN or infinite, so that nothing non-finite is saved: the weights can overflow in the
  /// update after the last finite loss, before the next loss shows it. The checkpoint and best
  /// model on disk stay those of the last good save.
  func requireFiniteWeights(_ parameters: [Parameter], epoch: Int, step: Int) throws {
    for p in parameters {
      let finite = p.value.withUnsafeBufferPointer { v in
        // x·0 is 0 for finite x and NaN for NaN or ±inf: one branch-free pass.
        var s: Float = 0
        for x in v { s += x * 0 }
        return s == 0
      }
      guard finite else {
        throw KDError(.numeric, "the weights became non-finite (\(p.name)) at epoch \(epoch), step \(step); nothing was saved after the last good checkpoint. Lower --lr or turn on --clip",
                      field: "--lr")
      }
    }
  }
}

/// A fault injected on purpose, to test the numeric-error path end to end (through the
/// library and the executable): `KD_TRAIN_FAILPOINT=nan-loss@S` makes the loss of step S
/// (1-based, counted over the whole run) NaN; `inf-weight@S` puts +inf into the first weight
/// right after step S's update, as an overflowing update would. Unset in normal use.
public struct TrainingFailpoint: Sendable, Equatable {
  public enum Kind: String, Sendable { case nanLoss = "nan-loss", infWeight = "inf-weight" }
  public var kind: Kind
  public var step: Int

  public init(_ kind: Kind, step: Int) { self.kind = kind; self.step = step }

  public static let environmentVariable = "KD_TRAIN_FAILPOINT"

  /// `nan-loss@S` or `inf-weight@S`; throws `KDError(.usage)` naming the variable otherwise.
  public static func parse(_ text: String) throws -> TrainingFailpoint {
    let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
    guard parts.count == 2, let kind = Kind(rawValue: parts[0]), let step = Int(parts[1]), step > 0 else {
      throw KDError(.usage, "'\(text)': expected nan-loss@STEP or inf-weight@STEP (STEP >= 1)", field: environmentVariable)
    }
    return TrainingFailpoint(kind, step: step)
  }

  /// The failpoint of `KD_TRAIN_FAILPOINT`, nil when unset or empty.
  public static func fromEnvironment() throws -> TrainingFailpoint? {
    guard let v = ProcessInfo.processInfo.environment[environmentVariable], !v.isEmpty else { return nil }
    return try parse(v)
  }
}

extension Trainer {
  /// The loss of 1-based step `step`, NaN when the failpoint says so.
  func injectedLoss(_ loss: Float, step: Int) -> Float {
    failpoint.map { $0.kind == .nanLoss && $0.step == step } == true ? .nan : loss
  }

  /// After step `step`'s update: +inf in the first weight when the failpoint says so.
  func injectWeightFault(_ parameters: [Parameter], step: Int) {
    guard let f = failpoint, f.kind == .infWeight, f.step == step, let p = parameters.first, p.count > 0 else { return }
    p.value[0] = .infinity
  }
}
