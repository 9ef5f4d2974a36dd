import KDCore
// TEMPORARY: replaced by the real registry from the readers branch.
public enum ReaderRegistry {
  public static func detect(path: String, prefix: [UInt8]) -> StructuredReader? { nil }
  public static func reader(named: String, settings: CorpusManifest.GenericXMLSettings?) throws -> StructuredReader {
    throw KDError(.unsupported, "no reader for format '\(named)' yet")
  }
}
