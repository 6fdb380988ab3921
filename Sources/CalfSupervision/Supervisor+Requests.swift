import CalfControl
import CalfRuntime
import CalfDurable

extension Supervisor {
    package typealias Reply<T: Sendable> = Result<T, SupervisorError>

    /// Replies to a start at once, or, when the start journaled something
    /// (a durable child's spawn, a durable supervisor's record), once that
    /// has committed and the child is running.
    package func replyOnceStarted(_ reply: PendingReply?, _ result: Reply<Pid?>, id: String, _ context: inout Context<Message>) {
        guard let reply else { return }
        guard let batch = context.cell.scheduler.pendingBatch, !batch.isEmpty else {
            reply.reply(result)
            return
        }
        // A durable child is put to work on its scheduler after the commit: the reply comes from there, after that.
        if case .success(let pid?) = result, pid.isDurable, let durable = context.cell.scheduler.node.durable {
            batch.entries.append(.releaseOn(durable.scheduler(for: pid)) { reply.reply(result) })
            batch.entries.append(.outcome { failure in
                if let failure { reply.reply(Reply<Pid?>.failure(.startFailed(id: id, reason: "not journaled: \(failure)"))) }
            })
            return
        }
        batch.entries.append(.outcome { failure in
            reply.reply(failure.map { Reply<Pid?>.failure(.startFailed(id: id, reason: "not journaled: \($0)")) } ?? result)
        })
    }

    /// Carries out one request (no operation is running).
    package func handleRequest(_ kind: Message.Kind, reply: PendingReply?, _ core: SupervisorState, _ context: inout Context<Message>) {
        let dynamic = spec.strategy == .simpleOneForOne
        switch kind {
        case .startChild(let childSpec):
            guard !dynamic else {
                reply?.reply(Reply<Pid?>.failure(.wrongStrategy("a simpleOneForOne supervisor starts children from its template: use startChild(with:)")))
                return
            }
            if let problem = childSpec.problem() {
                reply?.reply(Reply<Pid?>.failure(.invalidSpec(problem)))
                return
            }
            if core.ledger != nil {
                // A ChildSpec holds a start closure: nothing the journal could
                // bring back after a node restart, so refused rather than lost then.
                reply?.reply(Reply<Pid?>.failure(.notJournaled(
                    "supervisor '\(path)' is durable: it brings its children back from the journal after a node restart, and a child spec added at run time holds code the journal cannot keep; put child '\(childSpec.id)' in the SupervisorSpec (or the tree file), or start it under a supervisor that is not durable")))
                return
            }
            if let existing = core.record(id: childSpec.id) {
                let error: SupervisorError = existing.cell.map { .alreadyStarted(id: childSpec.id, pid: $0.pid) } ?? .alreadyPresent(childSpec.id)
                reply?.reply(Reply<Pid?>.failure(error))
                return
            }
            let record = core.makeRecord(childSpec)
            let result = startProcess(record, core, &context)
            if case .success(let pid) = result, pid != nil || childSpec.restart != .temporary { core.ordered.append(record) }
            replyOnceStarted(reply, result, id: childSpec.id, &context)

        case .startDynamic(let arguments):
            guard dynamic, let template = spec.children.first else {
                reply?.reply(Reply<Pid?>.failure(.wrongStrategy("only a simpleOneForOne supervisor starts children with arguments")))
                return
            }
            let record = core.makeRecord(template, arguments: arguments, dynamic: true)
            let result = startProcess(record, core, &context)
            // A durable supervisor answers once the child is in the journal.
            if case .success(.some) = result { core.journalDynamicStarted(record) }
            replyOnceStarted(reply, result, id: template.id, &context)

        case .terminateChild(let id):
            guard !dynamic else {
                reply?.reply(Reply<Void>.failure(.wrongStrategy("children of a simpleOneForOne supervisor are terminated by pid")))
                return
            }
            guard let record = core.record(id: id) else {
                reply?.reply(Reply<Void>.failure(.notFound(id)))
                return
            }
            record.pendingRestart = nil
            begin([
                .terminate([record]),
                .run { core, _ in
                    if record.spec.restart == .temporary {
                        core.remove(record)
                    } else {
                        core.journalStatic(record, stopped: true)
                    }
                    reply?.reply(Reply<Void>.success(()))
                },
            ], core, &context)

        case .terminateDynamic(let pid):
            guard dynamic else {
                reply?.reply(Reply<Void>.failure(.notFound(pid.description)))
                return
            }
            guard let record = core.byPid[pid] else {
                if let waiting = core.waitingDynamic.values.first(where: { $0.lastPid == pid }) {
                    // OTP's find_child matches `{restarting, Pid}`: its restart loop ends here.
                    waiting.pendingRestart = nil
                    core.remove(waiting)
                    reply?.reply(Reply<Void>.success(()))
                } else if context.cell.scheduler.processes[pid] != nil {
                    // A live process that is not a child. Only this scheduler's table is asked (a
                    // live non-child on another scheduler is taken as gone): the answer cannot wait.
                    reply?.reply(Reply<Void>.failure(.notFound(pid.description)))
                } else {
                    // OTP: terminating a pid that is already gone is ok.
                    reply?.reply(Reply<Void>.success(()))
                }
                return
            }
            begin([
                .terminate([record]),
                .run { core, _ in
                    core.remove(record)
                    reply?.reply(Reply<Void>.success(()))
                },
            ], core, &context)

        case .restartChild(let id):
            guard !dynamic else {
                reply?.reply(Reply<Pid?>.failure(.wrongStrategy("children of a simpleOneForOne supervisor cannot be restarted by id")))
                return
            }
            guard let record = core.record(id: id) else {
                reply?.reply(Reply<Pid?>.failure(.notFound(id)))
                return
            }
            if record.cell != nil {
                reply?.reply(Reply<Pid?>.failure(.running(id)))
            } else if record.pendingRestart != nil {
                reply?.reply(Reply<Pid?>.failure(.restarting(id)))
            } else {
                replyOnceStarted(reply, startProcess(record, core, &context), id: id, &context)
            }

        case .deleteChild(let id):
            guard !dynamic else {
                reply?.reply(Reply<Void>.failure(.wrongStrategy("children of a simpleOneForOne supervisor cannot be deleted")))
                return
            }
            guard let record = core.record(id: id) else {
                reply?.reply(Reply<Void>.failure(.notFound(id)))
                return
            }
            if record.cell != nil {
                reply?.reply(Reply<Void>.failure(.running(id)))
            } else if record.pendingRestart != nil {
                reply?.reply(Reply<Void>.failure(.restarting(id)))
            } else {
                core.remove(record)
                reply?.reply(Reply<Void>.success(()))
            }

        case .stop:
            shutDown(reason: .shutdown, reply: reply, core, &context)

        case .restartDue(let key, let generation):
            guard let record = core.record(key: key), record.pendingRestart == generation else { return }
            restartNow(record, core, &context)

        case .tryAgain(let key):
            tryAgain(key: key, core, &context)

        case .restartedInPlace(let pid, let reason):
            restartedInPlace(pid, reason: reason, core, &context)

        case .whichChildren, .countChildren, .describe, .shutdownTimeout:
            // invariant: answered in handle(_:) without waiting for operations.
            break
        }
    }
}
