import CCRC32C

/// CRC-32C checksums of what the journal stores: LMDB keeps none, so a
/// flipped bit on the disk would otherwise decode silently into a wrong
/// state. Each checksum covers the key too, so a value found under another
/// key than the one it was written under fails as well.
public enum Checksum {
    /// The size of a stored checksum (little-endian, after the value).
    public static let size = 4

    /// The CRC-32C of `bytes`, continuing from `crc` (0 to start).
    @inlinable
    public static func crc32c(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        calf_crc32c(crc, bytes.baseAddress, bytes.count)
    }

    /// The CRC-32C of `bytes`, continuing from `crc` (0 to start).
    public static func crc32c(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { crc32c($0, continuing: crc) }
    }

    /// The CRC-32C of `bytes` computed by the table alone (to check the
    /// CPU instruction's path against).
    public static func crc32cByTable(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { calf_crc32c_table(crc, $0.baseAddress, $0.count) }
    }

    /// Whether the CPU's CRC32 instruction computes it here (else a table does).
    public static var isHardware: Bool { calf_crc32c_is_hardware() != 0 }

    /// The checksum the journal stores for `value` under `key`.
    @inlinable
    public static func of(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> UInt32 {
        calf_crc32c_pair(key.baseAddress, key.count, value.baseAddress, value.count)
    }

    /// Writes `crc` little-endian at `offset` of `buffer`.
    @inlinable
    static func store(_ crc: UInt32, in buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        buffer.storeBytes(of: crc.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// Splits `stored` (a value with its checksum after it) into the value,
    /// or the reason it does not match `key`.
    static func verify(_ stored: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer) -> Result<UnsafeRawBufferPointer, ChecksumError> {
        guard stored.count >= size else { return .failure(ChecksumError(stored: nil, computed: nil, length: stored.count)) }
        let value = UnsafeRawBufferPointer(rebasing: stored[..<(stored.count - size)])
        let recorded = UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: value.count, as: UInt32.self))
        let computed = of(key: key, value: value)
        guard recorded == computed else { return .failure(ChecksumError(stored: recorded, computed: computed, length: stored.count)) }
        return .success(value)
    }
}

/// A stored value whose checksum does not match its bytes: the disk (or
/// something writing to the data directory behind the node's back) changed it.
public struct ChecksumError: Error, Equatable, CustomStringConvertible {
    /// The checksum stored with the value (nil: the value is too short to hold one).
    public var stored: UInt32?
    /// The checksum of the bytes found.
    public var computed: UInt32?
    /// The stored length, checksum included.
    public var length: Int

    public var description: String {
        guard let stored, let computed else { return "\(length) bytes, too short to hold its checksum" }
        return "checksum mismatch (stored \(hex(stored)), computed \(hex(computed)) over \(length - Checksum.size) bytes)"
    }

    private func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// A snapshot or ledger record whose checksum does not match.
public struct StoredValueError: Error, Equatable, CustomStringConvertible {
    /// The database it was read from.
    public var database: String
    /// The key it was read under.
    public var key: [UInt8]
    /// How the checksum failed.
    public var mismatch: ChecksumError

    public var description: String { "the \(database) record under key \(StoreKey(bytes: key)) is corrupt: \(mismatch)" }
}
