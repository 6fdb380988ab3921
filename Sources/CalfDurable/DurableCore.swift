import Metrics
import CalfLoop
import CalfStore
import Glibc
import Synchronization
import CalfControl
import CalfRuntime

/// A node's durable machinery: the journal, its writer, the behaviors the
/// node can rebuild, and the table of durable processes.
///
/// Thread-safe: `table` is a `Mutex`; `schedulers` is set once before any
/// process runs; the writer owns its own state (see `CommitWriter`).
@usableFromInline
package final class DurableCore: @unchecked Sendable {
    package let options: DurableOptions
    package let journal: Journal
    @usableFromInline package let writer: CommitWriter
    @usableFromInline package let writerLoop: EventLoop
    package let registry: [String: any DurableBehavior.Type]
    /// Effect types this node can run again after a restart, by `effectName`.
    package let effectTypes: [String: any DurableEffect.Type]
    /// The same types' names, by type (what `perform` looks up: no name to make).
    package let effectNames: [ObjectIdentifier: String]
    /// The codec of each effect type (a `JournalCodec<E>`, made once: making
    /// one names its type, a demangling, which per effect was a cost).
    package let effectCodecs: [ObjectIdentifier: any Sendable]

    private static func codec<E: DurableEffect>(of type: E.Type) -> any Sendable { JournalCodec<E>() }

    /// The registered behaviors' message and state types' `JournalCodable`
    /// conformances, looked up once (see `codec(_:)`).
    private let codecConformances: [ObjectIdentifier: (any JournalCodable.Type)?]

    private static func conformances<B: DurableBehavior>(of _: B.Type) -> [(ObjectIdentifier, (any JournalCodable.Type)?)] {
        [(ObjectIdentifier(B.Message.self), JournalCodec<B.Message>().conformance),
         (ObjectIdentifier(B.State.self), JournalCodec<B.State>().conformance)]
    }

    /// The codec of `V`: a registered behavior's message or state type's
    /// without a conformance lookup, any other type's with one.
    package func codec<V: Codable>(_: V.Type = V.self) -> JournalCodec<V> {
        guard let known = codecConformances[ObjectIdentifier(V.self)] else { return JournalCodec<V>() }
        return JournalCodec<V>(conformance: known)
    }

    /// The codec of effect type `E`.
    package func effectCodec<E: DurableEffect>(_ type: E.Type) -> JournalCodec<E> {
        effectCodecs[ObjectIdentifier(E.self)] as? JournalCodec<E> ?? JournalCodec<E>()
    }
    /// The durable effects under way.
    package let effects: EffectRunner
    /// Callbacks whose delivery is on its way to the journal, by ledger key
    /// (a second POST of one waits for the first's commit).
    package let callbackClaims = Mutex(Set<StoreKey>())
    /// POSTs to callbacks answered 410 and 409, by ledger key, since the node started.
    package let callbackRefusals = Mutex([StoreKey: (late: Int, conflicting: Int)]())
    /// What callback URLs start with (`DurableOptions.callbackBase`, or
    /// what `Node.setCallbackBase` set once the HTTP API listened).
    package let callbackBase = Mutex("")
    // invariant: set once in Node's init, before any durable process exists.
    package nonisolated(unsafe) var schedulers: [Scheduler] = []
    package let table = Mutex(Table())
    /// Top-level spawns take pid numbers above the log's end at start.
    private let nextTopLevel: Atomic<UInt64>
    /// While a process quarantined at start has no cell, the log scan must
    /// keep starting at or before this seq (its mail is only in the log).
    package let pinnedScanFrom: Atomic<UInt64>
    package let nextRound = Atomic<UInt64>(1)
    /// Keeps moves of durable processes and checkpoint rounds apart.
    package let moveGate = DurableMoveGate()
    /// Set once the node has stopped: spawns and messages from outside are refused at once.
    @usableFromInline package let closed = Atomic<Bool>(false)
    // invariant: touched on the writer's loop thread, and by close() after that loop stopped.
    package nonisolated(unsafe) var checkpointTimer: LoopTimer?
    // invariant: set once by Node's init after recovery, read afterwards.
    package nonisolated(unsafe) var recoveryReport: RecoveryReport?

    package struct Table {
        package var cells: [Pid: ProcessCell] = [:]
        package var names: [String: Pid] = [:]
        /// Named processes with their message type, for typed lookups without a dynamic cast.
        package var named: [String: (cell: ProcessCell, messageType: ObjectIdentifier)] = [:]
        package var quarantined: [Pid: String] = [:]
        /// Processes that left RAM (passivation), by pid.
        package var passive: [Pid: PassiveEntry] = [:]
        /// Supervisors told of restarts in place.
        package var guardians: [Pid: DurableGuardian] = [:]
        package var restarts = 0
        package var deadLettered = 0
    }

    /// This node's hold on its data directory (nil: a copy being inspected).
    package let lock: DataDirectoryLock?
    /// The journal's gauges and counters in swift-metrics.
    package let logSample: DurableMetrics.LogSample

    package init(options: DurableOptions, journal: Journal, writer: CommitWriter, writerLoop: EventLoop, lock: DataDirectoryLock?, metrics: any MetricsFactory) {
        self.lock = lock
        logSample = DurableMetrics.LogSample(metrics)
        self.options = options
        self.journal = journal
        self.writer = writer
        self.writerLoop = writerLoop
        var registry: [String: any DurableBehavior.Type] = [:]
        for type in options.behaviors { registry[type.behaviorName] = type }
        self.registry = registry
        codecConformances = Dictionary(options.behaviors.flatMap { Self.conformances(of: $0) }) { first, _ in first }
        var effectTypes: [String: any DurableEffect.Type] = [:]
        for type in options.effects + options.behaviors.flatMap({ $0.effects }) where effectTypes[type.effectName] == nil {
            effectTypes[type.effectName] = type
        }
        self.effectTypes = effectTypes
        effectNames = Dictionary(effectTypes.map { (ObjectIdentifier($0.value), $0.key) }) { first, _ in first }
        effectCodecs = Dictionary(effectTypes.values.map { (ObjectIdentifier($0), Self.codec(of: $0)) }) { first, _ in first }
        effects = EffectRunner(running: !options.inspecting, services: options.services)
        callbackBase.withLock { $0 = options.callbackBase }
        nextTopLevel = Atomic(journal.lastSeq + 1)
        pinnedScanFrom = Atomic(.max)
    }

    /// The scheduler a durable pid lives on (the same after every restart).
    package func scheduler(for pid: Pid) -> Scheduler {
        var mixed = pid.serial &* 0x9E37_79B9_7F4A_7C15
        mixed ^= mixed >> 29
        return schedulers[Int(mixed % UInt64(schedulers.count))]
    }

    package func submit(_ batch: CommitBatch) {
        writer.submit(batch, wake: writerLoop)
    }

    // MARK: Ingress

    /// Journals `message` for `cell` from outside any durable process; once
    /// committed it is delivered, then `ack` learns the outcome.
    /// - Returns: false if it was refused at once (the node stopping, a key
    ///   too long, the process over its mailbox limit, the writer's queue
    ///   full, a message that does not encode): `ack` heard why already.
    @inlinable @discardableResult
    package func ingress<M: Codable & Sendable>(
        _ message: M, to cell: DurableCellBase<M>, key: String?, slot: ReplySlot?,
        ack: @escaping @Sendable (IngressResult) -> Void
    ) -> Bool {
        func refuse(_ refusal: IngressRefusal) -> Bool {
            slot?.complete(.failure(.notAccepted(refusal)))
            ack(.failed(refusal))
            return false
        }
        if let refusal = refusalAtOnce(key: key) { return refuse(refusal) }
        // Counted before it goes to the writer, so that senders racing for the last places cannot all take them.
        if cell.outsideBacklog.wrappingAdd(1, ordering: .relaxed).newValue > cell.outsideLimit {
            cell.outsideBacklog.subtract(1, ordering: .relaxed)
            cell.outsideRefused.wrappingAdd(1, ordering: .relaxed)
            return refuse(overloaded("\(cell.pid) has \(cell.outsideLimit) messages from outside not yet handled (its mailbox limit)"))
        }
        let acceptedAt = cell.scheduler.node.wallNow.nanosecondsSinceEpoch
        let tell: @Sendable (IngressResult) -> Void
        if let slot {
            tell = { result in
                if case .failed(let reason) = result { slot.complete(.failure(.notAccepted(reason))) }
                if case .duplicate(let seq) = result { slot.complete(.failure(.notAccepted(.duplicateCall(seq: seq)))) }
                ack(result)
            }
        } else {
            tell = ack
        }
        let deliver = CommittedMail(message, acceptedAt: acceptedAt, slot: slot, for: cell, fromOutside: true)
        if let refusal = submitFromOutside(message, to: cell.pid.serial, codec: cell.codec, key: key, acceptedAt: acceptedAt, deliver: deliver, ack: tell) {
            cell.outsideBacklog.subtract(1, ordering: .relaxed)
            return refuse(refusal)
        }
        return true
    }

    /// Why mail from outside is refused before anything else is looked
    /// at (the node stopping, a key too long to keep), or nil.
    @inlinable
    package func refusalAtOnce(key: String?) -> IngressRefusal? {
        guard !closed.load(ordering: .sequentiallyConsistent) else { return .stopped }
        if let key, let refusal = Self.refusal(ofKey: key) { return refusal }
        return nil
    }

    /// Writes the accepted record of `message` from outside for pid
    /// serial `to` straight into the writer's queue (no array of its own);
    /// `deliver` is released once it commits, `ack` hears the outcome.
    /// - Returns: why it was refused (the writer's queue full, a message
    ///   that does not encode), or nil once queued.
    @inlinable
    package func submitFromOutside<M: Codable & Sendable>(
        _ message: M, to: UInt64, codec: JournalCodec<M>, key: String?, acceptedAt: UInt64,
        deliver: any CommittedDelivery, ack: @escaping @Sendable (IngressResult) -> Void
    ) -> IngressRefusal? {
        do {
            try writer.submit(key: key, acceptedAt: acceptedAt, deliver: deliver, ack: ack, wake: writerLoop) { bytes in
                _ = try AcceptedRecord.append(to: to, key: key, acceptedAt: acceptedAt, into: &bytes) { bytes in
                    try codec.encode(message, appendingTo: &bytes)
                }
            }
        } catch {
            return error is WriterQueueFull ? writerQueueFull() : .badMessage("cannot encode the message: \(error)")
        }
        return nil
    }

    /// The refusal of mail from outside when the writer's queue is full.
    @usableFromInline
    package func writerQueueFull() -> IngressRefusal {
        overloaded("the journal's writer has \(options.writerQueueLimit) messages from outside waiting for a commit (its queue's limit)")
    }

    /// The refusal of mail from outside when too much waits already.
    @usableFromInline
    package func overloaded(_ why: String) -> IngressRefusal {
        .overloaded(why: why, retryAfter: options.overloadRetryAfter)
    }

    /// Why `key` cannot be taken (too long to keep), or nil.
    @usableFromInline
    package static func refusal(ofKey key: String) -> IngressRefusal? {
        guard !IdempotencyKeys.fits(key) else { return nil }
        return .badMessage("an idempotency key is at most \(IdempotencyKeys.maximumLength) bytes; this one has \(key.utf8.count)")
    }

    // MARK: Spawning

    /// A cell for `behavior` with its initial state, not yet started.
    package func makeCell<C: DurableBehavior>(_ behavior: C, pid: Pid, name: String?) throws -> DurableCell<C> {
        let spec: [UInt8]
        do {
            spec = try BinaryEncoder().encode(behavior)
        } catch {
            throw DurableError.unencodable("cannot encode the behavior \(C.behaviorName): \(error)")
        }
        let state = try behavior.initialState()
        return DurableCell(behavior: behavior, spec: spec, state: state, pid: pid, scheduler: scheduler(for: pid), durable: self, name: name)
    }

    /// The commit entries of a spawn: its record, its name, its start after the commit.
    package func spawnEntries<C: DurableBehavior>(for cell: DurableCell<C>, parent: Pid?) -> [CommitEntry] {
        let detail = SpawnDetail(behavior: C.behaviorName, spec: cell.spec, name: cell.name, parent: parent?.serial ?? 0)
        var entries: [CommitEntry] = [.record(LogRecord.lifecycle(pid: cell.pid.serial, event: .spawned, detail: detail.encoded()).encoded(), deliver: nil)]
        if let name = cell.name {
            let names = journal.names
            let pid = cell.pid.serial
            entries.append(.write { txn in try txn.put(names, key: StoreKey(name), value: StoreKey(pid).bytes) })
        }
        // Entered in the table at once (lookups by name from any thread find it), put to work on its scheduler.
        entries.append(.release { [self] in enter(cell) })
        entries.append(.releaseOn(cell.scheduler) { [self] in putToWork(cell) })
        return entries
    }

    /// The commit entries of a process's exit for good.
    package func exitEntries(for cell: ProcessCell, reason: ExitReason) -> [CommitEntry] {
        let pid = cell.pid.serial
        let checkpoints = journal.checkpoints
        let names = journal.names
        let name = cell.relations?.name
        let effects = self.effects
        return [
            .record(LogRecord.lifecycle(pid: pid, event: .exited, detail: Array(reason.description.utf8)).encoded(), deliver: nil),
            .write { txn in
                _ = try txn.delete(checkpoints, key: StoreKey(pid))
                if let name { _ = try txn.delete(names, key: StoreKey(name)) }
            },
            // Its effects under way end with it.
            .release { effects.endAll(of: pid) },
        ]
    }

    /// Enters `cell` in the table of durable processes (and its name),
    /// with `also` done to the table under the same lock.
    package func enter(_ cell: ProcessCell & DurableNamed, also: (inout Table) -> Void = { _ in }) {
        table.withLock { table in
            also(&table)
            table.cells[cell.pid] = cell
            if let name = cell.durableName {
                table.names[name] = cell.pid
                table.named[name] = (cell, cell.messageType)
            }
        }
    }

    /// The durable process registered as `name` if it takes messages of type `M`.
    @usableFromInline package func cell<M>(named name: String, taking: M.Type) -> MailboxCell<M>? {
        let found = table.withLock { $0.named[name] }
        guard let found, found.messageType == ObjectIdentifier(M.self) else { return nil }
        // invariant: a durable cell entered with message type M is a MailboxCell<M>.
        return unsafeDowncast(found.cell, to: MailboxCell<M>.self)
    }

    /// Enters `cell` in the table and puts it to work on its scheduler (any thread; recovery).
    package func start<M>(_ cell: DurableCellBase<M>, timers: [DurableTimer] = []) {
        enter(cell)
        cell.scheduler.loop.execute { [self] in putToWork(cell, timers: timers) }
    }

    /// Puts `cell` to work (its scheduler's thread): in the scheduler's
    /// table, named, its timers armed, runnable if mail waits.
    package func putToWork<M>(_ cell: DurableCellBase<M>, timers: [DurableTimer] = []) {
        let scheduler = cell.scheduler
        scheduler.processes[cell.pid] = cell
        scheduler.durableScheduling.add(cell)
        if let name = cell.name {
            do throws(NameError) {
                // (Back from passivation, it takes its name back from its stand-in.)
                try scheduler.node.register(name, cell, replacingSamePid: true)
            } catch {
                reportProblem("durable process \(cell.pid) could not take its name: \(error)")
            }
        }
        if options.inspecting {
            cell.suspended = true
            return
        }
        if cell.passivateAfterNanoseconds > 0 {
            // Looked at four times per passivateAfter, between 1 ms and 1 s apart.
            let period = min(max(cell.passivateAfterNanoseconds / 4, 1_000_000), 1_000_000_000)
            scheduler.durableScheduling.sweep(every: .nanoseconds(Int64(period)), on: scheduler)
        }
        for timer in timers { cell.addCommittedTimer(timer) }
        if cell.phase == .running, cell.mailboxCount > 0, !cell.scheduled { scheduler.makeRunnable(cell) }
    }

    /// Spawns a durable process from outside: allocates its pid, journals
    /// the spawn, starts it once committed.
    package func spawn<B: DurableBehavior>(_ behavior: B, name: String?) async throws -> Address<B.Message> {
        let cell = try makeTopLevelCell(behavior, name: name)
        let failure: String? = await withCheckedContinuation { continuation in
            let batch = CommitBatch()
            batch.entries.append(contentsOf: spawnEntries(for: cell, parent: nil))
            // Committed: the answer comes from its scheduler, after it was put to work there.
            batch.entries.append(.releaseOn(cell.scheduler) { continuation.resume(returning: nil) })
            batch.entries.append(.outcome { failure in if let failure { continuation.resume(returning: failure) } })
            submit(batch)
        }
        if let failure {
            if let name { _ = table.withLock { $0.names.removeValue(forKey: name) } }
            throw DurableError.notAccepted(failure)
        }
        return Address(cell: cell)
    }

    /// A cell for a spawn from outside any durable process: the node is
    /// running, `name` is held for it, its pid comes after the log's end.
    /// - Throws: `DurableError` (stopped, name taken), or `initialState()`'s error.
    package func makeTopLevelCell<B: DurableBehavior>(_ behavior: B, name: String?) throws -> DurableCell<B> {
        guard !closed.load(ordering: .sequentiallyConsistent) else { throw DurableError.notAccepted("the node is stopped") }
        if let name {
            let holder: Pid? = table.withLock { table in
                if let existing = table.names[name] { return existing }
                table.names[name] = Pid(serial: 0)
                return nil
            }
            if let holder { throw DurableError.nameTaken(name, by: holder) }
        }
        do {
            return try makeCell(behavior, pid: Pid(durableSeq: nextTopLevel.wrappingAdd(1, ordering: .relaxed).oldValue, index: 0), name: name)
        } catch {
            if let name { _ = table.withLock { $0.names.removeValue(forKey: name) } }
            throw error
        }
    }

    /// Spawns a durable process from a scheduler's thread without waiting:
    /// its spawn joins the scheduler's commit batch and it starts once that
    /// commits (what a supervisor does for a durable child).
    package func spawnFromLoop<B: DurableBehavior>(_ behavior: B, name: String?, on scheduler: Scheduler) throws -> DurableCell<B> {
        let cell = try makeTopLevelCell(behavior, name: name)
        scheduler.durableBatch.entries.append(contentsOf: spawnEntries(for: cell, parent: nil))
        return cell
    }

    /// The address of durable process `pid` for replay of a spawn, or of a
    /// dead stand-in when it has exited since.
    package func existingOrDeadAddress<C: DurableBehavior>(_ pid: Pid, behavior: C) -> Address<C.Message> {
        if let cell = table.withLock({ $0.cells[pid] }) as? MailboxCell<C.Message> { return Address(cell: cell) }
        let placeholder = DurableCellBase<C.Message>(pid: pid, scheduler: scheduler(for: pid), durable: self, name: nil)
        placeholder.status = .dead
        return Address(cell: placeholder)
    }

    // MARK: Bookkeeping

    package func forget(_ cell: ProcessCell & DurableNamed) {
        table.withLock { table in
            guard table.cells[cell.pid] === cell else { return }
            table.cells[cell.pid] = nil
            table.guardians[cell.pid] = nil
            if let name = cell.durableName, table.names[name] == cell.pid {
                table.names[name] = nil
                table.named[name] = nil
            }
        }
    }

    /// Forgets a process that could not be revived.
    package func forget(_ pid: Pid) {
        table.withLock { table in
            guard let cell = table.cells.removeValue(forKey: pid) else { return }
            if let name = (cell as? DurableNamed)?.durableName, table.names[name] == pid {
                table.names[name] = nil
                table.named[name] = nil
            }
        }
    }

    package func noteQuarantine(_ pid: Pid, reason: String) {
        table.withLock { $0.quarantined[pid] = reason }
        reportProblem("durable process \(pid) is quarantined: \(reason)", level: .error, ["pid": "\(pid)"])
    }

    package func noteRestart(_ pid: Pid) {
        table.withLock { $0.restarts += 1 }
    }

    package var quarantined: [Pid: String] { table.withLock { $0.quarantined } }

    /// The quarantined process that holds `name` without a cell, and why.
    package func quarantinedHolder(of name: String) -> (pid: Pid, reason: String)? {
        table.withLock { table in
            guard table.named[name] == nil, let pid = table.names[name], let reason = table.quarantined[pid] else { return nil }
            return (pid, reason)
        }
    }
    package var restarts: Int { table.withLock { $0.restarts } }
    package var deadLettered: Int { table.withLock { $0.deadLettered } }

    package func cell(_ pid: Pid) -> ProcessCell? { table.withLock { $0.cells[pid] } }

    /// The durable process `pid`, as the operator asks of it.
    package func inspectable(_ pid: Pid) -> (any InspectableDurableProcess)? { cell(pid) as? any InspectableDurableProcess }

    package func cell(named name: String) -> ProcessCell? {
        table.withLock { table in table.names[name].flatMap { table.cells[$0] } }
    }
}

/// Runs `done` after `count` ticks (any thread).
package final class Countdown: Sendable {
    private let left: Atomic<Int>
    private let done: (@Sendable () -> Void)?

    package init(count: Int, done: (@Sendable () -> Void)?) {
        left = Atomic(count)
        self.done = done
    }

    package func tick() {
        if left.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done?() }
    }
}
