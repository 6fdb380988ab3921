import CalfControl

/// A process's address in its printed, comparable form: `<0.42>` for a
/// transient process, `<0.1234.0>` for a durable one.
///
/// The first number names the node (0 is the local node). A transient
/// process's serial is unique for the node's lifetime and never reused. A
/// durable process's pid comes from the journal (the seq of the record that
/// spawned it, and the spawn's index within that record's handling), so it
/// is the same after every restart of the process or of the node, and
/// replaying a handler that spawned it finds the same pid again.
public struct Pid: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The serial number of the process within its node.
    public let serial: UInt64

    /// Marks durable serials: `durableFlag | seq << 8 | index`.
    package static let durableFlag: UInt64 = 1 << 62

    /// Makes the pid with a given serial number.
    public init(serial: UInt64) { self.serial = serial }

    /// The pid of a durable process spawned by the record at `seq` (index 0),
    /// or as the `index`-th spawn (1...255) of the handling of the message at `seq`.
    package init(durableSeq seq: UInt64, index: UInt8) {
        serial = Pid.durableFlag | (seq << 8) | UInt64(index)
    }

    /// Whether this is a durable process's pid.
    public var isDurable: Bool { serial & Pid.durableFlag != 0 }

    /// Parses the printed forms `<0.N>` and `<0.N.I>`; `nil` for anything else.
    public init?(parsing text: some StringProtocol) {
        guard text.hasPrefix("<0."), text.hasSuffix(">") else { return nil }
        let parts = text.dropFirst(3).dropLast().split(separator: ".", omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) }) else { return nil }
        switch parts.count {
        case 1:
            guard let serial = UInt64(parts[0]), serial & Pid.durableFlag == 0 else { return nil }
            self = Pid(serial: serial)
        case 2:
            guard let seq = UInt64(parts[0]), seq < 1 << 54, let index = UInt8(parts[1]) else { return nil }
            self = Pid(durableSeq: seq, index: index)
        default:
            return nil
        }
    }

    public var description: String {
        guard isDurable else { return "<0.\(serial)>" }
        return "<0.\((serial & ~Pid.durableFlag) >> 8).\(serial & 0xff)>"
    }

    /// The hash `Dictionary` and `Set` use, without SipHash: a scheduler's
    /// process table and the durable tables are keyed by pid, and hashing
    /// took a fifth of a scheduler's time spawning short-lived processes.
    /// Serials are made by the node (counters and journal seqs), not chosen
    /// by anyone who could aim at collisions, so a multiplicative mix of the
    /// serial and the seed does. It must scatter: serials made one after
    /// another in neighbouring buckets form long runs, and a dictionary's
    /// removal shifts back through the rest of the run (measured: fork-join
    /// creation on two schedulers fell to a third). (`hash(into:)`,
    /// synthesized, still combines the serial for every other hasher.)
    public func _rawHashValue(seed: Int) -> Int {
        let mixed = (serial ^ UInt64(UInt(bitPattern: seed))) &* 0x9E37_79B9_7F4A_7C15
        return Int(truncatingIfNeeded: mixed ^ (mixed >> 29))
    }

    /// Orders pids by serial (durable pids after transient ones).
    public static func < (lhs: Pid, rhs: Pid) -> Bool { lhs.serial < rhs.serial }
}
