import Foundation
import KDCore

/// The element types a safetensors file may store.
///
/// Floating-point types convert to `Float` on read; integer types are
/// tolerated (HF checkpoints carry an int64 `position_ids` buffer) but cannot
/// be read as floats.
public enum SafetensorsDType: String, Sendable, CaseIterable {
  case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
  case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

  /// Bytes per element.
  public var byteCount: Int {
    switch self {
    case .f64, .i64: return 8
    case .f32, .i32: return 4
    case .f16, .bf16, .i16: return 2
    case .i8, .u8, .bool: return 1
    }
  }

  /// Whether `SafetensorsFile.floats(_:)` can convert this type.
  public var isFloatingPoint: Bool {
    switch self {
    case .f64, .f32, .f16, .bf16: return true
    default: return false
    }
  }
}

/// One tensor's entry in a safetensors header.
public struct SafetensorsTensorInfo: Sendable, Equatable {
  public var name: String
  public var dtype: SafetensorsDType
  public var shape: [Int]
  /// Byte range inside the data section (after the header).
  public var dataRange: Range<Int>

  /// Number of elements (the product of `shape`; 1 for a scalar).
  public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped safetensors file: header parsed and validated at open,
/// tensors converted to `Float` on demand.
///
/// Format: an 8-byte little-endian header length `n`, `n` bytes of JSON
/// (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`),
/// then the raw little-endian data. Spec:
/// <https://github.com/huggingface/safetensors#format>.
///
/// Every check names the file and the tensor: a truncated file, a header that
/// is not JSON, offsets past the end of the file, or a byte size that
/// disagrees with dtype × shape all throw `KDError(.model)`.
public final class SafetensorsFile: @unchecked Sendable {
  /// Path the file was opened from (used in error messages).
  public let path: String
  /// Tensors by name, in header order of appearance is not preserved.
  public let tensors: [String: SafetensorsTensorInfo]
  /// The `__metadata__` string map, empty when absent.
  public let metadata: [String: String]
  /// Total file size in bytes.
  public let fileSize: Int
  /// Bytes before the data section (8 + header length).
  public let headerSize: Int

  private let base: UnsafeMutableRawPointer?
  private let mappedLength: Int

