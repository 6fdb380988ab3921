import CalfStore
import Synchronization
import CalfControl
import CalfRuntime

/// The durable effects of a node's processes that are under way: what each
/// is (its record, for the snapshots and the shell) and the task running it.
/// An effect enters once its `effectStarted` record has committed, and leaves
/// when its completion (with an `effectFinished` record) commits, when its
/// process cancels it or exits for good. A node that stops cancels the tasks
/// and keeps the records: the effects are still under way as far as the
/// journal knows, and run again after the next start.
///
/// Thread-safe: the table is a `Mutex`; tasks run on Swift's concurrency pool.
package final class EffectRunner: Sendable {
    /// A class, changed in place under its shard's lock (a struct this
    /// size would be moved in and out of the table on every change).
    private final class Running {
        let record: EffectRecord
        /// Nil until its task is made (and for an effect entered with none).
        var task: Task<Void, Never>?
        /// Its completion is on its way to the journal: no other is taken.
        var completing = false
        /// How far its retries are (on its first attempt once its task runs).
        var progress: EffectProgress

        init(record: EffectRecord, running: Bool) {
            self.record = record
            progress = EffectProgress(attempts: running ? 1 : 0, lastFailure: nil, nextAttemptAt: nil)
        }
    }
    private typealias Table = [UInt64: [UInt64: Running]]
    /// By pid, in shards (each effect takes its shard's lock twice: at its start and its end).
    private final class Shard: Sendable {
        let table = Mutex(Table())
    }
    private let shards: [Shard] = (0..<EffectRunner.shardCount).map { _ in Shard() }
    private static let shardCount = 32
    private let count = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)

    /// What the effects work with.
    private let services: EffectServices

    package init(running: Bool, services: EffectServices) {
        self.services = services
        stopped.store(!running, ordering: .relaxed)
    }

    /// Effects under way, over all processes.
    package var underWay: Int { count.load(ordering: .relaxed) }

    /// The effects of process `pid` under way, in id order (a snapshot keeps them).
    package func pending(of pid: UInt64) -> [EffectRecord] {
        guard count.load(ordering: .relaxed) > 0 else { return [] }
        return shard(pid).table.withLock { table in
            (table[pid]?.values.map(\.record) ?? []).sorted { $0.id < $1.id }
        }
    }

    /// Every effect under way (of `pid` only, if given), with how far it is, in (pid, id) order.
    package func underWay(of pid: UInt64? = nil) -> [(pid: UInt64, record: EffectRecord, progress: EffectProgress)] {
        guard count.load(ordering: .relaxed) > 0 else { return [] }
        var found: [(pid: UInt64, record: EffectRecord, progress: EffectProgress)] = []
        for shard in pid.map({ [self.shard($0)] }) ?? shards {
            shard.table.withLock { table in
                for (owner, running) in table where pid == nil || owner == pid {
                    for entry in running.values { found.append((owner, entry.record, entry.progress)) }
                }
            }
        }
        return found.sorted { ($0.pid, $0.record.id) < ($1.pid, $1.record.id) }
    }

    /// Starts `effect` of process `pid`, whose record has committed; its
    /// outcome goes to `core` to be journaled for the process.
    package func start<E: DurableEffect>(_ effect: E, record: EffectRecord, pid: UInt64, for cell: any EffectCompletionTaking) {
        let running = !stopped.load(ordering: .sequentiallyConsistent)
        let entry = shard(pid).table.withLock { table -> ObjectIdentifier in
            if table[pid]?[record.id] == nil { count.wrappingAdd(1, ordering: .relaxed) }
            let entry = Running(record: record, running: running)
            table[pid, default: [:]][record.id] = entry
            return ObjectIdentifier(entry)
        }
        guard running else { return }
        // Made outside the lock (an inline start may complete the effect
        // before it returns, and completing takes the lock), then kept
        // with its entry; an entry ended meanwhile (cancelled, its process
        // gone) has its task cancelled here instead.
        let task = task(running: effect, record: record, pid: pid, for: cell)
        let kept = shard(pid).table.withLock { table -> Bool in
            guard let current = table[pid]?[record.id], ObjectIdentifier(current) == entry else { return false }
            current.task = task
            return true
        }
        if !kept { task.cancel() }
    }

    private func task<E: DurableEffect>(running effect: E, record: EffectRecord, pid: UInt64, for cell: any EffectCompletionTaking) -> Task<Void, Never> {
        if E.startsInline {
            return Task.immediate { [self] in await run(effect, record: record, pid: pid, for: cell) }
        }
        return Task.detached { [self] in await run(effect, record: record, pid: pid, for: cell) }
    }

    /// Runs `effect` to its outcome and hands that on (unless cancelled).
    private func run<E: DurableEffect>(_ effect: E, record: EffectRecord, pid: UInt64, for cell: any EffectCompletionTaking) async {
        let outcome = await EffectRetries.run(
            policy: record.policy, key: record.key, startedAt: WallTime(nanosecondsSinceEpoch: record.startedAt), services: services,
            progress: { [self] progress in shard(pid).table.withLock { $0[pid]?[record.id]?.progress = progress } }
        ) { attempt in
            try await effect.run(attempt)
        }
        // Cancelled: the node stops (it runs again after the start), or
        // the process cancelled it or exited for good.
        guard !Task.isCancelled else { return }
        let completion: EffectCompletion
        switch outcome.result {
        case .success(let output):
            do {
                let json = try DurableJSON.encode(output)
                completion = EffectCompletion(effect: EffectRef(id: record.id), name: record.name, key: record.key, attempts: outcome.attempts,
                                              output: String(decoding: json, as: UTF8.self), failure: nil)
            } catch {
                completion = Self.failed(record, EffectFailure(kind: "unencodable", message: "its output does not encode as JSON: \(error)", terminal: true, attempts: outcome.attempts))
            }
        case .failure(let failure):
            completion = Self.failed(record, failure)
        }
        complete(completion, of: pid, to: cell)
    }

    /// Starts again, after a node start, an effect the journal says is under
    /// way; one of a type the node does not know (or that no longer decodes)
    /// completes at once with that failure.
    package func resume(_ record: EffectRecord, pid: UInt64, of cell: any EffectCompletionTaking, core: DurableCore) {
        guard let type = core.effectTypes[record.name] else {
            enter(record, pid: pid)
            let failure = EffectFailure(kind: "unknown effect", message: "no effect named '\(record.name)' is registered with this node", terminal: true, attempts: 0)
            if !stopped.load(ordering: .sequentiallyConsistent) { complete(Self.failed(record, failure), of: pid, to: cell) }
            return
        }
        do {
            try resume(type, record, pid: pid, of: cell, core: core)
        } catch {
            let failure = EffectFailure(kind: "undecodable", message: "the journaled effect does not decode as \(type): \(error)", terminal: true, attempts: 0)
            enter(record, pid: pid)
            if !stopped.load(ordering: .sequentiallyConsistent) { complete(Self.failed(record, failure), of: pid, to: cell) }
        }
    }

    private func resume<E: DurableEffect>(_ type: E.Type, _ record: EffectRecord, pid: UInt64, of cell: any EffectCompletionTaking, core: DurableCore) throws {
        let effect = try DurableDecoding.with(core) { try JournalCodec<E>().decode(from: record.payload) }
        start(effect, record: record, pid: pid, for: cell)
    }

    /// Hands `completion` to its process to be journaled; one whose
    /// messages cannot carry it is told of, and the effect forgotten.
    ///
    /// Deduplicated: a completion is taken only while the effect is under
    /// way and no other completion of it is on its way, and its
    /// `effectFinished` record commits with it; a node start brings back
    /// only effects with no completion in the journal. So however often an
    /// effect ran around crashes, its process takes one completion.
    private func complete(_ completion: EffectCompletion, of pid: UInt64, to cell: any EffectCompletionTaking) {
        let claimed = shard(pid).table.withLock { table -> Bool in
            guard let running = table[pid]?[completion.effect.id], !running.completing else { return false }
            running.completing = true
            return true
        }
        guard claimed, !cell.takeEffectCompletion(completion) else { return }
        reportProblem("durable process \(Pid(serial: pid)) asked for an effect but its messages cannot carry the completion", level: .error)
        ended(pid, completion.effect.id)
    }

    private func shard(_ pid: UInt64) -> Shard {
        shards[Int(truncatingIfNeeded: (pid &* 0x9E37_79B9_7F4A_7C15) >> 59) & (Self.shardCount - 1)]
    }

    /// Notes `record` of `pid` as under way (no task).
    private func enter(_ record: EffectRecord, pid: UInt64) {
        shard(pid).table.withLock { table in
            if table[pid]?[record.id] == nil { count.wrappingAdd(1, ordering: .relaxed) }
            table[pid, default: [:]][record.id] = Running(record: record, running: false)
        }
    }

    private static func failed(_ record: EffectRecord, _ failure: EffectFailure) -> EffectCompletion {
        EffectCompletion(effect: EffectRef(id: record.id), name: record.name, key: record.key, attempts: failure.attempts, output: nil, failure: failure)
    }

    /// Effect `id` of `pid` ended (its completion committed, or it was cancelled): forgotten, its task cancelled.
    package func ended(_ pid: UInt64, _ id: UInt64) {
        let task = shard(pid).table.withLock { table -> Task<Void, Never>?? in
            guard let running = table[pid]?.removeValue(forKey: id) else { return nil }
            if table[pid]?.isEmpty == true { table[pid] = nil }
            count.wrappingSubtract(1, ordering: .relaxed)
            return .some(running.task)
        }
        if let task { task?.cancel() }
    }

    /// Process `pid` exited for good: its effects are cancelled and forgotten.
    package func endAll(of pid: UInt64) {
        let tasks = shard(pid).table.withLock { table -> [Task<Void, Never>] in
            guard let running = table.removeValue(forKey: pid) else { return [] }
            count.wrappingSubtract(running.count, ordering: .relaxed)
            return running.values.compactMap(\.task)
        }
        for task in tasks { task.cancel() }
    }

    /// The node stops: every task is cancelled, the records stay (the
    /// journal still has these effects under way), nothing more starts.
    package func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        var tasks: [Task<Void, Never>] = []
        for shard in shards {
            shard.table.withLock { table in
                for running in table.values { tasks.append(contentsOf: running.values.compactMap { $0.task }) }
            }
        }
        for task in tasks { task.cancel() }
    }
}
