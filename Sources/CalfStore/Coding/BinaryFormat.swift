/// The compact binary format `BinaryEncoder` writes and `BinaryDecoder`
/// reads: the journal's encoding of `Codable` messages and states (JSON is
/// for people; Foundation's coders are too slow for the log, see PERF-NOTES).
///
/// A document is one version byte (`BinaryFormat.version`) and a value:
/// - integers: unsigned LEB128 varints; signed ones zigzag-mapped first;
/// - `Bool`: one byte, 0 or 1; `Float`/`Double`: their IEEE bits, little-endian;
/// - `String`: its UTF-8 bytes (the enclosing entry gives the length);
/// - keyed container: a varint count, then per entry a varint key length,
///   the key's UTF-8, and the entry's value;
/// - unkeyed container: a varint count, then the entries' values;
/// - an entry's value: a varint `length + 1` and the bytes, or 0 for nil.
public enum BinaryFormat {
    /// The format version written first in every document.
    public static let version: UInt8 = 1
}

/// Why bytes could not be decoded as the requested type.
public struct BinaryDecodingError: Error, Equatable, CustomStringConvertible {
    /// What was wrong.
    public let reason: String
    /// The coding path where it was found, dot-separated.
    public let path: String

    /// An error at `path` for `reason`.
    public init(_ reason: String, path: [any CodingKey]) {
        self.reason = reason
        self.path = path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    public var description: String { path.isEmpty ? reason : "\(reason) at \(path)" }
}

/// Varint and zigzag helpers shared by the encoder and decoder.
enum Varint {
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    static func size(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    static func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }

    /// Reads a varint at `offset` of `bytes`, advancing `offset`; nil if truncated or over 64 bits.
    static func read(_ bytes: UnsafeRawBufferPointer, at offset: inout Int, end: Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while offset < end {
            let byte = bytes[offset]
            offset += 1
            if shift == 63, byte > 1 { return nil }
            result |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }
}
