import Metrics
import CalfLoop
import Glibc
import Synchronization
import CalfControl

/// A Calf node: schedulers (one loop thread each) hosting processes.
///
/// ```swift
/// let node = try Node()
/// let counter = try await node.spawn(Counter())
/// node.send(.increment, to: counter)
/// let value: Int = try await node.call(counter, .get)
/// try await node.shutdown()
/// ```
///
/// Thread-safe: every method may be called from any thread or task.
public final class Node: Sendable {
    /// What `shutdown()` found.
    public struct ShutdownReport: Sendable, Equatable {
        /// Processes that were alive and were stopped with reason `shutdown`.
        public var processesStopped: Int
        /// libuv handles their owners left open, closed by the loops themselves (0 when nothing leaked).
        public var leakedHandles: Int
    }

    @usableFromInline package let core: NodeCore
    @usableFromInline package let schedulers: [Scheduler]
    package let loops: [EventLoop]
    /// What the metrics' sampling remembers between samples (each scheduler's on its thread).
    package let metricSamples: UncheckedBox<[NodeMetrics.SchedulerSample]>
    private let state = Mutex<RunState>(.running)

    private enum RunState: Sendable { case running, stopping, stopped(ShutdownReport) }

    /// The number of cores this machine offers (the default number of schedulers).
    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Starts a node.
    /// - Parameters:
    ///   - schedulers: scheduler threads, each with its own libuv loop (default: one per core).
    ///   - budget: messages a process may handle per turn before others run (fairness).
    ///   - metrics: where the node reports its figures (default: the backend
    ///     the program bootstrapped, `MetricsSystem.factory`); a node of its
    ///     own per factory, for several nodes in one process or a test.
    ///   - clock: a clock a test moves by hand (`ManualClock`); nil: timers
    ///     go by the system's monotonic clock.
    ///   - balancing: how the schedulers share out the processes (default:
    ///     on, except with a `ManualClock`, whose tests follow each step).
    ///   - mailboxLimit: the bound of a transient process's mailbox whose
    ///     behavior names none (`Behavior.mailboxLimit`); nil: unbounded.
    public init(
        schedulers: Int = Node.coreCount, budget: Int = 100, metrics: (any MetricsFactory)? = nil,
        clock: ManualClock? = nil, balancing: Balancing? = nil, mailboxLimit: MailboxLimit? = nil
    ) throws(LoopError) {
        let count = max(1, schedulers)
        let core = NodeCore(
            metrics: metrics ?? MetricsSystem.factory, clock: clock,
            balancing: balancing ?? (clock == nil ? .automatic : .off), schedulers: count, mailboxLimit: mailboxLimit)
        let made = (0..<count).map { Scheduler(index: $0, node: core, budget: max(1, budget)) }
        let peers = made.map(PeerScheduler.init(scheduler:))
        for scheduler in made { scheduler.peers = peers }
        var loops: [EventLoop] = []
        for scheduler in made {
            do {
                let loop = try EventLoop(name: "calf-sched-\(scheduler.index)", driver: scheduler)
                scheduler.loopOwner = loop
                scheduler.loop = loop
                loops.append(loop)
            } catch {
                for loop in loops { _ = try? loop.shutdown() }
                throw error
            }
        }
        self.core = core
        self.schedulers = made
        self.loops = loops
        metricSamples = UncheckedBox(made.map { NodeMetrics.SchedulerSample(index: $0.index, factory: core.metrics) })
        clock?.drive(made)
        startMetricsSampling()
    }

    /// Not stopping or stopped.
    package var isRunning: Bool {
        state.withLock { state in
            if case .running = state { return true }
            return false
        }
    }

    deinit {
        // A layer and the schedulers may refer to each other; nothing can
        // reach either once the node is gone.
        for layer in core.attachedLayers { layer.nodeDeinit() }
    }

    /// The number of schedulers.
    public var schedulerCount: Int { schedulers.count }

    /// The schedulers the balancer has parked while the load is low (`Balancing`).
    public var parkedSchedulers: [Int] {
        schedulers.filter { $0.parked.load(ordering: .relaxed) }.map(\.index)
    }

