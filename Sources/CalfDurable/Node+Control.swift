import CalfStore
import CalfControl
import CalfRuntime

extension Node {
    /// The durable process named by `target`: a registered name or a printed pid.
    package func durableCell(_ target: String) throws(DurableError) -> any InspectableDurableProcess {
        let durable = try requireDurable()
        if let cell = durable.cell(named: target) as? any InspectableDurableProcess { return cell }
        if let pid = Pid(parsing: target), let cell = durable.inspectable(pid) { return cell }
        if let pid = Pid(parsing: target) ?? core.whereis(target)?.pid, let reason = durable.quarantined[pid] {
            throw .quarantined(pid, reason)
        }
        if let holder = durable.quarantinedHolder(of: target) { throw .quarantined(holder.pid, holder.reason) }
        throw .noSuchProcess(target)
    }

    /// Why the node takes no more mail from outside (a commit failed: it
    /// refuses until it restarts), or nil while it takes mail.
    public var intakeRefusal: String? { core.durable?.writer.failure.withLock { $0 } }

    /// Sends a message given as JSON to durable process `target` (a name or
    /// a pid), with an optional idempotency key; returns once committed.
    public func sendJSON(_ json: [UInt8], to target: String, key: String?) async -> IngressResult {
        let cell: any InspectableDurableProcess
        do throws(DurableError) {
            cell = try durableCell(target)
        } catch {
            return .failed(IngressRefusal(error))
        }
        return await withCheckedContinuation { continuation in
            cell.ingressJSON(json, key: key, slot: nil) { continuation.resume(returning: $0) }
        }
    }

    /// Calls durable process `target` with a message given as JSON; returns
    /// the reply as JSON.
    /// - Throws: `DurableError` if there is no such process or the message
    ///   is not accepted, `CallError` if no reply comes.
    public func callJSON(_ json: [UInt8], to target: String, timeout: Duration = .seconds(5)) async throws -> [UInt8] {
        let cell = try durableCell(target)
        let result: Result<any Sendable, CallError> = await withCheckedContinuation { continuation in
            let slot = ReplySlot { continuation.resume(returning: $0) }
            let scheduler = cell.scheduler
            scheduler.loop.execute {
                scheduler.addTimer(after: timeout) { _ in slot.complete(.failure(.timeout(timeout))) }
            }
            cell.ingressJSON(json, key: nil, slot: slot) { outcome in
                if case .failed(let reason) = outcome { slot.complete(.failure(.notAccepted(reason))) }
            }
        }
        return try DurableJSON.encodeReply(try result.get())
    }

    /// The state of durable process `target` as JSON.
    public func stateJSON(of target: String) async throws -> [UInt8] {
        let cell = try durableCell(target)
        let result: Result<[UInt8], any Error> = await onOwner(of: cell) { _ in
            Result { try cell.stateJSON() }
        }
        return try result.get()
    }

    /// The state durable process `target` had at log position `seq`, as
    /// JSON, rebuilt by replay without touching the live process.
    public func stateJSON(of target: String, at seq: UInt64) async throws -> [UInt8] {
        let cell = try durableCell(target)
        let result: Result<[UInt8], any Error> = await onOwner(of: cell) { _ in
            Result { try cell.stateJSON(at: seq) }
        }
        return try result.get()
    }
}
