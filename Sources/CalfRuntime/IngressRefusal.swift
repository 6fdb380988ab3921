import CalfControl

/// Why a process's intake (`MailboxCell.intake`: a durable process's
/// journal) did not accept a message from outside: nothing was written, it
/// will not be handled.
public enum IngressRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// The node is stopping or stopped.
    case stopped
    /// The journal could not commit it.
    case storeFailed(String)
    /// It is not a message the process's behavior takes (or cannot be written): why.
    case badMessage(String)
    /// The process is not durable: it takes no messages from outside through the journal.
    case notDurable(Pid)
    /// The node has no data directory.
    case notDurableNode
    /// No durable process has that name or pid.
    case noProcess(String)
    /// The process is quarantined, and why.
    case quarantined(Pid, String)
    /// A call's message had an idempotency key accepted before.
    case duplicateCall(seq: UInt64)
    /// No dead letter has that id.
    case noDeadLetter(UInt64)
    /// Too much waits already (`why`: the process's mail from outside not
    /// yet handled, or the journal writer's queue): nothing was written;
    /// the sender may try again after `retryAfter`.
    case overloaded(why: String, retryAfter: Duration)

    public var description: String {
        switch self {
        case .stopped: "the node is stopped"
        case .storeFailed(let reason): reason
        case .badMessage(let reason): reason
        case .notDurable(let pid): "\(pid) is not a durable process: it takes no messages through the journal (nor idempotency keys)"
        case .notDurableNode: "this node has no data directory (start it with DurableOptions)"
        case .noProcess(let target): "no durable process \(target)"
        case .quarantined(let pid, let reason): "\(pid) is quarantined: \(reason)"
        case .duplicateCall(let seq): "a call with an idempotency key accepted before (at seq \(seq))"
        case .noDeadLetter(let id): "no dead letter \(id)"
        case .overloaded(let why, let retryAfter): "overloaded: \(why); nothing was written, try again in \(retryAfter.formattedSeconds)"
        }
    }
}

extension Duration {
    /// `1.5 s`, `250 ms`: for a person.
    package var formattedSeconds: String {
        let milliseconds = Int64(components.seconds) * 1000 + Int64(components.attoseconds / 1_000_000_000_000_000)
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000) s" }
        return "\(Double(milliseconds) / 1000) s"
    }

    /// Whole milliseconds, rounded up (at least 1 for a positive duration).
    package var wholeMillisecondsRoundedUp: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    }
}
