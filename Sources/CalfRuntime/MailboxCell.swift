import Synchronization
import CalfControl

/// A process with a typed mailbox.
///
/// Thread ownership: `mailbox` belongs to the scheduler thread. Senders on
/// that thread push straight into it; others push a `TypedDelivery` onto the
/// scheduler's `RemoteQueue`, which the scheduler moves into the mailbox. A
/// sender is always one or the other for a given process, so each pair of
/// processes keeps its order.
open class MailboxCell<Message: Sendable>: ProcessCell, @unchecked Sendable {
    @usableFromInline @exclusivity(unchecked) package final var mailbox = Ring<Envelope<Message>>()

    deinit {
        // Unspecialized code: the empty ring's test and free need no type metadata, the general case does.
        if mailbox.storage != nil { mailbox.destroy() }
    }

    /// Where mail from outside the process goes instead of its mailbox,
    /// for a kind of process whose mail must pass through something first
    /// (a durable process's journal); nil, as for every transient process:
    /// straight in. Set while the cell is made, before anyone can reach it,
    /// and only read afterwards (from any thread). One reference, so that a
    /// transient process pays 8 bytes for it.
    @usableFromInline @exclusivity(unchecked) package final var intake: MailIntake<Message>?

    /// Delivers from `current`, the scheduler the sender runs on (nil outside any).
    /// - Returns: false if the process's intake refused it (a full bounded
    ///   mailbox, a durable process overloaded): the intake dealt with it.
    @inlinable @inline(__always) @discardableResult
    package final func deliver(_ envelope: __owned Envelope<Message>, from current: Scheduler?) -> Bool {
        // The owner is read once: read again, it could name this very
        // scheduler (the process moving here meanwhile), and mail pushed onto
        // this scheduler's own queue would come after the sender's next
        // messages, delivered straight into the mailbox.
        let owner = schedulerRef
        if let intake { return intake.take(self, envelope, current) }
        route(consume envelope, from: current, owner: owner)
        return true
    }

    /// Puts `envelope` on its way to the mailbox from `current` (nil:
    /// outside every scheduler), `owner` read once by the caller: straight
    /// in on the owner's thread, in the sender's batch for another
    /// scheduler, else through the owner's remote queue.
    @inlinable @inline(__always)
    package final func route(_ envelope: __owned Envelope<Message>, from current: Scheduler?, owner: Unmanaged<Scheduler>) {
        if let current, Unmanaged.passUnretained(current).toOpaque() == owner.toOpaque() {
            deliverLocal(envelope)
        } else if let current {
            current.sendAcross(consume envelope, to: self, ownedBy: owner)
        } else {
            pushFromOutside(consume envelope)
        }
    }

    /// Pushes mail from a thread outside every scheduler onto the remote
    /// queue of the scheduler that owns the process, under the lock a move
    /// takes to know that no such sender still holds the old scheduler
    /// (`Scheduler+Migration`).
    @inlinable
    package final func pushFromOutside(_ envelope: __owned Envelope<Message>) {
        let node = RemoteNode.make(cell: self, envelope: consume envelope)
        scheduler.node.outsideSends.withLock { _ in scheduler.pushRemote(node) }
    }

    /// Delivers on the scheduler's thread (a local sender, or mail taken in
    /// from the remote queue).
    @inlinable @inline(__always)
    package final func deliverLocal(_ envelope: __owned Envelope<Message>) {
        guard status == .alive else {
            scheduler.node.deadLetter(envelope, to: pid)
            return
        }
        mailbox.append(consume envelope)
        if !scheduled { schedulerRef._withUnsafeGuaranteedRef { $0.makeRunnable(self) } }
    }

    /// Delivers from another thread: through the scheduler's remote queue.
    /// - Returns: false if the process's intake refused it (see `deliver`).
    @inlinable @discardableResult
    package final func deliverRemote(_ envelope: __owned Envelope<Message>) -> Bool {
        if let intake {
            return intake.take(self, envelope, nil)
        }
        pushFromOutside(consume envelope)
        return true
    }

