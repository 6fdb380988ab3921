import CalfControl
import CalfRuntime
import CalfDurable

extension Supervisor {
    /// An exit signal: a child ended, or the parent did.
    package func handleExit(_ signal: Signal, _ core: SupervisorState, _ context: inout Context<Message>) {
        guard case .exit(let pid, let reason) = signal else { return }
        guard let record = core.byPid.removeValue(forKey: pid) else {
            if pid == core.parent {
                // OTP: a supervisor whose parent exits stops its children and exits with the same reason.
                shutDown(reason: reason, reply: nil, core, &context)
            }
            return
        }
        record.cell = nil
        record.lastExit = reason.description
        reportCrash(of: record, pid: pid, reason: reason, context.pid)
        guard Self.restarts(record.spec.restart, after: reason) else {
            if record.isDynamic || record.spec.restart == .temporary {
                core.remove(record)
            } else {
                core.journalStatic(record, stopped: true)
            }
            return
        }
        restart(record, core, &context)
    }

    /// OTP's supervisor report for an abnormal exit (not `normal`, `shutdown`).
    package func reportCrash(of record: ChildRecord, pid: Pid, reason: ExitReason, _ supervisor: Pid) {
        guard spec.reportsCrashes else { return }
        switch reason {
        case .normal, .shutdown: return
        default: reportProblem("supervisor '\(spec.id)' \(supervisor): child '\(record.spec.id)' \(pid) exited: \(reason)", level: .error,
                          ["supervisor": "\(supervisor)", "child": "\(record.spec.id)", "pid": "\(pid)"])
        }
    }

    /// OTP's rule: permanent always; transient unless `normal` or `shutdown`; temporary never.
    package static func restarts(_ type: ChildRestart, after reason: ExitReason) -> Bool {
        switch type {
        case .permanent: true
        case .temporary: false
        case .transient:
            switch reason {
            case .normal, .shutdown: false
            default: true
            }
        }
    }

    /// Counts a restart of `record` against the intensity, then restarts it
    /// by the strategy (after its backoff delay, if it has one).
    /// `afterFailedStart`: its last restart did not start (it never ran).
    package func restart(_ record: ChildRecord, afterFailedStart: Bool = false, _ core: SupervisorState, _ context: inout Context<Message>) {
        let now = context.cell.scheduler.now
        guard countRestart(of: record, now: now, core, &context) else { return }
        if let backoff = record.spec.backoff {
            // A series starts over only when the child ran for `resetAfter`
            // before it ended; the waits of a child that keeps failing to
            // start are not time it ran.
            if !afterFailedStart, now &- record.startedAt >= backoff.resetAfter.nanoseconds { record.quickCrashes = 0 }
            record.quickCrashes += 1
            let generation = core.nextKey
            core.nextKey += 1
            record.pendingRestart = generation
            if record.isDynamic { core.waitingDynamic[record.key] = record }
            context.sendAfter(Message(kind: .restartDue(key: record.key, generation: generation)), after: backoff.delay(attempt: record.quickCrashes))
            return
        }
        restartNow(record, core, &context)
    }

    /// Counts a restart of `record`: false (and the supervisor gives up) when
    /// it is one more than the intensity allows.
    package func countRestart(of record: ChildRecord, now: UInt64, _ core: SupervisorState, _ context: inout Context<Message>) -> Bool {
        guard core.window.admit(now: now) else {
            reportProblem("supervisor '\(spec.id)' \(context.pid) reached its restart intensity (\(spec.intensity) in \(spec.period)) after child '\(record.spec.id)' ended: stopping its children and exiting",
                          level: .error, ["supervisor": "\(context.pid)", "child": "\(record.spec.id)"])
            if record.isDynamic { core.remove(record) }
            core.journalGaveUp()
            shutDown(reason: .shutdown, reply: nil, core, &context)
            return false
        }
        record.restarts += 1
        core.totalRestarts += 1
        core.journalRestart(record)
        return true
    }

    /// A durable child crashed and restarts itself in place (by replay, or
    /// fresh): counted like any restart; its siblings follow the strategy
    /// (the child itself is detached and adopted again by a group restart).
    package func restartedInPlace(_ pid: Pid, reason: ExitReason, _ core: SupervisorState, _ context: inout Context<Message>) {
        guard let record = core.byPid[pid] else { return }
        record.lastExit = reason.description
        reportCrash(of: record, pid: pid, reason: reason, context.pid)
        guard countRestart(of: record, now: context.cell.scheduler.now, core, &context) else { return }
        switch spec.strategy {
        case .oneForOne, .simpleOneForOne:
            break
        case .oneForAll:
            restartGroup(core.ordered, core, &context)
        case .restForOne:
            guard let position = core.ordered.firstIndex(where: { $0 === record }) else { return }
            restartGroup(Array(core.ordered[position...]), core, &context)
        }
    }

    /// Restarts `record` by the strategy: alone, with every sibling, or with
    /// those started after it.
    package func restartNow(_ record: ChildRecord, _ core: SupervisorState, _ context: inout Context<Message>) {
        record.pendingRestart = nil
        if record.isDynamic { core.waitingDynamic[record.key] = nil }
        switch spec.strategy {
        case .oneForOne, .simpleOneForOne:
            switch startProcess(record, core, &context) {
            case .success(let pid):
                if pid == nil, record.isDynamic { core.remove(record) }
            case .failure:
                if record.isDynamic { core.waitingDynamic[record.key] = record }
                context.send(Message(kind: .tryAgain(key: record.key)), to: context.address)
            }
        case .oneForAll:
            restartGroup(core.ordered, core, &context)
        case .restForOne:
            guard let position = core.ordered.firstIndex(where: { $0 === record }) else { return }
            restartGroup(Array(core.ordered[position...]), core, &context)
        }
    }

    /// Stops the running members of `group` newest first, then starts the
    /// group again in order; temporary members stopped this way are dropped.
    package func restartGroup(_ group: [ChildRecord], _ core: SupervisorState, _ context: inout Context<Message>) {
        var steps: [SupervisorOperation.Step] = []
        for member in group.reversed() where member.cell != nil {
            steps.append(.terminate([member]))
        }
        for member in group {
            member.pendingRestart = nil
            if member.spec.restart == .temporary {
                steps.append(.run { core, _ in core.remove(member) })
            } else {
                steps.append(.start(member))
            }
        }
        begin(steps, core, &context)
    }

    /// A restart whose start failed is tried again (and counted again).
    package func tryAgain(key: UInt64, _ core: SupervisorState, _ context: inout Context<Message>) {
        guard let record = core.record(key: key), record.cell == nil else { return }
        if record.isDynamic { core.waitingDynamic[key] = nil }
        restart(record, afterFailedStart: true, core, &context)
    }

    /// Stops every child in order, replies, then exits with `reason`.
    package func shutDown(reason: ExitReason, reply: PendingReply?, _ core: SupervisorState, _ context: inout Context<Message>) {
        var steps = terminateAllSteps(core)
        steps.append(.run { _, context in
            reply?.reply(Result<Void, SupervisorError>.success(()))
            context.stop(reason)
        })
        begin(steps, core, &context)
    }
}
