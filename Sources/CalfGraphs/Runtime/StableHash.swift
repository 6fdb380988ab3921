/// A 64-bit FNV-1a digest that is the same in every run and on every
/// machine (Swift's `Hasher` is seeded per process): for digests kept in
/// the journal and compared after a restart. Not for security.
public struct StableHash: Sendable {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325

    /// An empty digest.
    public init() {}

    /// Adds `bytes`.
    public mutating func add(bytes: some Sequence<UInt8>) {
        for byte in bytes {
            state ^= UInt64(byte)
            state &*= 0x0000_0100_0000_01b3
        }
    }

    /// Adds `text` and a separator (so that "ab","c" and "a","bc" differ).
    public mutating func add(_ text: String) {
        add(bytes: text.utf8)
        add(bytes: CollectionOfOne(0))
    }

    /// Adds `value`'s eight bytes.
    public mutating func add(_ value: UInt64) {
        add(bytes: (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) })
    }

    /// The digest.
    public var value: UInt64 { state }

    /// The digest as 16 hex digits.
    public var hex: String {
        let digits = String(state, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
