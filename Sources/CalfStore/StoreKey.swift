/// Keys in big-endian byte order, so that LMDB's byte-wise order is the
/// numeric order: `StoreKey(seq)`, `StoreKey(pid, seq)`.
public struct StoreKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The key's bytes.
    public private(set) var bytes: [UInt8]

    /// An empty key, to append parts to.
    public init() { bytes = [] }

    /// The key made of `value` in big-endian order.
    public init(_ value: UInt64) {
        bytes = []
        bytes.reserveCapacity(8)
        append(value)
    }

    /// The key made of `a` then `b`, each big-endian.
    public init(_ a: UInt64, _ b: UInt64) {
        bytes = []
        bytes.reserveCapacity(16)
        append(a)
        append(b)
    }

    /// The key of the UTF-8 bytes of `string` (for names).
    public init(_ string: String) { bytes = Array(string.utf8) }

    /// A key of these raw bytes.
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Appends `value` in big-endian order.
    public mutating func append(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends raw bytes.
    public mutating func append(contentsOf other: some Sequence<UInt8>) { bytes.append(contentsOf: other) }

    /// The big-endian `UInt64` at byte `offset` of `buffer`, or nil if it is too short.
    public static func uint64(in buffer: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt64? {
        guard offset >= 0, buffer.count >= offset + 8 else { return nil }
        return UInt64(bigEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// The big-endian `UInt64` at byte `offset` of this key, or nil if it is too short.
    public func uint64(at offset: Int = 0) -> UInt64? {
        bytes.withUnsafeBytes { StoreKey.uint64(in: $0, at: offset) }
    }

    public static func < (lhs: StoreKey, rhs: StoreKey) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    /// The bytes in hexadecimal.
    public var description: String {
        let digits = Array("0123456789abcdef")
        var text = ""
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return text
    }
}
