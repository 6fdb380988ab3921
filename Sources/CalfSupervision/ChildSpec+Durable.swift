import CalfControl
import CalfRuntime
import CalfDurable

extension ChildSpec {
    /// A durable worker registered as `name` (default: `id`). Its start
    /// adopts the process of that name the journal brought back, or spawns
    /// it (committed with the supervisor's next group commit).
    ///
    /// A crash of a durable process restarts it in place, by replay of its
    /// journal (`.replay`) or from its initial state (`.fresh`), keeping its
    /// pid and its mailbox; the supervisor counts the restart against its
    /// intensity and restarts the siblings its strategy names. When it stops
    /// for good, the supervisor restarts it by its restart type.
    public static func durable<B: DurableBehavior>(
        _ id: String, _ behavior: B, name: String? = nil, restart: ChildRestart = .permanent,
        shutdown: ChildShutdown = .timeout(.seconds(5)), mode: RestartMode = .replay
    ) -> ChildSpec {
        ChildSpec(id: id, restart: restart, shutdown: shutdown, mode: mode, behavior: B.behaviorName) { context in
            try context.startDurableUnlessQuarantined(behavior, name: name ?? id, mode: mode)
        }
    }
}

extension ChildSpec {
    /// A template of durable workers for a `simpleOneForOne` supervisor:
    /// `startChild(with:)` takes the behavior value (journaled by a durable
    /// supervisor), and each child is registered as `PATH/ID-KEY` (the
    /// supervisor's path, this id, the child's number), so a durable
    /// supervisor adopts it again after a node restart.
    public static func durableTemplate<B: DurableBehavior>(
        _ id: String, _: B.Type, restart: ChildRestart = .permanent,
        shutdown: ChildShutdown = .timeout(.seconds(5)), mode: RestartMode = .replay
    ) -> ChildSpec {
        ChildSpec(id: id, restart: restart, shutdown: shutdown, mode: mode, behavior: B.behaviorName, argumentCoding: .codable(B.self)) { context in
            try context.startDurableUnlessQuarantined(context.arguments(as: B.self), name: "\(context.supervisorPath)/\(id)-\(context.key)", mode: mode)
        }
    }
}

extension ChildStartContext {
    /// Adopts or spawns the durable process `name` running `behavior`,
    /// linked to the supervisor, which hears of its restarts in place
    /// (made by `mode`, after the child spec's `backoff` when it has one).
    /// - Throws: `DurableError` (not a durable node, name held by another behavior, not accepted).
    public func startDurable<B: DurableBehavior>(_ behavior: B, name: String, mode: RestartMode = .replay) throws -> ChildProcess {
        let scheduler = supervisorCell.scheduler
        guard let durable = scheduler.node.durable else { throw DurableError.notDurableNode }
        let cell: ProcessCell
        if let existing = durable.cell(named: name) {
            guard existing is DurableCell<B> else { throw DurableError.nameTaken(name, by: existing.pid) }
            cell = existing
        } else if let passive = durable.passiveHolder(of: name) {
            // Passivated: the link below brings it back.
            guard passive.behavior == B.behaviorName else { throw DurableError.nameTaken(name, by: passive.cell.pid) }
            cell = passive.cell
        } else {
            cell = try durable.spawnFromLoop(behavior, name: name, on: scheduler)
        }
        scheduler.link(supervisorCell, cell)
        // invariant: a start function runs inside a supervisor, whose cell takes SupervisorMessage.
        let supervisor = Address(cell: unsafeDowncast(supervisorCell, to: MailboxCell<SupervisorMessage>.self))
        durable.setGuardian(DurableGuardian(owner: supervisorCell.pid, fresh: mode == .fresh, backoff: backoff) { pid, reason in
            supervisor.cell.deliverRemote(.message(SupervisorMessage(kind: .restartedInPlace(pid, reason))))
        }, of: cell.pid)
        return ChildProcess(cell: cell)
    }
}

extension ChildStartContext {
    /// `startDurable`, or `ignore` when `name` belongs to a process the
    /// node start quarantined without bringing it back (its snapshot
    /// unreadable): the child is kept without a process, and nothing fresh
    /// takes its name and its place.
    package func startDurableUnlessQuarantined<B: DurableBehavior>(_ behavior: B, name: String, mode: RestartMode) throws -> ChildStartResult {
        if let holder = supervisorCell.scheduler.node.durable?.quarantinedHolder(of: name) {
            reportProblem("durable child '\(name)' is quarantined (\(holder.pid): \(holder.reason)): its supervisor keeps it without a process",
                          level: .error, ["pid": "\(holder.pid)"])
            return .ignore
        }
        return .started(try startDurable(behavior, name: name, mode: mode))
    }
}

extension ChildProcess {
    package init(cell: ProcessCell) { self.cell = cell }
}
