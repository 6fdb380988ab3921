import CalfControl

/// An exit reason given by the operator (`calf shell -c 'kill P REASON'`).
public struct OperatorExit: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The operator's words.
    public let reason: String
    /// An exit with these words.
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
    public var debugDescription: String { reason }
}

/// What the operator's shell can do to a live process.
extension Node {
    /// The pid that exit signals from the operator come from.
    package static let operatorPid = Pid(serial: 0)

    /// The pid `target` names: a registered name or a printed pid.
    package func pid(of target: String) -> Pid? {
        core.whereis(target)?.pid ?? Pid(parsing: target)
    }

    /// The live process named by `target`: a registered name or a printed pid.
    package func liveCell(_ target: String) async -> ProcessCell? {
        if let cell = await transientCell(named: target) { return cell }
        // A durable process that left RAM comes back for the operator.
        for layer in core.attachedLayers {
            if let cell = await layer.activate(target) { return cell }
        }
        return core.whereis(target)
    }

    /// Runs `body` on the owner's thread of the live process `target` (a
    /// registered name or a printed pid) names, in one job with the check
    /// that it is alive (a durable process out of RAM is brought back in
    /// that job); nil if there is no such process.
    package func withLiveProcess<T: Sendable>(_ target: String, _ body: @escaping @Sendable (ProcessCell, Scheduler) -> T) async -> T? {
        for layer in core.attachedLayers {
            if let done = await layer.withLiveProcess(target, { cell in body(cell, cell.scheduler) }) { return done }
        }
        guard let cell = await transientCell(named: target) else { return nil }
        return await onOwner(of: cell) { scheduler in cell.status == .alive ? body(cell, scheduler) : nil }
    }

    /// The process `target` names in the schedulers' tables (by name, or by pid).
    private func transientCell(named target: String) async -> ProcessCell? {
        if let named = core.whereis(target), named.status == .alive { return named }
        guard let pid = Pid(parsing: target) else { return nil }
        return await findProcess { $0.processes[pid] }
    }

    /// Stops `target` from taking turns (its mail waits); false if there is no such process.
    public func suspend(_ target: String) async -> Bool {
        await withLiveProcess(target) { cell, _ in cell.suspended = true } != nil
    }

    /// Moves `target` to scheduler `index` between its turns (`move(_:to:)`):
    /// nil if there is no such process, false if it stays where it is.
    /// - Throws: `SpawnError.noSuchScheduler` for an index the node lacks.
    public func move(_ target: String, to index: Int) async throws(SpawnError) -> Bool? {
        guard let cell = await liveCell(target) else { return nil }
        return try await move(cell, to: index)
    }

    /// Lets a suspended `target` take turns again; false if there is no such process.
    public func resume(_ target: String) async -> Bool {
        await withLiveProcess(target) { cell, scheduler -> Void in
            cell.suspended = false
            if cell.inspected?.mailboxCount ?? 0 > 0, !cell.scheduled { scheduler.makeRunnable(cell) }
        } != nil
    }

    /// Sends `target` an exit signal with `reason` (trappable, as Erlang's
    /// `exit/2`), or kills it when `reason` is nil (a durable process is then
    /// rebuilt in place by replay, a supervised one restarted by its
    /// supervisor); false if there is no such process.
    public func exit(_ target: String, reason: ExitReason?) async -> Bool {
        await withLiveProcess(target) { cell, scheduler -> Void in
            if let reason {
                scheduler.sendExitSignal(from: Self.operatorPid, reason: reason, to: cell)
            } else {
                scheduler.kill(cell)
            }
        } != nil
    }

    /// The mail waiting for `target`, as JSON values (a message that is
    /// not `Encodable` as its description); nil if there is no such process.
    public func mailbox(of target: String) async -> [JSONValue]? {
        guard let texts = await withLiveProcess(target, { cell, _ in cell.inspected?.mailboxJSON() ?? [] }) else { return nil }
        return texts.map { (try? JSONValue(parsing: $0)) ?? .string($0) }
    }
}

/// Why `trace P` could not start.
public enum TraceError: Error, Sendable, CustomStringConvertible {
    /// No live process is named so.
    case noProcess(String)
    /// Another follower traces it already.
    case alreadyTraced(String)

    public var description: String {
        switch self {
        case .noProcess(let target): "no process \(target)"
        case .alreadyTraced(let target): "\(target) is traced already (by another shell)"
        }
    }
}

extension Node {
    /// Starts tracing the messages `target` takes in and sends out; the
    /// trace ends after `limit` events, when the process exits or when
    /// cancelled. `ready` is called (on the process's thread) when events wait.
    public func trace(_ target: String, limit: Int?, ready: @escaping @Sendable () -> Void) async throws(TraceError) -> ProcessTrace {
        let trace = ProcessTrace(limit: limit, ready: ready)
        let attached = await withLiveProcess(target) { cell, _ -> Bool in
            if let existing = cell.trace, !existing.hasEnded { return false }
            cell.trace = trace
            cell.setTraced(true)
            return true
        }
        switch attached {
        case true?: return trace
        case false?: throw .alreadyTraced(target)
        case nil: throw .noProcess(target)
        }
    }
}

extension Node {
    /// The pids of every live process, in pid order.
    public func livePids() async -> [Pid] {
        var pids: [Pid] = []
        for scheduler in schedulers {
            pids += await onLoop(scheduler) { Array($0.processes.keys) }
        }
        return pids.sorted()
    }
}
