import Synchronization

/// Messages from other threads, waiting for the owner to take them in.
@usableFromInline
struct RemoteInbox<Message: Sendable>: Sendable {
    @usableFromInline var items: [Envelope<Message>] = []
    /// The owner has been told (its scheduler has the cell in its remote queue).
    @usableFromInline var notified = false
    /// The process is dead: deliveries become dead letters.
    @usableFromInline var closed = false
    @usableFromInline init() {}
}

/// A process with a typed mailbox.
///
/// Thread ownership: `mailbox` and `spare` belong to the scheduler thread;
/// `inbox` is the only part other threads touch, under its mutex. Senders on
/// the owner's thread push straight into `mailbox`; others into `inbox`. A
/// sender is always one or the other for a given process, so each pair of
/// processes keeps its order.
@usableFromInline
class MailboxCell<Message: Sendable>: ProcessCell, @unchecked Sendable {
    @usableFromInline @exclusivity(unchecked) var mailbox = Ring<Envelope<Message>>()
    @usableFromInline let inbox = Mutex(RemoteInbox<Message>())
    @usableFromInline @exclusivity(unchecked) var spare: [Envelope<Message>] = []

    deinit { mailbox.destroy() }

    /// Delivers from `current`, the scheduler the sender runs on (nil outside any).
    @inlinable @inline(__always)
    final func deliver(_ envelope: __owned Envelope<Message>, from current: Scheduler?) {
        if current === scheduler {
            deliverLocal(envelope)
        } else {
            deliverRemote(envelope)
        }
    }

    @inlinable @inline(__always)
    final func deliverLocal(_ envelope: __owned Envelope<Message>) {
        guard status == .alive else {
            scheduler.node.deadLetter(envelope, to: pid)
            return
        }
        mailbox.append(envelope)
        if !scheduled { scheduler.makeRunnable(self) }
    }

    @inlinable
    final func deliverRemote(_ envelope: __owned Envelope<Message>) {
        let outcome = inbox.withLock { box -> UInt8 in
            if box.closed { return 0 }
            box.items.append(envelope)
            if box.notified { return 1 }
            box.notified = true
            return 2
        }
        if outcome == 2 {
            scheduler.notifyRemote(self)
        } else if outcome == 0 {
            scheduler.node.deadLetter(envelope, to: pid)
        }
    }

    @usableFromInline override final func drainRemote() { takeRemoteInbox() }

    /// Moves the remote inbox into the mailbox (specialized where `Message` is concrete).
    @inlinable
    final func takeRemoteInbox() {
        inbox.withLock { box in
            swap(&box.items, &spare)
            box.notified = false
        }
        for envelope in spare { mailbox.append(envelope) }
        if spare.capacity > 1024 { spare = [] } else { spare.removeAll(keepingCapacity: true) }
    }

    override final func enqueueSignal(_ signal: Signal) {
        drainRemote()
        mailbox.append(.signal(signal))
        if !scheduled { scheduler.makeRunnable(self) }
    }

    override final func closeMailbox(reason: ExitReason) {
        inbox.withLock { box in
            box.closed = true
            swap(&box.items, &spare)
        }
        for envelope in spare { mailbox.append(envelope) }
        spare = []
        while let envelope = mailbox.popFirst() {
            if case .call(_, let slot) = envelope {
                slot.complete(.failure(.exited(reason)))
            } else if case .message = envelope {
                scheduler.node.countDeadLetter()
            }
        }
        mailbox.destroy()
    }

    override final var mailboxCount: Int { mailbox.count }
}
