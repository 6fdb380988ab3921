import CalfStore
import CalfControl
import CalfRuntime

extension Node {
    /// The durable process named by `target`: a registered name or a
    /// printed pid, brought back first if it is passivated.
    package func durableCell(_ target: String) async throws(DurableError) -> any InspectableDurableProcess {
        let durable = try requireDurable()
        if let cell = durable.cell(named: target) as? any InspectableDurableProcess { return cell }
        if let pid = Pid(parsing: target), let cell = durable.inspectable(pid) { return cell }
        if let cell = await durable.activeCell(target) as? any InspectableDurableProcess { return cell }
        try noDurableProcess(target)
    }

    /// The durable process named by `target` as `durableCell` finds it,
    /// without bringing a passivated one back: its pid.
    package func durablePid(_ target: String) throws(DurableError) -> Pid {
        if let pid = try requireDurable().durablePid(target) { return pid }
        try noDurableProcess(target)
    }

    /// Why `target` names no durable process at work: quarantined, or none.
    private func noDurableProcess(_ target: String) throws(DurableError) -> Never {
        let durable = try requireDurable()
        if let pid = Pid(parsing: target) ?? core.whereis(target)?.pid, let reason = durable.quarantined[pid] {
            throw .quarantined(pid, reason)
        }
        if let holder = durable.quarantinedHolder(of: target) { throw .quarantined(holder.pid, holder.reason) }
        throw .noSuchProcess(target)
    }

    /// Passivates durable process `target` (a registered name or a printed
    /// pid) now, idle or not: its snapshot is committed and it leaves RAM,
    /// to come back with its next mail, call, due timer or command, as
    /// after `passivateAfter`. Something may keep it in RAM (it is
    /// monitored, has mail waiting, is suspended or traced, awaits an
    /// effect): `PassivationOutcome.stays` says what.
    /// - Throws: `DurableError` for a target that is no durable process.
    public func passivate(_ target: String) async throws(DurableError) -> PassivationOutcome {
        let durable = try requireDurable()
        let pid = try durablePid(target)
        guard let outcome = await durable.passivate(pid) else { try noDurableProcess(target) }
        return outcome
    }

    /// How many durable processes are out of RAM (passivated) now.
    public var passivatedCount: Int { core.durable?.table.withLock { $0.passive.count } ?? 0 }

    /// The address of durable process `pid` taking `M`, live or passivated,
    /// without bringing a passivated one back (its first mail will); nil
    /// if it is neither, or takes other messages.
    public func durableAddress<M: Codable & Sendable>(of pid: Pid, as: M.Type = M.self) -> Address<M>? {
        guard let durable = core.durable else { return nil }
        switch durable.recipient(pid, taking: M.self) {
        case .live(let cell): return Address(cell: cell)
        // Brought back in the meantime, it still gets what the stand-in journals (`forwardToLive`).
        case .passive: return Address(cell: DurableCellBase<M>.standIn(for: pid, name: nil, durable: durable))
        case nil: return nil
        }
    }

    /// The durable processes that left RAM (passivation), by pid, as `ps` lists them.
    public func passivatedReports() -> [ProcessReport] { core.durable?.passiveReports() ?? [] }

    /// Why the node takes no more mail from outside (a commit failed: it
    /// refuses until it restarts), or nil while it takes mail.
    public var intakeRefusal: String? { core.durable?.writer.failure.withLock { $0 } }

    /// Sends a message given as JSON to durable process `target` (a name or
    /// a pid), with an optional idempotency key; returns once committed.
    public func sendJSON(_ json: [UInt8], to target: String, key: String?) async -> IngressResult {
        let cell: any InspectableDurableProcess
        do throws(DurableError) {
            cell = try await durableCell(target)
        } catch {
            return .failed(IngressRefusal(error))
        }
        return await withCheckedContinuation { continuation in
            cell.ingressJSON(json, key: key, slot: nil) { continuation.resume(returning: $0) }
        }
    }

    /// Calls process `target` (durable or transient) with a message given
    /// as JSON; returns the reply as JSON.
    /// - Throws: `DurableError` if there is no such process,
    ///   `IngressRefusal` if the message is not one it takes, `CallError`
    ///   if it is not accepted or no reply comes.
    public func callJSON(_ json: [UInt8], to target: String, timeout: Duration = .seconds(5)) async throws -> [UInt8] {
        let recipient = try await outsideRecipient(target)
        let result: Result<any Sendable, CallError> = await withCheckedContinuation { continuation in
            let slot = ReplySlot { continuation.resume(returning: $0) }
            let scheduler: Scheduler
            switch recipient {
            case .durable(let cell):
                scheduler = cell.scheduler
                cell.ingressJSON(json, key: nil, slot: slot) { outcome in
                    if case .failed(let reason) = outcome { slot.complete(.failure(.notAccepted(reason))) }
                }
            case .transient(let cell):
                scheduler = cell.scheduler
                do throws(IngressRefusal) {
                    try deliverTransient(json, to: cell, slot: slot)
                } catch {
                    slot.complete(.failure(.notAccepted(error)))
                    return
                }
            }
            scheduler.loop.execute {
                scheduler.addTimer(after: timeout) { _ in slot.complete(.failure(.timeout(timeout))) }
            }
        }
        return try DurableJSON.encodeReply(try result.get())
    }

