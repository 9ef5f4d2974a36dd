/// The dataset split an example belongs to.
public enum Split: String, CaseIterable, Sendable, Codable {
  case train, validation, test

  /// Parses the usual spellings (`train`, `dev`, `valid`, `validation`, `val`, `test`).
  public init?(loose value: String) {
    switch value.trimmingCharacters(in: .whitespaces).lowercased() {
    case "train", "training": self = .train
    case "validation", "valid", "val", "dev", "development": self = .validation
    case "test", "testing", "eval": self = .test
    default: return nil
    }
  }
}

import Foundation
