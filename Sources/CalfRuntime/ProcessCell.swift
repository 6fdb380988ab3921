import CalfControl

/// The untyped part of a process: identity, scheduling flags, relations.
///
/// Thread ownership: every `var` here belongs to the thread of `scheduler`,
/// the scheduler that owns the process now; other threads reach a process
/// only through `MailboxCell.deliverRemote` (the scheduler's `RemoteQueue`)
/// or by a job on the owner's loop (`Scheduler.onOwner(of:)`, which follows
/// a process that moves). `scheduler` itself changes only on the owner's
/// thread, between turns, when the process moves (`Scheduler+Migration`):
/// the old owner writes it last, and from then on the new one owns the
/// process. Other threads read it without a lock, to know where to send.
///
/// Its stored properties are `final` and `@exclusivity(unchecked)`: the hot
/// paths are inlined into other modules (the durable layer's, the user's),
/// where a property a subclass could override is a virtual call and a
/// `package var` of a class is checked for exclusive access at run time on
/// every read; the one owning thread is what keeps access exclusive. Both
/// measured: together they cost a quarter of `calf bench pingpong`.
open class ProcessCell: RemoteReceiver, @unchecked Sendable {
    @usableFromInline
    package enum Status: UInt8 { case alive, dead }

    @usableFromInline package let pid: Pid
    /// The scheduler that owns the process now. Not reference counted (a
    /// shared object's count is a cache line every sender would write);
    /// `home` and the node keep every scheduler alive, and a process that
    /// exits points back at `home`.
    @inlinable package final var scheduler: Scheduler {
        get { schedulerRef.takeUnretainedValue() }
        set { schedulerRef = .passUnretained(newValue) }
    }
    /// `scheduler` as stored: the hot paths compare and call through it
    /// without the retain and release a strong copy of it costs (about 10 %
    /// of a same-scheduler ping-pong).
    @usableFromInline @exclusivity(unchecked) package final var schedulerRef: Unmanaged<Scheduler>
    /// The scheduler the process started on (held strongly, so that mail to
    /// an address kept after its node is gone still finds a scheduler).
    package let home: Scheduler
    /// Runs one turn: handles up to `budget` messages; returns whether messages remain.
    @usableFromInline @exclusivity(unchecked) package final var turn: (ProcessCell, Int) -> Bool = { _, _ in false }
    @usableFromInline @exclusivity(unchecked) package final var status = Status.alive
    /// In the run queue or running now.
    @usableFromInline @exclusivity(unchecked) package final var scheduled = false
    /// Exit signals from linked processes arrive as messages instead of killing it.
    @usableFromInline @exclusivity(unchecked) package final var trapExit = false
    /// Messages handled so far.
    @usableFromInline @exclusivity(unchecked) package final var handled: UInt64 = 0
    /// Why the process takes no turn now, as bits (zero: it may run): the
    /// operator suspended it (`Hold.operator`), or it is arriving from
    /// another scheduler (`Hold.arriving`). It keeps its mail meanwhile.
    @usableFromInline @exclusivity(unchecked) package final var holds: UInt8 = 0
    /// Never moved by the balancer (placed with `.pinned`, or a kind of
    /// process tied to its loop: a port's OS handles, a supervisor's, a
    /// durable process's commit pipeline).
    @usableFromInline @exclusivity(unchecked) package final var pinned = false
    /// Its move from another scheduler while it is under way (nil otherwise).
    @usableFromInline @exclusivity(unchecked) package final var arrival: Arrival?
    /// When it last moved (the scheduler clock's nanoseconds; 0: never),
    /// so that the balancer does not move it back and forth.
    @usableFromInline @exclusivity(unchecked) package final var movedAt: UInt64 = 0
    /// Links, monitors and the registered name; allocated on first use.
    @usableFromInline @exclusivity(unchecked) package final var relations: Relations?
    /// The operator's trace of its messages (`trace P`), if one is on.
    @usableFromInline @exclusivity(unchecked) package final var trace: ProcessTrace?

    @usableFromInline
    package init(pid: Pid, scheduler: Scheduler) {
        self.pid = pid
        self.schedulerRef = .passUnretained(scheduler)
        self.home = scheduler
        super.init()
    }

    /// Suspended by the operator: it keeps its mail but takes no turn until resumed.
    package final var suspended: Bool {
        get { holds & Hold.operator != 0 }
        set { holds = newValue ? holds | Hold.operator : holds & ~Hold.operator }
    }

    @usableFromInline
    package final var relationsForUpdate: Relations {
        if let relations { return relations }
        let fresh = Relations()
        relations = fresh
        return fresh
    }

    // Overridden by the typed subclasses (the mailbox's, the trace's) and
    // by kinds of process with a lifecycle of their own (a durable process
    // restarts in place); called off the hot path.

