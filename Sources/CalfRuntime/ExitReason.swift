import CalfControl

/// Why a process ended, as seen by the processes linked to or monitoring it.
///
/// Erlang's meanings: `normal` and `shutdown` are orderly; `normal` exit
/// signals do not kill linked processes. `killed` is the reason of a process
/// ended by `kill`, which cannot be trapped. `error` carries what a handler threw.
public enum ExitReason: Sendable, CustomStringConvertible {
    /// The process finished its work.
    case normal
    /// The process was asked to stop by its supervisor or the node.
    case shutdown
    /// The process was killed (`kill` cannot be trapped).
    case killed
    /// The process did not exist when linked to or monitored (Erlang's `noproc`).
    case noProcess
    /// The process crashed with this error.
    case error(any Error)

    /// True for `normal`: the one reason that does not take linked processes down.
    public var isNormal: Bool {
        if case .normal = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .normal: "normal"
        case .shutdown: "shutdown"
        case .killed: "killed"
        case .noProcess: "noproc"
        case .error(let error): "error(\(String(reflecting: error)))"
        }
    }
}

extension ExitReason: Equatable {
    /// Reasons are equal when they have the same case; errors compare by their printed form.
    public static func == (lhs: ExitReason, rhs: ExitReason) -> Bool {
        lhs.description == rhs.description
    }
}

/// A process exit reason that a handler can throw to stop with a given reason,
/// as Erlang's `exit(Reason)`.
public struct Exit: Error, Sendable {
    /// The reason the process exits with.
    public let reason: ExitReason
    /// Makes the error that ends the process with `reason`.
    public init(_ reason: ExitReason) { self.reason = reason }
}
