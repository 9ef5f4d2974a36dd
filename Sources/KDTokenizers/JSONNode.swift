import Foundation
import KDCore

/// A node of a parsed JSON document that knows its own path, so that every
/// error names the field that caused it (`model.vocab["foo"]: expected an integer`).
struct JSONNode {
  let value: Any?
  let path: String
  let file: String

  init(value: Any?, path: String, file: String) {
    self.value = value
    self.path = path
    self.file = file
  }

  /// Parses a JSON document.
  static func parse(_ data: Data, file: String) throws -> JSONNode {
    do {
      let v = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
      return JSONNode(value: v, path: "$", file: file)
    } catch {
      let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
      throw KDError(.input, "not valid JSON: \(detail)", file: file)
    }
  }

  func error(_ message: String) -> KDError {
    KDError(.input, message, file: file, field: path)
  }

  var isNull: Bool { value == nil || value is NSNull }

  func kindName() -> String {
    switch value {
    case nil: return "nothing (missing)"
    case is NSNull: return "null"
    case is String: return "a string"
    case let n as NSNumber: return JSONNode.isBoolean(n) ? "a boolean" : "a number"
    case is [Any]: return "an array"
    case is [String: Any]: return "an object"
    default: return "an unknown value"
    }
  }

  subscript(key: String) -> JSONNode {
    let dict = value as? [String: Any]
    return JSONNode(value: dict?[key], path: path + "." + key, file: file)
  }

  func string() throws -> String {
    guard let s = value as? String else { throw error("expected a string, found \(kindName())") }
    return s
  }

  func optionalString() throws -> String? { isNull ? nil : try string() }

  private func isBool(_ n: NSNumber) -> Bool { JSONNode.isBoolean(n) }

  /// JSONSerialization stores JSON booleans as NSNumber with a `char` type code.
  static func isBoolean(_ n: NSNumber) -> Bool {
    let t = n.objCType
    return t.pointee == 0x63 /* c */ || t.pointee == 0x42 /* B */
  }

  func int() throws -> Int {
    guard let n = value as? NSNumber, !isBool(n) else { throw error("expected an integer, found \(kindName())") }
    let d = n.doubleValue
    guard d.rounded() == d, abs(d) < 9e15 else { throw error("expected an integer, found \(n)") }
    return n.intValue
  }

  func optionalInt() throws -> Int? { isNull ? nil : try int() }

  func double() throws -> Double {
    guard let n = value as? NSNumber, !isBool(n) else { throw error("expected a number, found \(kindName())") }
    return n.doubleValue
  }

  func bool() throws -> Bool {
    guard let n = value as? NSNumber, isBool(n) else { throw error("expected true or false, found \(kindName())") }
    return n.boolValue
  }

  func bool(default d: Bool) throws -> Bool { isNull ? d : try bool() }

  func array() throws -> [JSONNode] {
    guard let a = value as? [Any] else { throw error("expected an array, found \(kindName())") }
    return a.enumerated().map { JSONNode(value: $0.element, path: "\(path)[\($0.offset)]", file: file) }
  }

  func object() throws -> [(key: String, node: JSONNode)] {
    guard let d = value as? [String: Any] else { throw error("expected an object, found \(kindName())") }
    return d.keys.sorted().map { k in (k, JSONNode(value: d[k], path: "\(path)[\"\(k)\"]", file: file)) }
  }

  /// The `type` field of a pipeline component.
  func typeName() throws -> String { try self["type"].string() }
}
