import Metrics
import CalfLoop
import CalfStore
import Dispatch
import CalfControl
import CalfRuntime

extension Node {
    /// Starts a node on a data directory (the public one is in `Calf`, which
    /// knows every layer): `beforeRecovery` runs with the directory's path
    /// once the node holds it and before anything in it is read (a layer
    /// above cleans up after a killed predecessor).
    package convenience init(
        schedulers: Int, budget: Int, durable options: DurableOptions, metrics: (any MetricsFactory)?,
        clock: ManualClock?, beforeRecovery: (String) -> Void
    ) throws {
        try self.init(schedulers: schedulers, budget: budget, metrics: metrics, clock: clock)
        do {
            // The directory is this node's (its lock) before anything in it is touched.
            let durable = try DurableCore.open(options, schedulerCount: self.schedulers.count, metrics: core.metrics, clock: core.clock)
            if !options.inspecting { beforeRecovery(options.path) }
            durable.schedulers = self.schedulers
            durable.writer.node = core
            core.attach(durable)
            let report = try durable.recover()
            durable.recoveryReport = report
            // Wait until every recovered process has been put to work.
            let started = DispatchSemaphore(value: 0)
            for scheduler in self.schedulers {
                scheduler.loop.execute { started.signal() }
            }
            for _ in self.schedulers { started.wait() }
            if !options.inspecting { durable.startCheckpoints() }
        } catch {
            for loop in loops { _ = try? loop.shutdown() }
            if let durable = core.durable {
                _ = try? durable.writerLoop.shutdown()
                durable.journal.environment.close()
                durable.lock?.release()
            }
            throw error
        }
    }

    package func requireDurable() throws(DurableError) -> DurableCore {
        guard let durable = core.durable else { throw .notDurableNode }
        return durable
    }

    /// What the start found in the data directory (nil for a node without one).
    public var recoveryReport: RecoveryReport? { core.durable?.recoveryReport }

    /// Spawns a durable process, optionally registered as `name`; returns
    /// once its spawn is committed.
    /// - Throws: `DurableError` (name taken, not accepted), or the error of
    ///   the behavior's `initialState()`.
    public func spawnDurable<B: DurableBehavior>(_ behavior: B, name: String? = nil) async throws -> Address<B.Message> {
        try await requireDurable().spawn(behavior, name: name)
    }

    /// The durable process registered as `name` if there is one running `B`,
    /// else a new one spawned with that name (what booting a tree does on
    /// every start: the journal brought the process back already).
    public func ensureDurable<B: DurableBehavior>(_ behavior: B, name: String) async throws -> Address<B.Message> {
        let durable = try requireDurable()
        // (A passivated one is brought back.)
        if let existing = await durable.activeCell(name) {
            guard let typed = existing as? DurableCell<B> else {
                throw DurableError.nameTaken(name, by: existing.pid)
            }
            return Address(cell: typed)
        }
        return try await durable.spawn(behavior, name: name)
    }

    /// Sends `message` to a durable process with an idempotency key and
    /// returns once it is committed: `.accepted`, or `.duplicate` if a
    /// message with that key was accepted within the retention window.
    public func send<M: Codable & Sendable>(_ message: M, to address: Address<M>, key: String?) async -> IngressResult {
        guard let cell = address.cell as? DurableCellBase<M>, let durable = core.durable else {
            return .failed(.notDurable(address.pid))
        }
        return await withCheckedContinuation { continuation in
            durable.ingress(message, to: cell, key: key, slot: nil) { continuation.resume(returning: $0) }
        }
    }

    /// The data directory of a durable node (nil for a transient one).
    public var dataDirectory: String? { core.durable?.options.path }

    /// Runs a checkpoint round now (every changed process snapshotted) and
    /// waits for its commit.
    public func checkpoint() async throws {
        try await requireDurable().checkpoint()
    }

