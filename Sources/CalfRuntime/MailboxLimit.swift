import Synchronization

/// A bound on a transient process's mailbox: how many messages and calls
/// may wait for it (sent and not yet taken by a turn), and what a send past
/// that does. Like Akka's bounded mailboxes (`BoundedMailbox`), with the
/// choice of who hears about the overflow; unbounded is the default, as in
/// Erlang and Akka.
///
/// Signals (exits, downs) and stops are never refused: a link or a monitor
/// must not be lost to a full mailbox. A durable process is bounded by its
/// own `DurableBehavior.mailboxLimit` instead (mail from outside refused
/// `overloaded`, nothing dropped).
///
/// ```swift
/// struct Sampler: Behavior {
///     var mailboxLimit: MailboxLimit? { MailboxLimit(capacity: 1000, overflow: .dropNewest) }
///     ...
/// }
/// ```
public struct MailboxLimit: Sendable, Equatable {
    /// Messages and calls that may wait (at least 1).
    public var capacity: Int
    /// What a send or call to the full mailbox does.
    public var overflow: MailboxOverflow

    /// A bound of `capacity` waiting messages and calls.
    public init(capacity: Int, overflow: MailboxOverflow = .dropNewest) {
        self.capacity = max(1, capacity)
        self.overflow = overflow
    }
}

/// What a send to a full bounded mailbox does. Either way the message is not
/// queued, the send returns false (`Context.send`, `Node.send`), a call fails
/// at once with `CallError.mailboxFull` (it is never left to time out), and
/// the process counts the refusal (`refused` in `info`).
public enum MailboxOverflow: String, Sendable, Equatable, CaseIterable {
    /// The overflow is the receiver's concern: the message is a dead letter
    /// (the node's count, as mail to a process that is gone), the way Akka's
    /// bounded mailboxes drop to dead letters. For mail whose loss the
    /// system tolerates: samples, progress, periodic state.
    case dropNewest
    /// The overflow is the sender's concern: it is told (the send's false,
    /// the call's error) and nothing is counted as a dead letter. For a
    /// sender that slows down, retries or sheds load itself.
    case failSender
}

/// The intake of a transient process with a bounded mailbox: senders reserve
/// a place before they deliver, the process's turn gives back what it took
/// (`BehaviorCell.boundedTurnFunction`). An unbounded process has no intake
/// at all, so the bound costs nothing to the processes that do not use it.
///
/// Thread ownership: `limit` is immutable; the counters are atomics touched
/// by senders on any thread and by the owner's turn.
@usableFromInline
package final class BoundedIntake<Message: Sendable>: MailIntake<Message>, @unchecked Sendable {
    /// The bound.
    package let limit: MailboxLimit
    /// Messages and calls sent and not yet taken by a turn.
    @usableFromInline package let depth = Atomic<Int>(0)
    /// Sends and calls refused because the mailbox was full.
    package let refusedCount = Atomic<UInt64>(0)

    @usableFromInline
    package init(limit: MailboxLimit) {
        self.limit = limit
        super.init(take: { cell, envelope, current in
            // invariant: this closure is only ever the take of a BoundedIntake, installed as the cell's intake.
            unsafeDowncast(cell.intake.unsafelyUnwrapped, to: BoundedIntake<Message>.self).admit(envelope, to: cell, from: current)
        })
    }

    /// Delivers `envelope` to `cell` if it has room (a signal or a stop always).
    @usableFromInline
    package func admit(_ envelope: __owned Envelope<Message>, to cell: MailboxCell<Message>, from current: Scheduler?) -> Bool {
        switch envelope {
        case .message, .call, .committed:
            if depth.wrappingAdd(1, ordering: .relaxed).newValue > limit.capacity {
                depth.subtract(1, ordering: .relaxed)
                refuse(envelope, to: cell)
                return false
            }
        case .signal, .stop:
            break
        }
        cell.route(consume envelope, from: current, owner: cell.schedulerRef)
        return true
    }

    private func refuse(_ envelope: Envelope<Message>, to cell: MailboxCell<Message>) {
        refusedCount.wrappingAdd(1, ordering: .relaxed)
        switch envelope {
        case .call(_, let slot):
            slot.complete(.failure(.mailboxFull(cell.pid.description)))
        case .committed(let mail):
            mail.slot?.complete(.failure(.mailboxFull(cell.pid.description)))
            if limit.overflow == .dropNewest { cell.scheduler.node.countDeadLetter() }
        case .message:
            if limit.overflow == .dropNewest { cell.scheduler.node.countDeadLetter() }
        case .signal, .stop:
            break
        }
    }

    /// A turn took `count` messages and calls (the owner's thread).
    @inlinable
    package func taken(_ count: Int) {
        if count > 0 { depth.subtract(count, ordering: .relaxed) }
    }
}
