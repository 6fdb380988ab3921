import CalfLoop
import Synchronization
import CalfControl

/// One scheduler: a loop thread, its run queue and the processes pinned to it.
///
/// Thread ownership: everything but `remote` and the `loop` handle belongs
/// to the loop thread. Other threads hand work over by
/// `pushRemote` (mail for a process) or `loop.execute`.
@usableFromInline
package final class Scheduler: LoopDriver, @unchecked Sendable {
    @usableFromInline package let index: Int
    @usableFromInline package let node: NodeCore
    /// Messages one process may handle per turn before the next runs.
    @usableFromInline package let budget: Int
    /// Keeps the loop alive as long as the scheduler (the loop drops its
    /// reference to this driver when its thread ends, so there is no cycle).
    // invariant: set once in Node.init right after the loop starts, before any process exists.
    @exclusivity(unchecked) package var loopOwner: EventLoop!
    /// The loop, read without reference counting on the message path (other
    /// threads' retains of a shared object bounce its cache line); `loopOwner` keeps it alive.
    @usableFromInline @exclusivity(unchecked) package unowned(unsafe) var loop: EventLoop! = nil

    @usableFromInline @exclusivity(unchecked) package var runQueue = Ring<ProcessCell>()
    /// Mail from other threads.
    @usableFromInline package let remote = RemoteQueue()
    /// Set once the loop thread has ended: senders then discard their mail themselves.
    @usableFromInline package let closed = Atomic<Bool>(false)
    /// Parked by the balancer while the node's load is low: it gives its
    /// processes to the others, takes no new spread-out ones, steals nothing.
    package let parked = Atomic<Bool>(false)
    private let closedDrain = Mutex<Void>(())

    /// Live processes on this scheduler, by pid.
    @usableFromInline @exclusivity(unchecked) package var processes: [Pid: ProcessCell] = [:]
    private var serialNext: UInt64 = 0
    private var serialEnd: UInt64 = 0
    /// Exits waiting to be carried out (a worklist, so long link chains do not recurse).
    private var pendingExits: [(ProcessCell, ExitReason)] = []
    private var exiting = false
    @exclusivity(unchecked) package var timers = TimerQueue()
    @exclusivity(unchecked) package var timerHandle: LoopTimer?
    /// Turns run since the loop started (for `stats`).
    @exclusivity(unchecked) package private(set) var turns: UInt64 = 0
    /// What the layers above keep on this scheduler (`SchedulerAttachment`).
    @exclusivity(unchecked) package var attachments: [any SchedulerAttachment] = []
    /// Every scheduler of the node, this one included, by index.
    // invariant: set once in Node.init before any process exists.
    @exclusivity(unchecked) package var peers: [PeerScheduler] = []
    /// Moves asked for during this run of ready work (`Scheduler+Migration`).
    @exclusivity(unchecked) package var departing: [Departure] = []
    /// What this scheduler publishes for the balancer, and its own balancing state (`Scheduler+Balance`).
    package let figures = BalanceFigures()
    @exclusivity(unchecked) package var balance = BalanceState()
    /// Mail the running turn gathers for a process on another scheduler (`OutgoingMail`).
    @usableFromInline @exclusivity(unchecked) package var outgoing = OutgoingMail()

    package init(index: Int, node: NodeCore, budget: Int) {
        self.index = index
        self.node = node
        self.budget = budget
    }

    // MARK: Spawning

    @usableFromInline
    package func allocatePid() -> Pid {
        if serialNext == serialEnd {
            serialNext = node.reserveSerials(1024)
            serialEnd = serialNext + 1024
        }
        defer { serialNext += 1 }
        return Pid(serial: serialNext)
    }

    /// Starts a process of behavior `B` here (loop thread), running its start callbacks.
    @inlinable
    package func start<B: Behavior>(_ behavior: B, linkedTo parent: ProcessCell?) throws -> Address<B.Message> {
        let pid = allocatePid()
        let state: B.State
        do {
            state = try behavior.initialState()
        } catch {
            throw SpawnError.startFailed(pid: pid, behavior: String(describing: B.self), reason: .error(error))
        }
        let cell = BehaviorCell(behavior: behavior, state: state, pid: pid, scheduler: self)
        if let limit = behavior.mailboxLimit ?? node.mailboxLimit {
            cell.intake = BoundedIntake<B.Message>(limit: limit)
            cell.turn = BehaviorCell<B>.boundedTurnFunction
        } else {
            cell.turn = BehaviorCell<B>.turnFunction
        }
        cell.remoteAcceptor = MailboxCell<B.Message>.remoteAcceptorFunction
        processes[pid] = cell
        do {
            try cell.runStarted()
        } catch {
            let reason = (error as? Exit)?.reason ?? .error(error)
            exit(cell, reason: reason)
            throw SpawnError.startFailed(pid: pid, behavior: String(describing: B.self), reason: reason)
        }
        if let parent { link(parent, cell) }
        return Address(cell: cell)
    }

    // MARK: Running

    @usableFromInline
    package func makeRunnable(_ cell: ProcessCell) {
        cell.scheduled = true
        runQueue.append(cell)
    }

    /// Hands `delivery` to this scheduler (any thread but its own).
    @inlinable
    package func pushRemote(_ node: UnsafeMutableRawPointer) {
        remote.push(node)
        if closed.load(ordering: .sequentiallyConsistent) {
            discardRemote()
        } else {
            loop.wake()
        }
    }

    /// Moves up to `limit` remote deliveries into their mailboxes; returns
    /// whether more are waiting.
    @discardableResult
    package func takeRemote(limit: Int = 4096) -> Bool {
        remote.hand(to: self, limit: limit) == limit
    }

    /// Moves every remote delivery pushed so far into its mailbox (not
    /// what other threads push meanwhile).
    @usableFromInline
    @discardableResult
    package func takeAllRemote() -> Int {
        remote.handPushed(to: self)
    }

    /// Marks the scheduler stopped (its thread has ended): mail still queued
    /// or sent later counts as dead letters, and calls in it fail.
    package func close() {
        closed.store(true, ordering: .sequentiallyConsistent)
        discardRemote()
    }

    @usableFromInline
    package func discardRemote() {
        // After close, senders and close may race to drain; the lock makes them one consumer at a time.
        closedDrain.withLock { _ in _ = remote.hand(to: nil) }
    }

    @usableFromInline package func runReadyWork(on loop: EventLoop) -> Bool {
        if remote.hasItems { takeRemote() }
        if let deadline = timers.nextDeadline, deadline <= now { fireTimers() }
        var count = 0
        // A run ends after 4096 turns; or after about a millisecond if a
        // job, a steal request or a due timer waits; or after 100 ms for
        // I/O. Past its first millisecond a run may also give work to an
        // idle scheduler (`shareDuringRun`). Ending runs
        // sooner when nothing waits only splits the durable processes'
        // commit batches (a flood's commit p99 went from 4 ms to 165 ms with
        // a plain 1 ms cap). The clock is read after the second turn, then
        // about every 100 µs of turns (every 64 turns at most): fast turns
        // pay for few reads, and slow ones (a handler that computes for
        // milliseconds) do not keep the thread for 64 of them.
        var runStart: UInt64 = 0
        var startCount = 0
        var checkAt = 2
        while count < 4096, let cell = runQueue.popFirst() {
            count &+= 1
            if cell.status == .alive, cell.holds == 0, runTurn(of: cell), cell.status == .alive {
                runQueue.append(cell)
            } else {
                cell.scheduled = false
            }
            if count & 127 == 0, remote.hasItems { takeRemote() }
            if count == checkAt {
                let time = monotonicNanoseconds()
                if runStart == 0 {
                    runStart = time
                    balance.runStartedAt = time
                    startCount = count
                    checkAt = count &+ 2
                    continue
                }
                let elapsed = time &- runStart
                if elapsed > 1_000_000 {
                    if runMustYield(at: time, started: runStart) {
                        loop.pollSoon()
                        break
                    }
                    if node.balances { shareDuringRun(at: time) }
                }
                let perTurn = elapsed / UInt64(count &- startCount)
                checkAt = count &+ (perTurn == 0 ? 64 : Int(min(64, max(1, 100_000 / perTurn))))
            }
        }
        turns &+= UInt64(count)
        balance.runStartedAt = 0
        // The layers above first (the durable batch goes to the writer):
        // what moves now leaves nothing of this run behind it.
        if !attachments.isEmpty { runEnded() }
        if node.balances { balanceAfterRun(ranTurns: count > 0) }
        if !departing.isEmpty { flushDepartures() }
        return !runQueue.isEmpty || remote.hasItems
    }

    /// Whether a run that began at `started` must end now, at `time`, past
    /// its first millisecond: something waits for this thread, or 100 ms passed.
    private func runMustYield(at time: UInt64, started: UInt64) -> Bool {
        if time &- started > 100_000_000 || loop.hasPendingJobs { return true }
        if figures.stealRequest.load(ordering: .relaxed) >= 0 { return true }
        if let deadline = timers.nextDeadline, deadline <= now { return true }
        return false
    }

    @usableFromInline package func hasPendingWork() -> Bool {
        remote.hasItems
    }

    /// Tells the attachments that a run of ready work ended (loop thread).
    package func runEnded() {
        for attachment in attachments { attachment.runEnded(self) }
    }

    /// The attachment of type `A`, made by `make` and attached on first use (loop thread).
    package func attachment<A: SchedulerAttachment>(_ type: A.Type, orMake make: () -> A) -> A {
        // By type identity first (a cast per durable send was measurable), then as a cast (a subclass of A).
        for attachment in attachments where ObjectIdentifier(Swift.type(of: attachment)) == ObjectIdentifier(A.self) {
            // invariant: its dynamic type is A.
            return unsafeDowncast(attachment, to: A.self)
        }
        for attachment in attachments {
            if let found = attachment as? A { return found }
        }
        let made = make()
        attachments.append(made)
        return made
    }

    @usableFromInline package func loopWillStop(_ loop: EventLoop) {
        for attachment in attachments { attachment.loopWillStop(self) }
        stopBalancing()
        timerHandle?.close()
        timerHandle = nil
        timers.removeAll()
        remote.hand(to: nil)
        runQueue.destroy()
    }

    // MARK: Exits

    /// Ends `cell` by its own doing: runs `terminate`, then the exit.
    @usableFromInline
    package func terminate(_ cell: ProcessCell, reason: ExitReason) {
        guard cell.status == .alive else { return }
        cell.runTerminate(reason: reason)
        exit(cell, reason: reason)
    }

    /// Ends `cell` with `reason` and tells its links and monitors (loop thread).
    @usableFromInline
    package func exit(_ cell: ProcessCell, reason: ExitReason) {
        // What the process sent before it ended goes ahead of what its end tells others.
        flushOutgoing()
        pendingExits.append((cell, reason))
        guard !exiting else { return }
        exiting = true
        defer { exiting = false }
        while let (next, why) = pendingExits.popLast() {
            finishExit(next, reason: why)
        }
    }

    private func finishExit(_ cell: ProcessCell, reason: ExitReason) {
        guard cell.status == .alive else { return }
        if cell.restartsInsteadOfExiting(reason) { return }
        cell.status = .dead
        // Last: a dead process's mail goes to its first scheduler (which
        // the cell keeps alive), whichever it ended on.
        defer { cell.scheduler = cell.home }
        defer { cell.didExit(reason: reason) }
        if let trace = cell.trace {
            cell.stopTracing()
            trace.end("\(cell.pid) exited: \(reason)")
        }
        processes[cell.pid] = nil
        node.unregister(cell)
        cell.closeMailbox(reason: reason)
        guard let relations = cell.relations else { return }
        cell.relations = nil
        relations.effects?.close()
        relations.exitHook?(reason, relations)
        tellExit(of: cell, reason: reason, links: relations.links, watchers: relations.monitoredBy)
        for (ref, target) in relations.monitoring {
            onOwner(of: target) { $0.removeMonitor(ref, from: target) }
        }
    }

    /// Tells the processes linked to `cell` and those monitoring it that it
    /// exited with `reason` (at its exit, or later for a hook that held
    /// them back).
    package func tellExit(of cell: ProcessCell, reason: ExitReason, links: [ProcessCell], watchers: [(MonitorRef, ProcessCell)]) {
        let pid = cell.pid
        for linked in links {
            onOwner(of: linked) { $0.exitSignal(from: cell, reason: reason, to: linked) }
        }
        for (ref, watcher) in watchers {
            onOwner(of: watcher) { $0.down(ref, of: pid, reason: reason, to: watcher) }
        }
    }

    /// An exit signal from a linked process arrives at `target` (its thread).
    package func exitSignal(from source: ProcessCell, reason: ExitReason, to target: ProcessCell) {
        guard target.status == .alive else {
            if let live = target.liveSuccessor() { onOwner(of: live) { $0.exitSignal(from: source, reason: reason, to: live) } }
            return
        }
        target.relations?.links.removeAll { $0 === source }
        deliverExitSignal(from: source.pid, reason: reason, to: target)
    }

    private func deliverExitSignal(from source: Pid, reason: ExitReason, to target: ProcessCell) {
        guard target.status == .alive else {
            if let live = target.liveSuccessor() { onOwner(of: live) { $0.deliverExitSignal(from: source, reason: reason, to: live) } }
            return
        }
        if target.trapExit {
            target.enqueueSignal(.exit(from: source, reason: reason))
        } else if !reason.isNormal, !target.stopsInMailboxOrder(on: reason) {
            exit(target, reason: reason)
        }
    }

    /// Sends a trappable exit signal without a link (Erlang's `exit/2`).
    package func sendExitSignal(from source: Pid, reason: ExitReason, to target: ProcessCell) {
        onOwner(of: target) { $0.deliverExitSignal(from: source, reason: reason, to: target) }
    }

    /// Kills `target`: it ends with `killed`, trapping or not.
    @usableFromInline
    package func kill(_ target: ProcessCell) {
        onOwner(of: target) { scheduler in
            if target.status != .alive, let live = target.liveSuccessor() {
                scheduler.kill(live)
            } else {
                scheduler.exit(target, reason: .killed)
            }
        }
    }

    /// A monitored process's down signal arrives at `watcher` (its thread).
    package func down(_ ref: MonitorRef, of pid: Pid, reason: ExitReason, to watcher: ProcessCell) {
        guard watcher.status == .alive, watcher.relations?.monitoring.removeValue(forKey: ref) != nil else { return }
        watcher.enqueueSignal(.down(ref, pid: pid, reason: reason))
    }

    private func removeMonitor(_ ref: MonitorRef, from target: ProcessCell) {
        target.relations?.monitoredBy.removeAll { $0.0 == ref }
    }

    // MARK: Links and monitors

    @usableFromInline package func link(_ a: ProcessCell, _ b: ProcessCell) {
        guard a !== b, a.status == .alive else { return }
        let relations = a.relationsForUpdate
        guard !relations.links.contains(where: { $0 === b }) else { return }
        relations.links.append(b)
        onOwner(of: b) { scheduler in
            if b.status == .alive {
                let other = b.relationsForUpdate
                if !other.links.contains(where: { $0 === a }) { other.links.append(a) }
            } else if let holder = b.linkHolderWhileAway() {
                // It stands for a process out of RAM: the link waits with `holder`, without bringing it back.
                let held = holder.relationsForUpdate
                if !held.links.contains(where: { $0 === a }) { held.links.append(a) }
                if holder !== b {
                    scheduler.onOwner(of: a) { _ in
                        guard let index = a.relations?.links.firstIndex(where: { $0 === b }) else { return }
                        a.relations?.links[index] = holder
                    }
                }
            } else if let live = b.liveSuccessor() {
                // It stood for a process that left RAM: the link is with the process brought back.
                scheduler.onOwner(of: a) { owner in
                    a.relations?.links.removeAll { $0 === b }
                    owner.link(a, live)
                }
            } else {
                scheduler.onOwner(of: a) { $0.exitSignal(from: b, reason: .noProcess, to: a) }
            }
        }
    }

    package func unlink(_ a: ProcessCell, _ b: ProcessCell) {
        // A link made with a cell that stood for a process out of RAM is with the cell it came back in: same pid.
        let pid = b.pid
        let others = a.relations?.links.filter { $0 !== b && $0.pid == pid } ?? []
        a.relations?.links.removeAll { $0.pid == pid }
        for peer in [b] + others {
            onOwner(of: peer) { _ in peer.relations?.links.removeAll { $0 === a } }
        }
    }

    package func monitor(watcher: ProcessCell, target: ProcessCell) -> MonitorRef {
        let ref = MonitorRef(id: node.makeReference())
        watcher.relationsForUpdate.monitoring[ref] = target
        onOwner(of: target) { scheduler in
            if target.status == .alive {
                target.relationsForUpdate.monitoredBy.append((ref, watcher))
            } else if let live = target.liveSuccessor() {
                // It stood for a process that left RAM: the monitor is on the process brought back.
                scheduler.onOwner(of: watcher) { _ in
                    if watcher.relations?.monitoring[ref] != nil { watcher.relations?.monitoring[ref] = live }
                }
                scheduler.onOwner(of: live) { _ in
                    if live.status == .alive {
                        live.relationsForUpdate.monitoredBy.append((ref, watcher))
                    } else {
                        scheduler.onOwner(of: watcher) { $0.down(ref, of: live.pid, reason: .noProcess, to: watcher) }
                    }
                }
            } else {
                let pid = target.pid
                scheduler.onOwner(of: watcher) { $0.down(ref, of: pid, reason: .noProcess, to: watcher) }
            }
        }
        return ref
    }

    package func demonitor(watcher: ProcessCell, ref: MonitorRef) {
        guard let target = watcher.relations?.monitoring.removeValue(forKey: ref) else { return }
        onOwner(of: target) { $0.removeMonitor(ref, from: target) }
    }
}

/// Why a spawn failed.
public enum SpawnError: Error, Sendable, CustomStringConvertible {
    /// The behavior's `initialState()` or `started` threw, or it stopped at once.
    case startFailed(pid: Pid, behavior: String, reason: ExitReason)
    /// The node is shutting down or stopped.
    case nodeStopped
    /// The requested scheduler does not exist.
    case noSuchScheduler(Int, count: Int)

    public var description: String {
        switch self {
        case .startFailed(let pid, let behavior, let reason): "\(behavior) \(pid) failed to start: \(reason)"
        case .nodeStopped: "the node is stopped"
        case .noSuchScheduler(let index, let count): "no scheduler \(index) (the node has \(count))"
        }
    }
}