    /// The state of durable process `address` running `B` (a copy, read on its thread).
    /// A passivated process is brought back (the address may be of the cell it left behind).
    public func state<B: DurableBehavior>(of address: Address<B.Message>, as behavior: B.Type) async throws -> B.State {
        let durable = try requireDurable()
        let box: Result<UncheckedBox<B.State>, DurableError>? = await durable.withLiveCell(address.pid) { found in
            guard let cell = found as? DurableCell<B> else { return .failure(.notDurable(address.pid)) }
            if case .quarantined(let reason) = cell.phase { return .failure(.quarantined(cell.pid, reason)) }
            // The copy is made on the process's thread and not touched there afterwards.
            return .success(UncheckedBox(cell.state))
        }
        guard let box else {
            throw address.cell is DurableCellBase<B.Message> ? DurableError.noSuchProcess(address.pid.description) : DurableError.notDurable(address.pid)
        }
        return try box.get().value
    }

    /// Durable processes stopped by bad data or divergent replay, with why.
    public var quarantinedProcesses: [Pid: String] { core.durable?.quarantined ?? [:] }

    /// Restarts of durable processes by replay since the node started.
    public var durableRestarts: Int { core.durable?.restarts ?? 0 }

    /// Figures about the journal's group commits.
    public var commitStatistics: CommitStatistics? { core.durable?.commitStatistics }

    /// The dead letters kept in the journal (poison messages), oldest first.
    public func durableDeadLetters() throws -> [DeadLetterRecord] {
        try requireDurable().deadLetterRecords()
    }
}

/// A poison message kept in the `dead` database.
public struct DeadLetterRecord: Sendable, Equatable {
    /// The process that could not handle it.
    public var pid: Pid
    /// Its seq in the journal.
    public var seq: UInt64
    /// When it was accepted.
    public var acceptedAt: WallTime
    /// How many times it failed.
    public var failures: Int
    /// The last error.
    public var error: String
    /// The message, encoded.
    public var payload: [UInt8]
}

extension DurableCore {
    /// Reads the `dead` database.
    package func deadLetterRecords() throws -> [DeadLetterRecord] {
        let dead = journal.dead
        return try journal.environment.read { txn in
            try txn.withCursor(dead) { cursor in
                var records: [DeadLetterRecord] = []
                var entry = try cursor.first()
                while let (key, value) = entry {
                    if let pid = StoreKey.uint64(in: key), let seq = StoreKey.uint64(in: key, at: 8) {
                        var reader = ByteReader(value, what: "dead letter")
                        do throws(LogRecordError) {
                            let acceptedAt = try reader.varint("accepted-at")
                            let failures = try reader.varint("failures")
                            let error = try reader.string("error")
                            records.append(DeadLetterRecord(
                                pid: Pid(serial: pid), seq: seq, acceptedAt: WallTime(nanosecondsSinceEpoch: acceptedAt),
                                failures: Int(min(failures, 1 << 30)), error: error, payload: reader.rest()))
                        } catch {
                            records.append(DeadLetterRecord(pid: Pid(serial: pid), seq: seq, acceptedAt: WallTime(nanosecondsSinceEpoch: 0), failures: 0, error: "unreadable dead letter: \(error)", payload: []))
                        }
                    }
                    entry = try cursor.next()
                }
                return records
            }
        }
    }
}

extension Node {
    /// Delivers a POST to the callback URL whose token is `token` (what the
    /// HTTP API's `POST /v1/callbacks/{token}` does): see `CallbackAnswer`.
    public func deliverCallback(token: String, body: [UInt8], contentType: String?) async -> CallbackAnswer {
        guard let durable = core.durable else { return .unknown }
        return await durable.deliverCallback(token: token, body: body, contentType: contentType)
    }

    /// Sets what callback URLs minted from now on start with (the HTTP
    /// API's public address, once it is known: `--http 127.0.0.1:0`).
    public func setCallbackBase(_ base: String) {
        core.durable?.callbackBase.withLock { $0 = base }
    }
}