    /// Puts `envelope` on the owner's remote queue as it is (past the
    /// `intake`: a durable process's signals and stops), from any thread,
    /// under the outside senders' lock, since the sender may be outside
    /// every scheduler and the process may move (these are rare: the
    /// lock costs a scheduler thread nothing it would notice).
    @inlinable
    package final func pushToMailbox(_ envelope: __owned Envelope<Message>) {
        let node = RemoteNode.make(cell: self, envelope: consume envelope)
        scheduler.node.outsideSends.withLock { _ in scheduler.pushRemote(node) }
    }

    /// Takes in mail whose commit finished (on the scheduler's thread); a
    /// kind of process that counts what it received replaces it.
    open func acceptCommitted(_ mail: CommittedMail<Message>) {
        acceptRemote(.committed(mail))
    }

    /// Mail from outside that it counted (`CommittedMail.fromOutside`) was
    /// taken by a turn or will never come (any thread); a kind of process
    /// that bounds such mail replaces it.
    open func outsideMailTaken() {}

    /// The `remoteAcceptor` of a `MailboxCell<Message>`, specialized where `Message` is concrete.
    @inlinable
    package static var remoteAcceptorFunction: (RemoteReceiver, UnsafeMutableRawPointer, RemoteHandling) -> Void {
        { cell, node, handling in
            let typed = unsafeDowncast(cell, to: MailboxCell<Message>.self)
            let count = RemoteNode.mailCount(node)
            guard let taker = handling.scheduler else {
                for index in 0..<count {
                    typed.scheduler.node.deadLetter(RemoteNode.takeEnvelope(node, at: index, as: Message.self), to: typed.pid)
                }
                return
            }
            if _fastPath(typed.schedulerRef.toOpaque() == Unmanaged.passUnretained(taker).toOpaque()) {
                if _slowPath(handling.forwarded), let arrival = typed.arrival {
                    // invariant: a mailbox cell's arrivals are made by its own `makeArrival`.
                    let held = unsafeDowncast(arrival, to: TypedArrival<Message>.self)
                    for index in 0..<count { held.forwarded.append(RemoteNode.takeEnvelope(node, at: index, as: Message.self)) }
                } else {
                    for index in 0..<count { typed.acceptRemote(RemoteNode.takeEnvelope(node, at: index, as: Message.self)) }
                }
            } else {
                // The process moved after the sender read its scheduler: on to the new one.
                let onward = RemoteNode.makeMail(cell: typed, capacity: count, forwarded: true)
                RemoteNode.envelopes(of: onward, as: Message.self).moveInitialize(from: RemoteNode.envelopes(of: node, as: Message.self), count: count)
                RemoteNode.setMailCount(count, of: onward)
                typed.scheduler.pushRemote(onward)
            }
        }
    }

    /// Takes in mail from the remote queue: `deliverLocal`, left to the
    /// optimizer's judgment (forcing it inline into the acceptor measured 2×
    /// slower on fan-in across schedulers).
    @inlinable
    package final func acceptRemote(_ envelope: __owned Envelope<Message>) {
        deliverLocal(consume envelope)
    }

    package override final func enqueueSignal(_ signal: Signal) {
        // Mail sent before the signal goes first (Erlang's signal order).
        scheduler.takeAllRemote()
        mailbox.append(.signal(signal))
        if !scheduled { scheduler.makeRunnable(self) }
    }

    package override final func takeFromOutside(decode: (any Decodable.Type) throws -> any Decodable, slot: ReplySlot?) throws -> Bool {
        guard let type = Message.self as? any Decodable.Type else { return false }
        // invariant: `decode` gives a value of the type it is asked for.
        guard let message = try decode(type) as? Message else { return false }
        if let slot {
            // A refused call hears `mailboxFull` through its slot.
            deliverRemote(.call(message, slot))
        } else if !deliverRemote(.message(message)) {
            throw IngressRefusal.overloaded(why: "the mailbox of \(pid) is full (its bound, MailboxLimit)", retryAfter: .seconds(1))
        }
        return true
    }

    package override final func makeArrival(batch: MigrationBatch) -> Arrival {
        TypedArrival<Message>(mailboxMark: mailbox.count, batch: batch)
    }