  /// Maps `path` read-only and validates its header.
  /// - Throws: `KDError(.io)` when the file cannot be opened or mapped,
  ///   `KDError(.model)` when it is not a valid safetensors file.
  public init(path: String) throws {
    self.path = path
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else {
      throw KDError(.io, "cannot open safetensors file: \(String(cString: strerror(errno)))", file: path)
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
      throw KDError(.io, "cannot stat: \(String(cString: strerror(errno)))", file: path)
    }
    let size = Int(st.st_size)
    fileSize = size
    guard size >= 8 else {
      throw KDError(.model, "file is \(size) bytes: too short for a safetensors header (truncated?)", file: path)
    }
    guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
      throw KDError(.io, "cannot mmap: \(String(cString: strerror(errno)))", file: path)
    }
    base = p
    mappedLength = size
    do {
      let n = p.loadUnaligned(as: UInt64.self).littleEndian
      guard n <= UInt64(size - 8), n <= 100_000_000 else {
        throw KDError(.model, "header length \(n) exceeds the file size \(size) (truncated or not safetensors)", file: path)
      }
      headerSize = 8 + Int(n)
      let headerData = Data(bytes: p + 8, count: Int(n))
      let parsed: Any
      do {
        parsed = try JSONSerialization.jsonObject(with: headerData)
      } catch {
        throw KDError(.model, "header is not valid JSON (\(error.localizedDescription))", file: path)
      }
      guard let dict = parsed as? [String: Any] else {
        throw KDError(.model, "header is not a JSON object", file: path)
      }
      let dataSize = size - headerSize
      var infos: [String: SafetensorsTensorInfo] = [:]
      var meta: [String: String] = [:]
      for (name, value) in dict {
        if name == "__metadata__" {
          if let m = value as? [String: Any] {
            for (k, v) in m { meta[k] = (v as? String) ?? "\(v)" }
          }
          continue
        }
        guard let entry = value as? [String: Any] else {
          throw KDError(.model, "header entry is not an object", file: path, field: name)
        }
        guard let dt = entry["dtype"] as? String else {
          throw KDError(.model, "missing dtype", file: path, field: name)
        }
        guard let dtype = SafetensorsDType(rawValue: dt) else {
          throw KDError(.unsupported, "unsupported dtype \(dt)", file: path, field: name)
        }
        guard let shapeAny = entry["shape"] as? [Any] else {
          throw KDError(.model, "missing shape", file: path, field: name)
        }
        var shape: [Int] = []
        for s in shapeAny {
          guard let v = (s as? NSNumber)?.intValue, v >= 0 else {
            throw KDError(.model, "shape \(shapeAny) has a non-integer or negative dimension", file: path, field: name)
          }
          shape.append(v)
        }
        guard let offsAny = entry["data_offsets"] as? [Any], offsAny.count == 2,
              let b = (offsAny[0] as? NSNumber)?.intValue, let e = (offsAny[1] as? NSNumber)?.intValue,
              b >= 0, e >= b
        else {
          throw KDError(.model, "data_offsets missing or not [begin, end]", file: path, field: name)
        }
        guard e <= dataSize else {
          throw KDError(.model, "data_offsets [\(b), \(e)] run past the end of the data (\(dataSize) bytes): file truncated", file: path, field: name)
        }
        let info = SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataRange: b..<e)
        guard info.elementCount * dtype.byteCount == e - b else {
          throw KDError(.model, "\(e - b) bytes do not match dtype \(dt) × shape \(shape)", file: path, field: name)
        }
        infos[name] = info
      }
      tensors = infos
      metadata = meta
    } catch {
      munmap(p, size)
      throw error
    }
  }

  deinit {
    if let base { munmap(base, mappedLength) }
  }

  /// Raw bytes of the whole file (valid while `self` lives).
  /// - warning: Do not escape the pointer from the closure.
  public func withFileBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try body(UnsafeRawBufferPointer(start: base, count: mappedLength))
  }

  /// Looks up a tensor, optionally checking its shape.
  /// - Throws: `KDError(.model)` naming the file and tensor when it is missing
  ///   or its shape differs from `shape`.
  public func info(_ name: String, shape: [Int]? = nil) throws -> SafetensorsTensorInfo {
    guard let t = tensors[name] else {
      throw KDError(.model, "tensor is missing", file: path, field: name)
    }
    if let shape, t.shape != shape {
      throw KDError(.model, "shape \(t.shape) contradicts the config (expected \(shape))", file: path, field: name)
    }
    return t
  }

  /// Reads a floating-point tensor as `Float` (fp64/fp16/bf16 converted).
  /// - Parameter shape: when given, the tensor must have exactly this shape.
  public func floats(_ name: String, shape: [Int]? = nil) throws -> [Float] {
    let t = try info(name, shape: shape)
    var out = [Float](repeating: 0, count: t.elementCount)
    guard t.elementCount > 0 else { return out }  // an empty buffer has no base address
    try out.withUnsafeMutableBufferPointer { dst in
      guard let base = dst.baseAddress else { return }
      try readRows(t, from: 0, count: t.elementCount, into: base)
    }
    return out
  }

  /// Converts `count` elements starting at element `from` of tensor `t` into `dst`.
  ///
  /// Used for gathers (embedding rows) without materialising the whole tensor.
  /// - precondition: `from + count <= t.elementCount` (checked; throws otherwise).
  public func readRows(_ t: SafetensorsTensorInfo, from: Int, count: Int, into dst: UnsafeMutablePointer<Float>) throws {
    guard t.dtype.isFloatingPoint else {
      throw KDError(.model, "dtype \(t.dtype.rawValue) is not a floating-point type", file: path, field: t.name)
    }
    guard from >= 0, count >= 0, from + count <= t.elementCount, base != nil else {
      throw KDError(.internalError, "element range \(from)..<\(from + count) out of bounds", file: path, field: t.name)
    }
    SafetensorsFile.convert(t.dtype, from: rawPointer(t) + from * t.dtype.byteCount, count: count, into: dst)
  }

  /// The first byte of tensor `t`'s data inside the mapping (valid while `self` lives).
  /// - warning: The pointer may be unaligned; read it with `loadUnaligned` or `convert`.
  public func rawPointer(_ t: SafetensorsTensorInfo) -> UnsafeRawPointer {
    UnsafeRawPointer(base!) + headerSize + t.dataRange.lowerBound
  }

  /// Converts `count` stored elements of a floating-point `dtype` at `src` to `Float`.
  /// Integer dtypes write nothing (callers check `isFloatingPoint` first).
  @inlinable
  public static func convert(_ dtype: SafetensorsDType, from src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
    switch dtype {
    case .f32:
      memcpy(dst, src, count * 4)
    case .f64:
      for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
    case .bf16:
      for i in 0..<count {
        let bits = UInt32(src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16
        dst[i] = Float(bitPattern: bits)
      }
    case .f16:
      #if arch(x86_64) || arch(arm64)
      for i in 0..<count {
        dst[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
      }
      #else
      for i in 0..<count { dst[i] = halfToFloat(src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) }
      #endif
    default:
      break
    }
  }
}

/// IEEE half → single, for platforms without `Float16`.
@inlinable
public func halfToFloat(_ h: UInt16) -> Float {
  let sign = UInt32(h & 0x8000) << 16
  let exp = Int((h >> 10) & 0x1f)
  let mant = UInt32(h & 0x3ff)
  if exp == 0 {
    let v = Float(mant) * Float(sign: .plus, exponent: -24, significand: 1)
    return sign != 0 ? -v : v
  }
  if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13)) }
  return Float(bitPattern: sign | (UInt32(exp + 112) << 23) | (mant << 13))
}

