import Foundation
import SwiftProtobuf

/// ONNX element types used here (TensorProto.DataType).
enum OnnxType: Int32 {
  case float = 1, int64 = 7, float16 = 10, uint64 = 13
}

/// Builds an ONNX graph node by node, naming intermediate values uniquely.
///
/// Float weights go in as initializers; with `fp16` each is stored as fp16 and
/// followed by one `Cast` to fp32, so every operator still computes in fp32
/// (exact with fp16-rounded weights) and the file is about half the size.
final class OnnxGraphBuilder {
  let fp16: Bool
  private(set) var nodes: [Onnx_NodeProto] = []
  private(set) var initializers: [Onnx_TensorProto] = []
  private(set) var inputs: [Onnx_ValueInfoProto] = []
  private(set) var outputs: [Onnx_ValueInfoProto] = []
  /// Float weight values written (for the summary).
  private(set) var parameterCount = 0
  private var used = Set<String>()
  private var constants: [String: String] = [:]

  init(fp16: Bool) { self.fp16 = fp16 }

  /// A value name not used yet, derived from `base`.
  func fresh(_ base: String) -> String {
    if used.insert(base).inserted { return base }
    var i = 1
    while !used.insert("\(base)_\(i)").inserted { i += 1 }
    return "\(base)_\(i)"
  }

  /// A graph input of element type `type` and symbolic/fixed dims (`String` for a symbol, `Int` for a size).
  func input(_ name: String, _ type: OnnxType, dims: [Any]) -> String {
    inputs.append(valueInfo(name, type, dims))
    _ = used.insert(name)
    return name
  }

  /// Declares `value` a graph output named `name` (through an Identity when the names differ).
  func output(_ value: String, as name: String, _ type: OnnxType, dims: [Any]) {
    if value != name { _ = node("Identity", [value], out: name) }
    outputs.append(valueInfo(name, type, dims))
  }

  private func valueInfo(_ name: String, _ type: OnnxType, _ dims: [Any]) -> Onnx_ValueInfoProto {
    var shape = Onnx_TensorShapeProto()
    shape.dim = dims.map { d in
      var dim = Onnx_TensorShapeProto.Dimension()
      if let s = d as? String { dim.dimParam = s } else if let n = d as? Int { dim.dimValue = Int64(n) }
      return dim
    }
    var tensor = Onnx_TypeProto.Tensor()
    tensor.elemType = type.rawValue
    tensor.shape = shape
    var t = Onnx_TypeProto()
    t.tensorType = tensor
    var v = Onnx_ValueInfoProto()
    v.name = name
    v.type = t
    return v
  }

  /// Adds a node; returns its (first) output name.
  @discardableResult
  func node(_ op: String, _ inputs: [String], out: String? = nil, _ attributes: [Onnx_AttributeProto] = []) -> String {
    let o = fresh(out ?? op.lowercased())
    var n = Onnx_NodeProto()
    n.opType = op
    n.input = inputs
    n.output = [o]
    n.name = o
    n.attribute = attributes
    nodes.append(n)
    return o
  }

  // MARK: Attributes

