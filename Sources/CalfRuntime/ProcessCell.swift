import CalfControl

/// The untyped part of a process: identity, scheduling flags, relations.
///
/// Thread ownership: every `var` here belongs to the thread of `scheduler`;
/// other threads reach a process only through `MailboxCell.deliverRemote`
/// (the scheduler's `RemoteQueue`) or by submitting a job to the scheduler's loop.
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
    @usableFromInline package let scheduler: Scheduler
    /// Runs one turn: handles up to `budget` messages; returns whether messages remain.
    @usableFromInline @exclusivity(unchecked) package final var turn: (ProcessCell, Int) -> Bool = { _, _ in false }
    @usableFromInline @exclusivity(unchecked) package final var status = Status.alive
    /// In the run queue or running now.
    @usableFromInline @exclusivity(unchecked) package final var scheduled = false
    /// Exit signals from linked processes arrive as messages instead of killing it.
    @usableFromInline @exclusivity(unchecked) package final var trapExit = false
    /// Messages handled so far.
    @usableFromInline @exclusivity(unchecked) package final var handled: UInt64 = 0
    /// Suspended by the operator: it keeps its mail but takes no turn until resumed.
    @usableFromInline @exclusivity(unchecked) package final var suspended = false
    /// Links, monitors and the registered name; allocated on first use.
    @usableFromInline @exclusivity(unchecked) package final var relations: Relations?
    /// The operator's trace of its messages (`trace P`), if one is on.
    @usableFromInline @exclusivity(unchecked) package final var trace: ProcessTrace?

    @usableFromInline
    package init(pid: Pid, scheduler: Scheduler) {
        self.pid = pid
        self.scheduler = scheduler
        super.init()
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
    /// Switches to the turn that records a trace, or back (loop thread).
    package func setTraced(_ on: Bool) {}
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
    @usableFromInline package init() {}
}
