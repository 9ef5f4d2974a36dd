import KDCore

/// The versioned schema in `schemas/`, embedded at build time.
public enum Schema {
  /// The newest schema version this build of kd knows.
  public static var currentVersion: Int { migrations.last?.version ?? 0 }
}
