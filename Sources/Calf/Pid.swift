/// A process's address in its printed, comparable form: `<0.42>`.
///
/// The first number names the node (0 is the local node); the second is the
/// process's serial number, unique for the node's lifetime and never reused.
/// A durable process keeps its pid across restarts.
public struct Pid: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The serial number of the process within its node.
    public let serial: UInt64

    /// Makes the pid with a given serial number.
    public init(serial: UInt64) { self.serial = serial }

    /// Parses the printed form `<0.N>`; `nil` for anything else.
    public init?(parsing text: some StringProtocol) {
        guard text.hasPrefix("<0."), text.hasSuffix(">") else { return nil }
        let digits = text.dropFirst(3).dropLast()
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let serial = UInt64(digits) else { return nil }
        self.serial = serial
    }

    public var description: String { "<0.\(serial)>" }

    public static func < (lhs: Pid, rhs: Pid) -> Bool { lhs.serial < rhs.serial }
}