    package override final func finishArrival() {
        guard let arrival else { return }
        self.arrival = nil
        holds &= ~Hold.arriving
        // invariant: made by `makeArrival` above.
        let forwarded = unsafeDowncast(arrival, to: TypedArrival<Message>.self).forwarded
        defer { arrived() }
        guard status == .alive else {
            for envelope in forwarded { scheduler.node.deadLetter(envelope, to: pid) }
            return
        }
        if !forwarded.isEmpty {
            // What it brought, then what was forwarded, then what came straight here.
            var ordered = Ring<Envelope<Message>>()
            var brought = 0
            while brought < arrival.mailboxMark, let envelope = mailbox.popFirst() {
                ordered.append(envelope)
                brought += 1
            }
            for envelope in forwarded { ordered.append(envelope) }
            while let envelope = mailbox.popFirst() { ordered.append(envelope) }
            mailbox.destroy()
            mailbox = ordered
        }
        // (`mailboxCount`: a durable process's message to retry counts too.)
        if mailboxCount > 0, holds == 0, !scheduled { scheduler.makeRunnable(self) }
    }

    package override final func closeMailbox(reason: ExitReason) {
        while mailbox.count > 0, let envelope = mailbox.popFirst() {
            if case .call(_, let slot) = envelope {
                slot.complete(.failure(.exited(reason)))
            } else if case .message = envelope {
                scheduler.node.countDeadLetter()
            } else if case .committed(let mail) = envelope {
                mail.slot?.complete(.failure(.exited(reason)))
            }
        }
        if mailbox.storage != nil { mailbox.destroy() }
    }

    // MARK: What the operator asks (InspectableProcess)

    /// Messages waiting in the mailbox (loop thread).
    open var mailboxCount: Int { mailbox.count }
    /// Bytes of its mailbox buffer.
    package final var mailboxBytes: Int { (mailbox.mask &+ 1) * MemoryLayout<Envelope<Message>>.stride }
    /// The behavior's type name.
    open var behaviorName: String { "" }
    /// How it stands: `runnable` or `waiting` (durable processes say more).
    open var statusName: String { scheduled ? "runnable" : "waiting" }
    /// Restarts in place (durable processes count them).
    open var restartCount: UInt64 { 0 }
    /// A durable process (the durable layer's cells say so).
    open var isDurable: Bool { false }
    /// Why it is quarantined (durable processes can be).
    open var quarantineReason: String? { nil }
    /// A transient process's `MailboxLimit`, if it has one (a durable process says its own).
    open var mailboxBound: MailboxBoundState? {
        guard let bound = intake as? BoundedIntake<Message> else { return nil }
        return MailboxBoundState(limit: bound.limit.capacity, backlog: bound.depth.load(ordering: .relaxed),
                                 refused: bound.refusedCount.load(ordering: .relaxed))
    }

    /// Its pending mail as JSON values (a message that is not `Encodable` as its description).
    package final func mailboxJSON() -> [String] {
        // A durable process's retried message comes first, as it will be handled.
        let retried = retryingJSON().map { [$0] } ?? []
        return retried + (0..<mailbox.count).map { offset in
            switch mailbox.peek(at: offset) {
            case .message(let message): OperatorJSON.text(message)
            case .call(let message, _): #"{"call":\#(OperatorJSON.text(message))}"#
            case .committed(let mail): OperatorJSON.text(mail.message)
            case .signal(let signal): OperatorJSON.text(["signal": String(describing: signal)])
            case .stop(let reason): OperatorJSON.text(["stop": reason.description])
            }
        }
    }

    /// The message a durable process retries before its mailbox, as JSON (nil: none).
    open func retryingJSON() -> String? { nil }
}

/// What a process's `intake` is: where its mail from outside goes first (a
/// bounded mailbox's `BoundedIntake`, a durable process's journal). A
/// layer subclasses it to give its own senders a way past it (the durable
/// layer's `JournalingTarget`: how a durable sender journals mail to the
/// process in its own commit), so a cell carries one object for both.
///
/// Thread ownership: immutable; made with the cell, read from any thread.
open class MailIntake<Message: Sendable>: @unchecked Sendable {
    /// Takes mail sent to the cell from outside it, from the scheduler the
    /// sender runs on (nil: another thread); false if it refused the mail
    /// (and told a caller, or counted it, as its kind does).
    @usableFromInline package final let take: (MailboxCell<Message>, __owned Envelope<Message>, Scheduler?) -> Bool

    @usableFromInline
    package init(take: @escaping (MailboxCell<Message>, __owned Envelope<Message>, Scheduler?) -> Bool) {
        self.take = take
    }
}