    /// The CPU time each scheduler's thread has used so far, by index (nil
    /// for one whose thread has ended).
    public var schedulerCPUTimes: [Duration?] { loops.map { $0.threadCPUTime() } }

    /// Messages that could not be delivered (dead pid, unknown name, or left
    /// in a mailbox when its process ended) since the node started.
    public var deadLetters: Int { core.deadLetterCount }

    // MARK: Spawning

    /// Spawns a process running `behavior` and waits until its start
    /// callbacks ran.
    /// - Parameter scheduler: the scheduler to pin it to (`.pinned`); by
    ///   default it is spread out (`.spread`) and may move.
    /// - Throws: `SpawnError`.
    @inlinable
    public func spawn<B: Behavior>(_ behavior: B, on scheduler: Int? = nil) async throws -> Address<B.Message> {
        try await spawn(behavior, placement: scheduler.map(Placement.pinned) ?? .spread)
    }

    /// Spawns a process running `behavior` where `placement` says and waits
    /// until its start callbacks ran (on that scheduler).
    /// - Throws: `SpawnError`.
    @inlinable
    public func spawn<B: Behavior>(_ behavior: B, placement: Placement) async throws -> Address<B.Message> {
        let target = try pickScheduler(placement)
        return try await withCheckedThrowingContinuation { continuation in
            target.loop.execute {
                do {
                    let address = try target.start(behavior, linkedTo: nil)
                    if case .pinned = placement { address.cell.pinned = true }
                    continuation.resume(returning: address)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    @usableFromInline
    package func pickScheduler(_ placement: Placement) throws(SpawnError) -> Scheduler {
        guard case .running = state.withLock({ $0 }) else { throw .nodeStopped }
        if let requested = placement.requestedIndex {
            guard schedulers.indices.contains(requested) else {
                throw .noSuchScheduler(requested, count: schedulers.count)
            }
            return schedulers[requested]
        }
        return core.spreadTarget(among: schedulers[0].peers)
    }

    /// Moves the process behind `address` to scheduler `index` between its
    /// turns (as the balancer does); false if it is gone, pinned, a kind
    /// that stays put (a port, a supervisor), busy with something that
    /// keeps it where it is now (a durable process being rebuilt, or during
    /// a checkpoint round), moving already, or there already. The move has
    /// begun when this returns true; `settled()` waits until it has ended.
    /// - Throws: `SpawnError.noSuchScheduler` for an index the node lacks.
    public func move<M>(_ address: Address<M>, to index: Int) async throws(SpawnError) -> Bool {
        try await move(address.cell, to: index)
    }

    /// `move(_:to:)` for a process found by name or pid (the operator's `move`).
    package func move(_ cell: ProcessCell, to index: Int) async throws(SpawnError) -> Bool {
        guard schedulers.indices.contains(index) else { throw .noSuchScheduler(index, count: schedulers.count) }
        let target = schedulers[index]
        return await onOwner(of: cell) { scheduler in
            guard scheduler !== target, cell.status == .alive, cell.arrival == nil, !cell.pinned, cell.canMove else { return false }
            scheduler.move(cell, to: target)
            scheduler.flushDepartures()
            return cell.scheduler === target
        }
    }

    // MARK: Messages

    /// Sends `message` to `address` from outside any process.
    /// - Returns: false if the process refused it: a full bounded mailbox
    ///   (`MailboxLimit`), a durable process overloaded or stopping.
    @inlinable @discardableResult
    public func send<M>(_ message: M, to address: Address<M>) -> Bool {
        address.cell.deliverRemote(.message(message))
    }

    /// Sends `message` to the process registered as `name`.
    /// - Returns: false if no process of that message type has the name
    ///   (counted as a dead letter), or the process refused it (see above).
    @discardableResult
    public func send<M: Sendable>(_ message: M, to name: String) -> Bool {
        guard let address: Address<M> = core.lookup(name) else {
            core.countDeadLetter()
            return false
        }
        return address.cell.deliverRemote(.message(message))
    }

    /// Sends `message` as a call and waits for the reply.
    /// - Throws: `CallError` on timeout, if the process is dead or exits
    ///   before replying, or if the reply is not an `R`.
    public func call<M, R: Sendable>(
        _ address: Address<M>, _ message: M, timeout: Duration = .seconds(5), as: R.Type = R.self
    ) async throws(CallError) -> R {
        try await Node.call(address, message, timeout: timeout, as: R.self)
    }

    /// Calls from outside without a `Node` at hand (the reply arrives through
    /// the process's scheduler).
    package static func call<M, R: Sendable>(_ address: Address<M>, _ message: M, timeout: Duration, as: R.Type) async throws(CallError) -> R {
        let result: Result<R, CallError> = await withCheckedContinuation { continuation in
            let slot = ReplySlot { continuation.resume(returning: Node.cast($0)) }
            let scheduler = address.cell.scheduler
            if scheduler.closed.load(ordering: .sequentiallyConsistent) {
                slot.complete(.failure(.noProcess(address.pid.description)))
                return
            }
            scheduler.loop.execute {
                scheduler.addTimer(after: timeout) { _ in slot.complete(.failure(.timeout(timeout))) }
            }
            address.cell.deliverRemote(.call(message, slot))
        }
        return try result.get()
    }

    /// Calls the process registered as `name`.
    public func call<M: Sendable, R: Sendable>(
        _ name: String, _ message: M, timeout: Duration = .seconds(5), as: R.Type = R.self
    ) async throws(CallError) -> R {
        guard let address: Address<M> = core.lookup(name) else { throw .noProcess(name) }
        return try await call(address, message, timeout: timeout, as: R.self)
    }

    package static func cast<R>(_ result: Result<any Sendable, CallError>) -> Result<R, CallError> {
        result.flatMap { value in
            if let typed = value as? R { return .success(typed) }
            return .failure(.unexpectedReply(expected: String(describing: R.self), got: String(describing: type(of: value))))
        }
    }

    // MARK: Ending processes

    /// Asks the process to stop with `reason` once it reaches this request in
    /// its mailbox; its `terminate` runs (gen_server:stop).
    public func stop<M>(_ address: Address<M>, reason: ExitReason = .normal) {
        address.cell.deliverRemote(.stop(reason))
    }

    /// Kills the process at once with reason `killed`; it cannot trap this.
    public func kill<M>(_ address: Address<M>) {
        let cell = address.cell
        Scheduler.post({ $0.exit(cell, reason: .killed) }, toOwnerOf: cell)
    }

    // MARK: Names

    /// Registers `address` under `name`.
    /// - Throws: `NameError` if the name is taken or the process is named or dead.
    public func register<M>(_ name: String, _ address: Address<M>) async throws(NameError) {
        let cell = address.cell
        let core = self.core
        let result: Result<Void, NameError> = await withCheckedContinuation { continuation in
            Scheduler.post({ _ in
                do throws(NameError) {
                    try core.register(name, cell)
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }, toOwnerOf: cell)
        }
        try result.get()
    }

    /// The pid registered as `name`, if any.
    public func whereis(_ name: String) -> Pid? { core.whereis(name)?.pid }

    /// The address registered as `name`, if it takes messages of type `M`.
    public func address<M: Sendable>(named name: String, as: M.Type = M.self) -> Address<M>? {
        core.lookup(name)
    }

    /// All registered names.
    public var registeredNames: [String: Pid] { core.registeredNames }

    // MARK: Inspection

    /// The number of live processes (asks every scheduler). A process
    /// moving between schedulers is in neither table for a moment: the
    /// count is taken again until no move began or was under way meanwhile.
    public func processCount() async -> Int {
        var total = 0
        for _ in 0..<1_000 {
            let before = core.movesBegun.load(ordering: .acquiring)
            total = 0
            for scheduler in schedulers {
                total += await onLoop(scheduler) { $0.processes.count }
            }
            if core.movesInFlight.load(ordering: .acquiring) == 0, core.movesBegun.load(ordering: .acquiring) == before { break }
            await Task.yield()
        }
        return total
    }

    /// The address of live process `pid`, if it takes messages of type `M`.
    public func address<M: Sendable>(of pid: Pid, as: M.Type = M.self) async -> Address<M>? {
        if let found = await findProcess({ ($0.processes[pid] as? MailboxCell<M>).map(Address.init(cell:)) }) { return found }
        // A durable process that left RAM comes back.
        for layer in core.attachedLayers {
            if let cell = await layer.activate(pid.description) as? MailboxCell<M> { return Address(cell: cell) }
        }
        return nil
    }

    /// What `probe` finds on some scheduler (asked in turn on each one's
    /// thread). A process moving between schedulers is in neither table for
    /// a moment: while moves are under way, a miss asks again.
    package func findProcess<T: Sendable>(_ probe: @escaping @Sendable (Scheduler) -> T?) async -> T? {
        for _ in 0..<1_000 {
            for scheduler in schedulers {
                if let found = await onLoop(scheduler, probe) { return found }
            }
            guard core.movesInFlight.load(ordering: .relaxed) != 0 else { return nil }
            await Task.yield()
        }
        return nil
    }

    /// Whether the process behind `address` is alive.
    public func isAlive<M>(_ address: Address<M>) async -> Bool {
        let cell = address.cell
        return await onOwner(of: cell) { _ in cell.status == .alive }
    }

    /// Messages handled so far by the process behind `address`.
    public func messagesHandled<M>(_ address: Address<M>) async -> UInt64 {
        let cell = address.cell
        return await onOwner(of: cell) { _ in cell.handled }
    }

    package func onLoop<T: Sendable>(_ scheduler: Scheduler, _ body: @escaping @Sendable (Scheduler) -> T) async -> T {
        await withCheckedContinuation { continuation in
            scheduler.loop.execute { continuation.resume(returning: body(scheduler)) }
        }
    }

    /// Runs `body` on the thread of the scheduler that owns `cell` (following it if it moves).
    package func onOwner<T: Sendable>(of cell: ProcessCell, _ body: @escaping @Sendable (Scheduler) -> T) async -> T {
        await withCheckedContinuation { continuation in
            Scheduler.post({ continuation.resume(returning: body($0)) }, toOwnerOf: cell)
        }
    }

    // MARK: Shutdown

    /// Stops every process with reason `shutdown` (their `terminate` runs),
    /// then stops the schedulers and closes every libuv handle.
    /// - Throws: `LoopError` if a loop could not be closed.
    @discardableResult
    public func shutdown() async throws(LoopError) -> ShutdownReport {
        let mine = state.withLock { state -> Bool in
            guard case .running = state else { return false }
            state = .stopping
            return true
        }
        guard mine else {
            while true {
                if case .stopped(let report) = state.withLock({ $0 }) { return report }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        // No process moves from here on: each is in its scheduler's table when they are stopped.
        core.acceptsMoves.store(false, ordering: .relaxed)
        for _ in 0..<10_000 where core.movesInFlight.load(ordering: .relaxed) != 0 {
            try? await Task.sleep(for: .milliseconds(1))
        }
        let layers = core.attachedLayers
        // The layer attached last first: supervision stops its trees, then
        // the durable layer takes its last checkpoint.
        for layer in layers.reversed() { await layer.nodeWillStopProcesses() }
        var stopped = 0
        for scheduler in schedulers {
            stopped += await onLoop(scheduler) { scheduler in
                // Stopping some processes starts others (a supervisor's child
                // reaper): each is stopped once, until no new one appears.
                var stopped: Set<ObjectIdentifier> = []
                while true {
                    let fresh = scheduler.processes.values.filter { stopped.insert(ObjectIdentifier($0)).inserted }
                    if fresh.isEmpty { break }
                    for cell in fresh { scheduler.terminate(cell, reason: .shutdown) }
                }
                return stopped.count
            }
        }
        var leaked = 0
        for (loop, scheduler) in zip(loops, schedulers) {
            leaked += try loop.shutdown().handlesClosedAtStop
            scheduler.close()
        }
        for layer in layers.reversed() { await layer.nodeDidStop() }
        let report = ShutdownReport(processesStopped: stopped, leakedHandles: leaked)
        state.withLock { $0 = .stopped(report) }
        return report
    }
}
