/// Writes a record as a sequence of fields: varints, fixed 8-byte words,
/// length-prefixed byte strings. The layout of journal details and
/// checkpoints, read back with `ByteReader`.
public struct ByteWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty writer.
    public init() {}

    /// Appends one byte (a case tag, say).
    public mutating func byte(_ value: UInt8) { bytes.append(value) }

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

    /// Appends a signed integer as a zigzag varint (small magnitudes take one byte).
    public mutating func int(_ value: Int) { varint(Varint.zigzag(Int64(value))) }

    /// Appends a signed 64-bit integer as a zigzag varint.
    public mutating func int64(_ value: Int64) { varint(Varint.zigzag(value)) }

    /// Appends a flag byte, 0 or 1.
    public mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    /// Appends a `Double` as its 8 IEEE bytes.
    public mutating func double(_ value: Double) { word(value.bitPattern) }

    /// Exchanges the writer's bytes with `other` (no copy): a writer that
    /// appends to a buffer someone else owns takes it and gives it back.
    mutating func exchangeBytes(with other: inout [UInt8]) { swap(&bytes, &other) }
}

/// Reads the fields `ByteWriter` wrote; every read checks the bounds and
/// throws `LogRecordError` (never traps) on bytes that do not fit.
public struct ByteReader {
    private let buffer: UnsafeRawBufferPointer
    private var offset: Int
    private let what: String
    /// The process whose record this is, named in errors after `what`.
    private let process: UInt64?

    /// Reads `buffer` from `offset`; `what` names the record in errors.
    public init(_ buffer: UnsafeRawBufferPointer, from offset: Int = 0, what: String) {
        self.buffer = buffer
        self.offset = offset
        self.what = what
        process = nil
    }

    /// Reads `buffer`, a record of process `pid` (serial): errors name it
    /// "`what` of process <pid>", composed only for an error (a node start
    /// reads a million snapshots, and an interpolation per record was 2 %
    /// of bringing them back).
    public init(_ buffer: UnsafeRawBufferPointer, from offset: Int = 0, what: String, ofProcess pid: UInt64) {
        self.buffer = buffer
        self.offset = offset
        self.what = what
        process = pid
    }

    /// Whether every byte was read.
    public var isAtEnd: Bool { offset >= buffer.count }

    private func fail(_ reason: String) -> LogRecordError {
        LogRecordError(seq: nil, reason: process.map { "\(what) of process \($0): \(reason)" } ?? "\(what): \(reason)")
    }

    /// Reads the length before a field; the field's name is put together only for an error.
    private mutating func length(of field: String) throws(LogRecordError) -> UInt64 {
        guard let value = Varint.read(buffer, at: &offset, end: buffer.count) else { throw fail("truncated length of \(field)") }
        return value
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
        let length = try length(of: field)
        guard length <= UInt64(buffer.count - offset) else { throw fail("\(field) runs past the end") }
        defer { offset += Int(length) }
        return Array(buffer[offset..<(offset + Int(length))])
    }

    /// Skips a length-prefixed byte string.
    public mutating func skipField(_ field: String) throws(LogRecordError) {
        let length = try length(of: field)
        guard length <= UInt64(buffer.count - offset) else { throw fail("\(field) runs past the end") }
        offset += Int(length)
    }

    /// Reads a length-prefixed UTF-8 string.
    public mutating func string(_ field: String) throws(LogRecordError) -> String {
        let length = try length(of: field)
        guard length <= UInt64(buffer.count - offset) else { throw fail("\(field) runs past the end") }
        defer { offset += Int(length) }
        // Straight from the buffer (no array in between: a node start reads a million of these).
        guard let text = String(validating: UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + Int(length))]), as: UTF8.self) else {
            throw fail("\(field) is not UTF-8")
        }
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

    /// Reads one byte.
    public mutating func byte(_ field: String) throws(LogRecordError) -> UInt8 {
        guard offset < buffer.count else { throw fail("truncated \(field)") }
        defer { offset += 1 }
        return buffer[offset]
    }

    /// Reads a zigzag varint as an `Int`.
    public mutating func int(_ field: String) throws(LogRecordError) -> Int {
        let value = Varint.unzigzag(try varint(field))
        guard let narrowed = Int(exactly: value) else { throw fail("\(field) \(value) does not fit an Int") }
        return narrowed
    }

    /// Reads a zigzag varint as an `Int64`.
    public mutating func int64(_ field: String) throws(LogRecordError) -> Int64 { Varint.unzigzag(try varint(field)) }

    /// Reads a flag byte.
    public mutating func bool(_ field: String) throws(LogRecordError) -> Bool {
        switch try byte(field) {
        case 0: return false
        case 1: return true
        case let flag: throw fail("bad flag \(flag) for \(field)")
        }
    }

    /// Reads a `Double` from its 8 IEEE bytes.
    public mutating func double(_ field: String) throws(LogRecordError) -> Double { Double(bitPattern: try word(field)) }

    /// An error about `field` of this record, for a value that reads but makes no sense (an unknown case, say).
    public func error(_ reason: String) -> LogRecordError { fail(reason) }

    /// The bytes left to read.
    public var remaining: Int { max(0, buffer.count - offset) }

    /// Reads every byte left.
    public mutating func rest() -> [UInt8] {
        defer { offset = buffer.count }
        return Array(buffer[min(offset, buffer.count)...])
    }
}
