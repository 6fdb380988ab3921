import Glibc
import CalfControl

/// A point in wall-clock time, in nanoseconds since the Unix epoch: what a
/// durable handler sees as "now" (the accepted-at time of the message it
/// handles, read from the journal, so replay sees the same).
public struct WallTime: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since 1970-01-01 00:00:00 UTC.
    public var nanosecondsSinceEpoch: UInt64

    /// The time `nanosecondsSinceEpoch` after the epoch.
    public init(nanosecondsSinceEpoch: UInt64) { self.nanosecondsSinceEpoch = nanosecondsSinceEpoch }

    /// The system's wall clock now (not for use inside durable handlers).
    public static var now: WallTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return WallTime(nanosecondsSinceEpoch: UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec))
    }

    /// Seconds since the epoch, with a fraction.
    public var secondsSinceEpoch: Double { Double(nanosecondsSinceEpoch) / 1e9 }

    /// `time` moved on by `duration` (a negative duration counts as zero;
    /// the sum saturates at the last representable time, never wraps).
    public static func + (time: WallTime, duration: Duration) -> WallTime {
        let (sum, overflow) = time.nanosecondsSinceEpoch.addingReportingOverflow(duration.nanoseconds)
        return WallTime(nanosecondsSinceEpoch: overflow ? .max : sum)
    }

    /// The duration from `rhs` to `lhs`.
    public static func - (lhs: WallTime, rhs: WallTime) -> Duration {
        .nanoseconds(Int64(bitPattern: lhs.nanosecondsSinceEpoch &- rhs.nanosecondsSinceEpoch))
    }

    /// Earlier times are smaller.
    public static func < (lhs: WallTime, rhs: WallTime) -> Bool { lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch }

    public var description: String { "\(secondsSinceEpoch)s since the epoch" }
}

/// A random number generator seeded from the journal (the process's pid and
/// the seq of the message being handled), so replay draws the same numbers
/// (SplitMix64).
public struct JournalRandom: RandomNumberGenerator, Sendable {
    @usableFromInline package var state: UInt64

    @inlinable package init(pid: Pid, seq: UInt64) {
        state = pid.serial &* 0x9E37_79B9_7F4A_7C15 ^ seq
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// FNV-1a over a handler's outputs: stable across runs and machines (unlike
/// `Hasher`, which is seeded per process), so a journaled digest can be
/// compared by a later replay.
@usableFromInline
package struct OutputDigest {
    @usableFromInline package private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    @inlinable package init() {}

    @inlinable package mutating func add(byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }

    @inlinable package mutating func add(_ word: UInt64) {
        var w = word
        for _ in 0..<8 {
            add(byte: UInt8(truncatingIfNeeded: w))
            w >>= 8
        }
    }

    @inlinable package mutating func add(bytes: some Sequence<UInt8>) {
        for byte in bytes { add(byte: byte) }
    }
}

extension WallTime: Codable {
    /// Reads nanoseconds since the epoch.
    public init(from decoder: any Decoder) throws {
        nanosecondsSinceEpoch = try decoder.singleValueContainer().decode(UInt64.self)
    }

    /// Writes nanoseconds since the epoch.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(nanosecondsSinceEpoch)
    }
}
