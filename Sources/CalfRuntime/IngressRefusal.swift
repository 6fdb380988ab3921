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
        }
    }
}
