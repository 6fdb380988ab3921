extension Supervisor {
    /// Starts `record`'s process: `.success(pid)`, `.success(nil)` when the
    /// start function chose `ignore`.
    func startProcess(_ record: ChildRecord, _ core: SupervisorState, _ context: inout Context<Message>) -> Result<Pid?, SupervisorError> {
        var startContext = ChildStartContext(supervisor: context.cell, path: path, key: record.key, arguments: record.arguments)
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
            record.startedAt = monotonicNanoseconds()
            core.byPid[child.pid] = record
            if !record.isDynamic, let saved = core.ledger?.ledger.children[record.spec.id], saved.stopped || saved.deleted {
                core.journalStatic(record, stopped: false)
            }
            return .success(child.pid)
        case .ignore:
            return .success(nil)
        }
    }

    static func describe(_ error: any Error) -> String {
        if case SpawnError.startFailed(_, _, let reason) = error { return reason.description }
        return String(describing: error)
    }

    /// Stops every running child without waiting, newest first: what a
    /// supervisor can still do when it fails to start or is stopped from outside.
    func stopAllAtOnce(_ core: SupervisorState, _ context: inout Context<Message>) {
        let scheduler = context.cell.scheduler
        for record in core.dynamicNewestFirst + core.ordered.reversed() {
            guard let cell = record.cell else { continue }
            record.cell = nil
            core.byPid[cell.pid] = nil
            scheduler.unlink(context.cell, cell)
            // A durable child is detached, not stopped: it lives in the journal (see beginTerminate).
            if cell.isJournaled {
                scheduler.node.durable?.clearGuardian(of: cell.pid, owner: context.pid)
                continue
            }
            if record.spec.shutdown == .brutalKill {
                scheduler.kill(cell)
            } else {
                scheduler.sendExitSignal(from: context.pid, reason: .shutdown, to: cell)
            }
        }
    }

    /// Starts stopping `record`'s process by its shutdown spec; returns true
    /// when it is gone already (or was not running), false when the
    /// operation must wait for its down signal.
    func beginTerminate(_ record: ChildRecord, _ operation: SupervisorOperation, _ core: SupervisorState, _ context: inout Context<Message>) -> Bool {
        guard let cell = record.cell else { return true }
        record.cell = nil
        core.byPid[cell.pid] = nil
        let scheduler = context.cell.scheduler
        // As OTP: unlink (no exit signal comes back), monitor, then signal.
        scheduler.unlink(context.cell, cell)
        if cell.isJournaled {
            // A durable child is detached, not stopped: its journal keeps it
            // (the node checkpoints and stops it last), and a start adopts it again.
            scheduler.node.durable?.clearGuardian(of: cell.pid, owner: context.pid)
            return true
        }
        let ref = scheduler.monitor(watcher: context.cell, target: cell)
        var timer: TimerRef?
        switch record.spec.shutdown {
        case .brutalKill:
            scheduler.kill(cell)
        case .timeout(let limit):
            scheduler.sendExitSignal(from: context.pid, reason: .shutdown, to: cell)
            timer = context.sendAfter(Message(kind: .shutdownTimeout(ref)), after: limit)
        case .infinity:
            scheduler.sendExitSignal(from: context.pid, reason: .shutdown, to: cell)
        }
        if cell.scheduler === scheduler, cell.status == .dead {
            // It ended at once, on this thread: its down signal is already queued.
            if let timer { context.cancelTimer(timer) }
            core.staleMonitors.insert(ref)
            return true
        }
        operation.awaiting = (ref, cell, timer)
        return false
    }

    /// Runs `steps` as the current operation.
    func begin(_ steps: [SupervisorOperation.Step], _ core: SupervisorState, _ context: inout Context<Message>) {
        // invariant: operations run one at a time; requests and exits wait in `deferred` meanwhile.
        precondition(core.operation == nil, "a supervisor operation is already running")
        core.operation = SupervisorOperation(steps: steps)
        runOperation(core, &context)
    }

    /// Carries the current operation on until it waits for a child or ends.
    func runOperation(_ core: SupervisorState, _ context: inout Context<Message>) {
        guard let operation = core.operation else { return }
        while operation.awaiting == nil, operation.next < operation.steps.count {
            let step = operation.steps[operation.next]
            operation.next += 1
            switch step {
            case .terminate(let record):
                _ = beginTerminate(record, operation, core, &context)
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
        if operation.awaiting == nil { core.operation = nil }
    }

    /// Steps that stop every running child, newest first.
    func terminateAllSteps(_ core: SupervisorState) -> [SupervisorOperation.Step] {
        let records = core.dynamicNewestFirst + core.ordered.reversed().filter { $0.cell != nil }
        for record in core.ordered { record.pendingRestart = nil }
        core.waitingDynamic.removeAll()
        return records.map { .terminate($0) }
    }
}