    /// Appends a signal to the mailbox (after mail sent before it).
    @usableFromInline package func enqueueSignal(_ signal: Signal) {}
    /// Empties the mailbox: calls fail with `reason`,
    /// other messages count as dead letters.
    @usableFromInline package func closeMailbox(reason: ExitReason) {}
    /// Runs the behavior's `terminate` callback.
    @usableFromInline package func runTerminate(reason: ExitReason) {}
    /// Takes an exit with `reason` over instead of exiting (a durable
    /// process restarts in place by replay after a crash or a kill);
    /// returns whether it did. False: it exits.
    open func restartsInsteadOfExiting(_ reason: ExitReason) -> Bool { false }
    /// Hit by an untrapped exit signal with `reason`, ends in mailbox order
    /// by its own turn (a durable process, so that its exit is journaled
    /// after the mail accepted before it); returns whether it queued that
    /// stop. False: the signal ends it at once.
    open func stopsInMailboxOrder(on reason: ExitReason) -> Bool { false }
    /// Called once the process has exited (loop thread).
    open func didExit(reason: ExitReason) {}
    /// For a cell that is not alive but stands for a process that is (a
    /// durable process's cell after it left RAM): the live cell, brought
    /// back; a signal or a link meant for this one goes there (its owner's
    /// thread). Nil: it is what it looks like.
    open func liveSuccessor() -> ProcessCell? { nil }

    /// For a cell that stands for a process out of RAM: the cell that keeps
    /// links made with it until the process comes back (when they go to
    /// the cell it comes back in), so that a link does not bring it back:
    /// a supervisor linking to its passivated children at a node start
    /// leaves them out of RAM. Nil: a link goes to `liveSuccessor`. Its
    /// owner's thread.
    open func linkHolderWhileAway() -> ProcessCell? { nil }
    /// Switches to the turn that records a trace, or back (loop thread).
    package func setTraced(_ on: Bool) {}
    /// Whether the balancer may move it now (a kind of process with work
    /// in flight on its scheduler says no).
    open var canMove: Bool { true }
    /// Whether the balancer may move it on its own now, for a move of this
    /// kind off a scheduler that stays busy or not (`Scheduler.staysBusy`;
    /// asked again each time); false: it stays for now, or moves when
    /// asked (`Node.move`, a placement).
    open func movesWithTheBalancer(_ kind: BalancerMove, fromBusyScheduler busy: Bool) -> Bool { true }
    /// Its move is about to happen (the old owner's thread, between
    /// turns): last word on it, and the time to hand over what the layer
    /// above keeps of it on this scheduler. False: it stays.
    open func departs() -> Bool { true }
    /// Its move has ended: it is in the new owner's tables with all its
    /// mail (the new owner's thread; also when it exited meanwhile).
    open func arrived() {}
    /// Takes a message from outside (a request over the control socket or
    /// HTTP) straight into its mailbox, a call if `slot` is given: `decode`
    /// reads it as the type asked for, its message type. False if its
    /// messages are not `Decodable` (the mailbox's subclass says).
    /// - Throws: what `decode` throws; `IngressRefusal.overloaded` for a
    ///   message its full bounded mailbox refused (a call hears it as `mailboxFull`).
    package func takeFromOutside(decode: (any Decodable.Type) throws -> any Decodable, slot: ReplySlot?) throws -> Bool { false }
    /// Makes the record of a move under way, typed for its mail (the
    /// mailbox's subclass does).
    package func makeArrival(batch: MigrationBatch) -> Arrival {
        Arrival(mailboxMark: 0, batch: batch)
    }
    /// Ends a move: the mail forwarded from the old scheduler goes in
    /// before the mail that came straight here, and the process may run
    /// (on its new scheduler's thread).
    package func finishArrival() {}
}

/// The bits of `ProcessCell.holds`.
@usableFromInline
package enum Hold {
    /// Suspended by the operator.
    @usableFromInline package static let `operator`: UInt8 = 1
    /// Arriving from another scheduler: waits until no mail sent before the
    /// move can still come through the old one.
    @usableFromInline package static let arriving: UInt8 = 2
}

/// A process's links, monitors and name: rare, so kept out of the cell itself.
@usableFromInline
package final class Relations {
    package var links: [ProcessCell] = []
    /// Monitors others hold on this process: (reference, watcher).
    package var monitoredBy: [(MonitorRef, ProcessCell)] = []
    /// Monitors this process holds on others.
    package var monitoring: [MonitorRef: ProcessCell] = [:]
    package var name: String?
    /// Runs when the process exits, however it ends (a port kills its OS
    /// process), before its links and monitors hear of the exit. It may take
    /// links and monitors out of the relations it is given to tell them
    /// itself later (a supervisor does, once its children are gone).
    package var exitHook: ((ExitReason, Relations) -> Void)?
    /// Its effects under way (a transient process's `Context.run`), cancelled at its exit.
    package var effects: TransientEffects?
    @usableFromInline package init() {}
}
