import CalfLoop
import Synchronization
import CalfControl

/// Why a `call` did not return a reply.
public enum CallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No reply came within the timeout.
    case timeout(Duration)
    /// The process did not exist (dead pid or unknown name).
    case noProcess(String)
    /// The process exited before it replied.
    case exited(ExitReason)
    /// A reply came but was not of the type the caller asked for.
    case unexpectedReply(expected: String, got: String)
    /// A durable process's journal did not accept the call's message.
    case notAccepted(IngressRefusal)
    /// The process's bounded mailbox was full (`MailboxLimit`): the call was not queued.
    case mailboxFull(String)

    public var description: String {
        switch self {
        case .timeout(let d): "no reply within \(d)"
        case .noProcess(let who): "no such process: \(who)"
        case .exited(let reason): "process exited before replying: \(reason)"
        case .unexpectedReply(let expected, let got): "reply of type \(got), expected \(expected)"
        case .notAccepted(let reason): "the message was not accepted: \(reason)"
        case .mailboxFull(let who): "the mailbox of \(who) is full"
        }
    }
}

/// The one-shot place a call's reply goes to: the first of reply, timeout
/// or the callee's exit wins, the others are ignored.
///
/// Thread-safe: `complete` may be called from any thread; the `done` flag
/// decides the winner and the completion closure is immutable.
@usableFromInline
package final class ReplySlot: Sendable {
    private let done = Atomic<Bool>(false)
    private let completion: @Sendable (Result<any Sendable, CallError>) -> Void

    package init(_ completion: @escaping @Sendable (Result<any Sendable, CallError>) -> Void) {
        self.completion = completion
    }

    /// Completes the call if nothing completed it yet; returns whether this call won.
    @discardableResult
    @usableFromInline package func complete(_ result: Result<any Sendable, CallError>) -> Bool {
        guard done.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return false
        }
        completion(result)
        return true
    }

    package var isCompleted: Bool { done.load(ordering: .acquiring) }
}

/// A reply owed to a caller, taken from a context to answer later (gen_server's `noreply`).
public struct PendingReply: Sendable {
    package let slot: ReplySlot

    /// Sends `value` as the reply; later replies to the same call are ignored.
    public func reply(_ value: some Sendable) {
        // Answered in a turn: what the turn sent goes first (the caller may act on the reply at once).
        (EventLoop.currentDriver as? Scheduler)?.flushOutgoing()
        slot.complete(.success(value))
    }
}
