import CalfControl
import CalfRuntime
import CalfDurable

extension Supervisor {
    /// Starts `record`'s process: `.success(pid)`, `.success(nil)` when the
    /// start function chose `ignore`.
    package func startProcess(_ record: ChildRecord, _ core: SupervisorState, _ context: inout Context<Message>) -> Result<Pid?, SupervisorError> {
        var startContext = ChildStartContext(supervisor: context.cell, path: path, key: record.key, arguments: record.arguments, backoff: record.spec.backoff, placement: record.spec.placement)
        let result: ChildStartResult
        do {
            result = try record.spec.start(&startContext)
        } catch let error as SupervisorError {
            return .failure(error)
        } catch {
            return .failure(.startFailed(id: record.spec.id, reason: Self.describe(error)))
        }
        switch result {
        case .started(let child):
            record.cell = child.cell
            record.lastPid = child.pid
            record.startedAt = context.cell.scheduler.now
            core.byPid[child.pid] = record
            if !record.isDynamic, let saved = core.ledger?.children[record.spec.id], saved.stopped || saved.deleted {
                core.journalStatic(record, stopped: false)
            }
            return .success(child.pid)
        case .ignore:
            return .success(nil)
        }
    }

    package static func describe(_ error: any Error) -> String {
        if case SpawnError.startFailed(_, _, let reason) = error { return reason.description }
        return String(describing: error)
    }

    /// Hands every running child to a `ChildReaper`, which stops them as an
    /// orderly stop would (reverse start order, each within its shutdown
    /// time, then killed): what a supervisor does when it fails to start or
    /// ends other than through its own orderly stop (killed, `Node.stop`).
    /// Children of a wave under way go first; durable children are detached.
    ///
    /// At its exit (`exiting`: its relations and why), the supervisor's
    /// links and monitors are taken out of its relations and told by the
    /// reaper once the children are gone, then `afterwards` runs; returns
    /// whether a reaper took them (false: nothing was left to stop).
    @discardableResult
    package func handOverChildren(
        _ core: SupervisorState, supervisor: ProcessCell,
        exiting: (relations: Relations, reason: ExitReason)? = nil, afterwards: (@Sendable (ExitReason) -> Void)? = nil
    ) -> Bool {
        let scheduler = supervisor.scheduler
        var waves: [[StopWave.Member]] = []
        if let wave = core.operation?.wave {
            if let timer = wave.killTimer { _ = scheduler.cancelTimer(timer) }
            // Already signalled and unlinked: signalled again (harmless), waited for, killed.
            waves.append(Array(wave.awaiting.values))
            core.operation?.wave = nil
        }
        func member(_ record: ChildRecord) -> StopWave.Member? {
            // At its exit its own relations are already detached from the cell: the link goes from them.
            if let cell = record.cell { exiting?.relations.links.removeAll { $0 === cell } }
            return core.detach(record, from: supervisor)
        }
        let dynamic = core.dynamicNewestFirst.compactMap(member)
        if !dynamic.isEmpty { waves.append(dynamic) }
        for record in core.ordered.reversed() {
            if let one = member(record) { waves.append([one]) }
        }
        core.cancelPendingRestarts()
        waves.removeAll { $0.isEmpty }
        guard !waves.isEmpty else { return false }
        var held: ChildReaper.HeldExit?
        if let (relations, reason) = exiting {
            held = ChildReaper.HeldExit(supervisor: supervisor, reason: reason, links: relations.links, watchers: relations.monitoredBy, afterwards: afterwards)
            relations.links = []
            relations.monitoredBy = []
        }
        do {
            _ = try scheduler.start(ChildReaper(supervisor: supervisor.pid, waves: waves, heldExit: held), linkedTo: nil)
        } catch {
            // invariant: a reaper's initialState and started do not throw; should it fail anyway, nothing is left running.
            for wave in waves { for member in wave { scheduler.kill(member.cell) } }
            if let held {
                scheduler.tellExit(of: supervisor, reason: held.reason, links: held.links, watchers: held.watchers)
                held.afterwards?(held.reason)
            }
        }
        return true
    }

    /// Starts stopping `records`' processes together (one wave) by their
    /// shutdown specs; returns true when all are gone already (or none was
    /// running), false when the operation must wait for their down signals.
    package func beginTerminate(_ records: [ChildRecord], _ operation: SupervisorOperation, _ core: SupervisorState, _ context: inout Context<Message>) -> Bool {
        // As OTP: unlink (no exit signal comes back), monitor, then signal.
        let members = records.compactMap { core.detach($0, from: context.cell) }
        var begun = StopWave.begin(members, from: context.pid, watcher: context.cell, stale: &core.staleMonitors)
        if begun.wave.isDone { return true }
        operation.waveNumber = core.nextKey
        core.nextKey += 1
        if let limit = begun.killAfter {
            begun.wave.killTimer = context.sendAfter(Message(kind: .shutdownTimeout(wave: operation.waveNumber)), after: limit)
        }
        operation.wave = begun.wave
        return false
    }

    /// Runs `steps` as the current operation.
    package func begin(_ steps: [SupervisorOperation.Step], _ core: SupervisorState, _ context: inout Context<Message>) {
        // invariant: operations run one at a time; requests and exits wait in `deferred` meanwhile.
        precondition(core.operation == nil, "a supervisor operation is already running")
        core.operation = SupervisorOperation(steps: steps)
        runOperation(core, &context)
    }

    /// Carries the current operation on until it waits for a child or ends.
    package func runOperation(_ core: SupervisorState, _ context: inout Context<Message>) {
        guard let operation = core.operation else { return }
        while operation.wave == nil, operation.next < operation.steps.count {
            let step = operation.steps[operation.next]
            operation.next += 1
            switch step {
            case .terminate(let records):
                _ = beginTerminate(records, operation, core, &context)
            case .start(let record):
                if case .failure = startProcess(record, core, &context) {
                    // OTP's try_again_restart: the rest of the group waits for the retry.
                    operation.steps.removeSubrange(operation.next...)
                    context.send(Message(kind: .tryAgain(key: record.key)), to: context.address)
                }
            case .run(let body):
                body(core, &context)
            }
        }
        if operation.wave == nil { core.operation = nil }
    }

    /// Steps that stop every running child: the dynamic ones together
    /// under one timer (OTP), then the static ones one by one, newest first.
    package func terminateAllSteps(_ core: SupervisorState) -> [SupervisorOperation.Step] {
        var steps: [SupervisorOperation.Step] = []
        let dynamic = core.dynamicNewestFirst
        if !dynamic.isEmpty { steps.append(.terminate(dynamic)) }
        for record in core.ordered.reversed() where record.cell != nil { steps.append(.terminate([record])) }
        core.cancelPendingRestarts()
        return steps
    }
}
