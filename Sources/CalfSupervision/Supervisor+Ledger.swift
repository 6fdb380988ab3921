import CalfControl
import CalfRuntime
import CalfDurable

/// A durable supervisor's journal: what it loads when it starts and what it
/// writes when its children change (see `SupervisorLedger`).
extension Supervisor {
    /// For a durable supervisor: reads its ledger and restores its restart
    /// history; returns its dynamic children to start again.
    /// - Throws: `SupervisorError.invalidSpec` on a node without a data
    ///   directory; the error reading or decoding the ledger.
    package func openLedger(_ core: SupervisorState, _ context: inout Context<Message>) throws -> [(key: UInt64, child: SupervisorLedger.DynamicChild)] {
        guard spec.durable else { return [] }
        let scheduler = context.cell.scheduler
        guard let durable = scheduler.node.durable else {
            throw SupervisorError.invalidSpec("\(spec.id): a durable supervisor needs a node with a data directory")
        }
        let ledger = SupervisorLedger(path: path, durable: durable, scheduler: scheduler, intensity: spec.intensity)
        let dynamic = try ledger.load()
        core.ledger = ledger
        core.window.restore(ledger.restoredWindow())
        core.totalRestarts = ledger.ledger.totalRestarts
        core.nextKey = max(core.nextKey, ledger.ledger.nextKey, (dynamic.last?.key ?? 0) + 1)
        return dynamic
    }

    /// Starts again the dynamic children a durable supervisor had, with
    /// their keys, arguments and restart counts; one that fails is retried
    /// as a failed restart.
    package func restartDynamic(_ restored: [(key: UInt64, child: SupervisorLedger.DynamicChild)], _ core: SupervisorState, _ context: inout Context<Message>) {
        guard let template = spec.children.first, let coding = template.argumentCoding else { return }
        for (key, saved) in restored {
            let arguments: any Sendable
            do {
                arguments = try coding.decode(saved.arguments)
            } catch {
                reportProblem("supervisor '\(path)': dynamic child \(key) has arguments that do not decode, dropped: \(error)")
                core.ledger?.removeDynamic(ChildRecord(key: key, spec: template, arguments: nil, isDynamic: true))
                continue
            }
            let record = ChildRecord(key: key, spec: template, arguments: arguments, isDynamic: true)
            record.restarts = saved.restarts
            record.lastExit = saved.lastExit
            switch startProcess(record, core, &context) {
            case .success(let pid):
                if pid == nil { core.remove(record) }
            case .failure(let error):
                reportProblem("supervisor '\(path)': dynamic child \(key) did not start again: \(error)")
                core.waitingDynamic[key] = record
                context.send(Message(kind: .tryAgain(key: key)), to: context.address)
            }
        }
    }
}

extension Supervisor {
    /// Starts the `startWith` children, once for a durable supervisor.
    /// - Throws: the first start's error (the started ones are stopped).
    package func seedDynamic(_ core: SupervisorState, _ context: inout Context<Message>) throws {
        guard let template = spec.children.first, !spec.startWith.isEmpty, core.ledger?.ledger.seeded != true else { return }
        for arguments in spec.startWith {
            let record = core.makeRecord(template, arguments: arguments, dynamic: true)
            switch startProcess(record, core, &context) {
            case .success(let pid):
                if pid != nil { core.journalDynamicStarted(record) }
            case .failure(let error):
                handOverChildren(core, supervisor: context.cell)
                throw error
            }
        }
        if let ledger = core.ledger {
            ledger.ledger.seeded = true
            ledger.putHeader()
        }
    }
}

extension SupervisorState {
    /// Journals a counted restart of `record`: its child record, the
    /// restart's time and the header (constant work, whatever the history).
    package func journalRestart(_ record: ChildRecord) {
        guard let ledger else { return }
        ledger.ledger.totalRestarts = totalRestarts
        if record.isDynamic {
            ledger.saveDynamic(record)
        } else {
            var child = ledger.children[record.spec.id] ?? SupervisorLedger.Child()
            child.restarts = record.restarts
            child.lastExit = record.lastExit
            ledger.saveChild(record.spec.id, child)
        }
        ledger.journalRestart()
    }

    /// Journals whether a static child is kept without a process (or deleted).
    package func journalStatic(_ record: ChildRecord, stopped: Bool, deleted: Bool = false) {
        guard let ledger, !record.isDynamic else { return }
        var child = ledger.children[record.spec.id] ?? SupervisorLedger.Child()
        guard child.stopped != stopped || child.deleted != deleted || child.lastExit != record.lastExit else { return }
        child.stopped = stopped
        child.deleted = deleted
        child.restarts = record.restarts
        child.lastExit = record.lastExit
        ledger.saveChild(record.spec.id, child)
    }

    /// Journals a new dynamic child.
    package func journalDynamicStarted(_ record: ChildRecord) {
        guard let ledger else { return }
        ledger.ledger.nextKey = nextKey
        ledger.saveDynamic(record)
        ledger.putHeader()
    }

    /// The supervisor gave up: a restart by its parent starts with no history.
    package func journalGaveUp() {
        window.clear()
        ledger?.clearWindow()
    }
}