/// Writes safetensors files atomically (temp file in the same directory, then rename).
public enum SafetensorsWriter {
  /// One tensor to write: fp32 data, row-major.
  public struct Tensor: Sendable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
    public init(name: String, shape: [Int], values: [Float]) {
      self.name = name
      self.shape = shape
      self.values = values
    }
  }

  /// Writes `tensors` as fp32 to `path`, replacing any file there atomically.
  ///
  /// Tensors are stored in the given order; the header is padded with spaces
  /// to a multiple of 8 bytes so that data is aligned when mapped.
  /// - Throws: `KDError(.usage)` when a shape disagrees with its value count,
  ///   `KDError(.io)` when the file cannot be written.
  public static func write(_ tensors: [Tensor], metadata: [String: String] = [:], to path: String) throws {
    try AtomicFile.write(try encode(tensors, metadata: metadata, file: path), to: path)
  }

  /// The bytes of a safetensors file holding `tensors` as fp32 (see `write`); `file` names the
  /// destination in errors.
  /// - Throws: `KDError(.usage)` when a shape disagrees with its value count or a name repeats.
  public static func encode(_ tensors: [Tensor], metadata: [String: String] = [:], file path: String? = nil) throws -> Data {
    let headerBytes = try header(tensors, metadata: metadata, file: path)
    var out = Data(capacity: headerBytes.count + tensors.reduce(0) { $0 + 4 * $1.values.count })
    out.append(contentsOf: headerBytes)
    for t in tensors {
      #if _endian(little)
        t.values.withUnsafeBytes { out.append(contentsOf: $0) }
      #else
        for v in t.values { var b = v.bitPattern.littleEndian; withUnsafeBytes(of: &b) { out.append(contentsOf: $0) } }
      #endif
    }
    return out
  }

  /// Writes the same bytes as `encode` to an open file descriptor, each tensor straight from its
  /// buffer: a checkpoint never holds a second copy of the weights (or of AdamW's moments) in memory.
  /// - Throws: `KDError(.io)` naming `file` (saying so when the disk is full), or `encode`'s errors.
  public static func write(_ tensors: [Tensor], metadata: [String: String] = [:], toDescriptor fd: Int32, file: String) throws {
    func put(_ p: UnsafeRawBufferPointer) throws {
      var off = 0
      while off < p.count {
        let n = Foundation.write(fd, p.baseAddress! + off, p.count - off)
        if n < 0 {
          if errno == EINTR { continue }
          let full = errno == ENOSPC
          throw KDError(.io, full ? "the disk is full: cannot write \(p.count - off) more bytes" : "cannot write: \(String(cString: strerror(errno)))",
                        file: file)
        }
        off += n
      }
    }
    let headerBytes = try header(tensors, metadata: metadata, file: file)
    try headerBytes.withUnsafeBytes { try put($0) }
    for t in tensors where !t.values.isEmpty {
      #if _endian(little)
        try t.values.withUnsafeBytes { try put($0) }
      #else
        let le = t.values.map { $0.bitPattern.littleEndian }
        try le.withUnsafeBytes { try put($0) }
      #endif
    }
  }

  /// The 8-byte length and the JSON header (padded with spaces to a multiple of 8 bytes).
  static func header(_ tensors: [Tensor], metadata: [String: String], file path: String?) throws -> [UInt8] {
    var header = "{"
    var offset = 0
    var first = true
    if !metadata.isEmpty {
      header += "\"__metadata__\":{"
      header += metadata.keys.sorted().map { "\(JSONText.quote($0)):\(JSONText.quote(metadata[$0] ?? ""))" }.joined(separator: ",")
      header += "}"
      first = false
    }
    var seen = Set<String>()
    for t in tensors {
      guard t.shape.reduce(1, *) == t.values.count else {
        throw KDError(.usage, "shape \(t.shape) does not match \(t.values.count) values", file: path, field: t.name)
      }
      guard seen.insert(t.name).inserted else {
        throw KDError(.usage, "duplicate tensor name", file: path, field: t.name)
      }
      let bytes = t.values.count * 4
      if !first { header += "," }
      first = false
      header += "\(JSONText.quote(t.name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}"
      offset += bytes
    }
    header += "}"
    var headerBytes = Array(header.utf8)
    while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
    var out = [UInt8]()
    out.reserveCapacity(8 + headerBytes.count)
    var n = UInt64(headerBytes.count).littleEndian
    withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
    out.append(contentsOf: headerBytes)
    return out
  }
}

/// Atomic file replacement: write a temp file beside the target, fsync, rename.
public enum AtomicFile {
  /// Writes `data` to `path` so that readers see either the old or the new file.
  /// - Throws: `KDError(.io)` naming the path on failure.
  public static func write(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent().path
    let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else {
      throw KDError(.io, "cannot create temp file: \(String(cString: strerror(errno)))", file: tmp)
    }
    var ok = true
    data.withUnsafeBytes { raw in
      var off = 0
      while off < raw.count {
        let w = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
        if w <= 0 { ok = false; return }
        off += w
      }
    }
    if ok { ok = fsync(fd) == 0 }
    let err = errno
    close(fd)
    guard ok else {
      unlink(tmp)
      throw KDError(.io, "cannot write: \(String(cString: strerror(err)))", file: path)
    }
    guard rename(tmp, path) == 0 else {
      let e = errno
      unlink(tmp)
      throw KDError(.io, "cannot rename temp file into place: \(String(cString: strerror(e)))", file: path)
    }
  }
}