  static func attr(_ name: String, int v: Int) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .int
    a.i = Int64(v)
    return a
  }

  static func attr(_ name: String, float v: Float) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .float
    a.f = v
    return a
  }

  static func attr(_ name: String, string v: String) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .string
    a.s = Data(v.utf8)
    return a
  }

  static func attr(_ name: String, ints v: [Int]) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .ints
    a.ints = v.map(Int64.init)
    return a
  }

  // MARK: Initializers

  private func tensor(_ name: String, _ type: OnnxType, _ shape: [Int], raw: Data) -> Onnx_TensorProto {
    var t = Onnx_TensorProto()
    t.name = name
    t.dataType = type.rawValue
    t.dims = shape.map(Int64.init)
    t.rawData = raw
    return t
  }

  /// A float weight (`fp16` stores it as fp16 plus a Cast); returns the fp32 value's name.
  func weight(_ name: String, shape: [Int], values: [Float]) -> String {
    precondition(shape.reduce(1, *) == values.count, "weight \(name): shape \(shape) for \(values.count) values")
    parameterCount += values.count
    let n = fresh(name)
    if fp16 {
      let stored = fresh(name + "_fp16")
      var raw = Data(capacity: values.count * 2)
      for v in values {
        var b = Float16(v).bitPattern.littleEndian
        withUnsafeBytes(of: &b) { raw.append(contentsOf: $0) }
      }
      initializers.append(tensor(stored, .float16, shape, raw: raw))
      var c = Onnx_NodeProto()
      c.opType = "Cast"
      c.input = [stored]
      c.output = [n]
      c.name = n
      c.attribute = [Self.attr("to", int: Int(OnnxType.float.rawValue))]
      nodes.append(c)
    } else {
      var raw = Data(capacity: values.count * 4)
      for v in values {
        var b = v.bitPattern.littleEndian
        withUnsafeBytes(of: &b) { raw.append(contentsOf: $0) }
      }
      initializers.append(tensor(n, .float, shape, raw: raw))
    }
    return n
  }

  /// A `[in, out]` weight for `MatMul` from a PyTorch `[out, in]` Linear weight.
  func transposedWeight(_ name: String, rows: Int, cols: Int, values: [Float]) -> String {
    var t = [Float](repeating: 0, count: values.count)
    for r in 0..<rows {
      for c in 0..<cols { t[c * rows + r] = values[r * cols + c] }
    }
    return weight(name, shape: [cols, rows], values: t)
  }

  /// An fp32 constant (never converted to fp16), shared by value.
  func floatConstant(_ v: Float, shape: [Int] = []) -> String {
    let key = "f:\(v.bitPattern):\(shape)"
    if let n = constants[key] { return n }
    let n = fresh("const_f\(constants.count)")
    var b = v.bitPattern.littleEndian
    initializers.append(tensor(n, .float, shape, raw: withUnsafeBytes(of: &b) { Data($0) }))
    constants[key] = n
    return n
  }

  /// An int64 constant (a scalar when `shape` is empty).
  func int64Constant(_ values: [Int64], shape: [Int]? = nil) -> String {
    let s = shape ?? [values.count]
    let key = "i:\(values):\(s)"
    if let n = constants[key] { return n }
    let n = fresh("const_i\(constants.count)")
    var raw = Data()
    for v in values {
      var b = v.littleEndian
      withUnsafeBytes(of: &b) { raw.append(contentsOf: $0) }
    }
    initializers.append(tensor(n, .int64, s, raw: raw))
    constants[key] = n
    return n
  }

  /// A uint64 scalar constant.
  func uint64Constant(_ v: UInt64) -> String {
    let key = "u:\(v)"
    if let n = constants[key] { return n }
    let n = fresh("const_u\(constants.count)")
    var b = v.littleEndian
    initializers.append(tensor(n, .uint64, [], raw: withUnsafeBytes(of: &b) { Data($0) }))
    constants[key] = n
    return n
  }

  // MARK: Common subgraphs

  /// `x · W + b` for a PyTorch Linear (`weight` `[out, in]`).
  func linear(_ x: String, name: String, weight w: [Float], bias: [Float], inputs: Int, outputs: Int) -> String {
    let wt = transposedWeight(name + ".weight", rows: outputs, cols: inputs, values: w)
    let b = weight(name + ".bias", shape: [outputs], values: bias)
    let m = node("MatMul", [x, wt], out: name + "/matmul")
    return node("Add", [m, b], out: name + "/out")
  }

  /// The finished model.
  func model(name: String, opset: Int, metadata: [(String, String)], doc: String) -> Onnx_ModelProto {
    var g = Onnx_GraphProto()
    g.name = name
    g.node = nodes
    g.initializer = initializers
    g.input = inputs
    g.output = outputs
    g.docString = doc
    var m = Onnx_ModelProto()
    m.irVersion = 8
    m.producerName = "kd"
    m.producerVersion = "kd-export-1"
    m.docString = doc
    var op = Onnx_OperatorSetIdProto()
    op.domain = ""
    op.version = Int64(opset)
    m.opsetImport = [op]
    m.graph = g
    m.metadataProps = metadata.map { k, v in
      var e = Onnx_StringStringEntryProto()
      e.key = k
      e.value = v
      return e
    }
    return m
  }
}