    /// Sends a message given as JSON to transient process `target` (a
    /// name or a pid): decoded as its message type and put into its mailbox.
    /// - Returns: nil if no transient process has that name or pid.
    /// - Throws: `IngressRefusal.badMessage` if the JSON is not one of its
    ///   messages (or its messages are not `Decodable`); `.notDurable` if
    ///   `key` is given (a key needs a journal to be kept in), and nothing is sent.
    public func sendTransientJSON(_ json: [UInt8], to target: String, key: String? = nil) async throws(IngressRefusal) -> Pid? {
        guard let cell = await transientCell(target) else { return nil }
        if key != nil { throw .notDurable(cell.pid) }
        try deliverTransient(json, to: cell, slot: nil)
        return cell.pid
    }

    /// Who mail from outside for `target` goes to.
    private enum OutsideRecipient {
        /// Through the journal.
        case durable(any InspectableDurableProcess)
        /// Straight into the mailbox.
        case transient(ProcessCell)
    }

    private func outsideRecipient(_ target: String) async throws(DurableError) -> OutsideRecipient {
        do throws(DurableError) {
            return .durable(try await durableCell(target))
        } catch .noSuchProcess, .notDurableNode {
            guard let cell = await transientCell(target) else { throw .noSuchProcess(target) }
            return .transient(cell)
        }
    }

    /// The live process `target` names if it is transient (its mail does
    /// not pass through the journal).
    private func transientCell(_ target: String) async -> ProcessCell? {
        guard let cell = await liveCell(target), cell.status == .alive, !(cell is any InspectableDurableProcess) else { return nil }
        return cell
    }

    /// `json` read as a message of `cell`'s type, into its mailbox.
    private func deliverTransient(_ json: [UInt8], to cell: ProcessCell, slot: ReplySlot?) throws(IngressRefusal) {
        let taken: Bool
        do {
            taken = try cell.takeFromOutside(decode: { type in try DurableJSON.decode(type, from: json) }, slot: slot)
        } catch let refusal as IngressRefusal {
            throw refusal
        } catch {
            throw .badMessage("not a message of \(cell.pid): \(error)")
        }
        if !taken { throw .badMessage("\(cell.pid) takes messages that are not Decodable: it cannot be sent JSON") }
    }

    /// The state of durable process `target` as JSON.
    public func stateJSON(of target: String) async throws -> [UInt8] {
        let cell = try await durableCell(target)
        let result: Result<[UInt8], any Error> = await onOwner(of: cell) { _ in
            Result { try cell.stateJSON() }
        }
        return try result.get()
    }

    /// The state durable process `target` had at log position `seq`, as
    /// JSON, rebuilt by replay without touching the live process.
    public func stateJSON(of target: String, at seq: UInt64) async throws -> [UInt8] {
        let cell = try await durableCell(target)
        let result: Result<[UInt8], any Error> = await onOwner(of: cell) { _ in
            Result { try cell.stateJSON(at: seq) }
        }
        return try result.get()
    }
}

extension Node {
    /// The durable effects under way (of `target` only, a name or a pid, if given).
    /// - Throws: `DurableError` for a target that is no durable process.
    public func effectReports(of target: String? = nil) throws(DurableError) -> [EffectReport] {
        let durable = try requireDurable()
        let pid = try target.map { target throws(DurableError) in try durablePid(target).serial }
        return durable.effects.underWay(of: pid).map { entry in
            let name = (durable.cell(Pid(serial: entry.pid)) as? DurableNamed)?.durableName
            return EffectReport(
                pid: Pid(serial: entry.pid).description, name: name, id: entry.record.id, effect: entry.record.name, key: entry.record.key,
                startedAt: entry.record.startedAt, attempts: entry.progress.attempts,
                lastError: entry.progress.lastFailure?.description, nextAttemptAt: entry.progress.nextAttemptAt?.nanosecondsSinceEpoch)
        }
    }
}

extension Node {
    /// The callbacks this node minted (of `target` only, a name or a pid,
    /// if given): their status, expiry, and the POSTs refused since the node started.
    /// - Throws: `DurableError` for a target that is no durable process; a store error reading them.
    public func callbackReports(of target: String? = nil) throws -> [CallbackReport] {
        let durable = try requireDurable()
        let pid = try target.map { target throws(DurableError) in try durablePid(target).serial }
        let now = WallTime.now.nanosecondsSinceEpoch
        let refusals = durable.callbackRefusals.withLock { $0 }
        return try durable.callbackEntries(of: pid).map { key, entry in
            let status: String
            switch entry.status {
            case .delivered: status = "delivered"
            case .cancelled: status = "cancelled"
            case .pending: status = now >= entry.expiresAt ? "expired" : "pending"
            }
            let hash = String(decoding: key.bytes.dropFirst("callback/".utf8.count).prefix(12), as: UTF8.self)
            let counts = refusals[key] ?? (0, 0)
            return CallbackReport(
                hash: hash, pid: Pid(serial: entry.pid).description, name: (durable.cell(Pid(serial: entry.pid)) as? DurableNamed)?.durableName,
                id: entry.id, status: status, expiresAt: entry.expiresAt, late: counts.late, conflicting: counts.conflicting)
        }
    }
}
