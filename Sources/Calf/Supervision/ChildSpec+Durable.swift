extension ChildSpec {
    /// A durable worker registered as `name` (default: `id`). Its start
    /// adopts the process of that name the journal brought back, or spawns
    /// it (committed with the supervisor's next group commit). A crash of a
    /// durable process restarts it in place, by replay (`RestartMode.replay`);
    /// when it stops for good, the supervisor restarts it by its restart type.
    public static func durable<B: DurableBehavior>(
        _ id: String, _ behavior: B, name: String? = nil, restart: ChildRestart = .permanent,
        shutdown: ChildShutdown = .timeout(.seconds(5))
    ) -> ChildSpec {
        ChildSpec(id: id, restart: restart, shutdown: shutdown, mode: .replay, behavior: B.behaviorName) { context in
            .started(try context.startDurable(behavior, name: name ?? id))
        }
    }
}

extension ChildStartContext {
    /// Adopts or spawns the durable process `name` running `behavior`, linked to the supervisor.
    /// - Throws: `DurableError` (not a durable node, name held by another behavior, not accepted).
    public func startDurable<B: DurableBehavior>(_ behavior: B, name: String) throws -> ChildProcess {
        let scheduler = supervisorCell.scheduler
        guard let durable = scheduler.node.durable else { throw DurableError.notDurableNode }
        let cell: ProcessCell
        if let existing = durable.cell(named: name) {
            guard existing is DurableCell<B> else { throw DurableError.nameTaken(name, by: existing.pid) }
            cell = existing
        } else {
            cell = try durable.spawnFromLoop(behavior, name: name, on: scheduler)
        }
        scheduler.link(supervisorCell, cell)
        return ChildProcess(cell: cell)
    }
}

extension ChildProcess {
    init(cell: ProcessCell) { self.cell = cell }
}
