/// Writes a record as a sequence of fields: varints, fixed 8-byte words,
/// length-prefixed byte strings. The layout of journal details and
/// checkpoints, read back with `ByteReader`.
public struct ByteWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty writer.
    public init() {}

    /// Appends `value` as a varint.
    public mutating func varint(_ value: UInt64) { Varint.append(value, to: &bytes) }

    /// Appends `value` as 8 little-endian bytes.
    public mutating func word(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends a length-prefixed byte string.
    public mutating func field(_ value: some Collection<UInt8>) {
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// Appends a length-prefixed UTF-8 string.
    public mutating func string(_ value: String) { field(value.utf8) }

    /// Appends an optional string (a flag byte, then the string).
    public mutating func optionalString(_ value: String?) {
        if let value {
            bytes.append(1)
            string(value)
        } else {
            bytes.append(0)
        }
    }

    /// Appends `value` as is, with no length: only as the last field.
    public mutating func rest(_ value: some Collection<UInt8>) { bytes.append(contentsOf: value) }
}

/// Reads the fields `ByteWriter` wrote; every read checks the bounds and
/// throws `LogRecordError` (never traps) on bytes that do not fit.
public struct ByteReader {
    private let buffer: UnsafeRawBufferPointer
    private var offset: Int
    private let what: String

    /// Reads `buffer` from `offset`; `what` names the record in errors.
    public init(_ buffer: UnsafeRawBufferPointer, from offset: Int = 0, what: String) {
        self.buffer = buffer
        self.offset = offset
        self.what = what
    }

    /// Whether every byte was read.
    public var isAtEnd: Bool { offset >= buffer.count }

    private func fail(_ reason: String) -> LogRecordError {
        LogRecordError(seq: nil, reason: "\(what): \(reason)")
    }

    /// Reads a varint.
    public mutating func varint(_ field: String) throws(LogRecordError) -> UInt64 {
        guard let value = Varint.read(buffer, at: &offset, end: buffer.count) else { throw fail("truncated \(field)") }
        return value
    }

    /// Reads 8 little-endian bytes.
    public mutating func word(_ field: String) throws(LogRecordError) -> UInt64 {
        guard buffer.count - offset >= 8 else { throw fail("truncated \(field)") }
        defer { offset += 8 }
        return UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Reads a length-prefixed byte string.
    public mutating func field(_ field: String) throws(LogRecordError) -> [UInt8] {
        let length = try varint("length of \(field)")
        guard length <= UInt64(buffer.count - offset) else { throw fail("\(field) runs past the end") }
        defer { offset += Int(length) }
        return Array(buffer[offset..<(offset + Int(length))])
    }

    /// Reads a length-prefixed UTF-8 string.
    public mutating func string(_ field: String) throws(LogRecordError) -> String {
        let bytes = try self.field(field)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw fail("\(field) is not UTF-8") }
        return text
    }

    /// Reads an optional string.
    public mutating func optionalString(_ field: String) throws(LogRecordError) -> String? {
        guard offset < buffer.count else { throw fail("truncated \(field)") }
        let flag = buffer[offset]
        offset += 1
        switch flag {
        case 0: return nil
        case 1: return try string(field)
        default: throw fail("bad flag \(flag) before \(field)")
        }
    }

    /// Reads every byte left.
    public mutating func rest() -> [UInt8] {
        defer { offset = buffer.count }
        return Array(buffer[min(offset, buffer.count)...])
    }
}
