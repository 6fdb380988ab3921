import CalfControl

/// Which scheduler a new process runs on, and whether it may move.
///
/// Processes not pinned are the balancer's to move between turns (to an
/// idle scheduler that steals work, or together with the processes they
/// talk to when the node is lightly loaded); a move keeps their mail order,
/// timers, links, monitors, pending replies and trace.
public enum Placement: Sendable, Equatable, CustomStringConvertible {
    /// On the spawner's scheduler (from outside any process: the schedulers
    /// take turns), as the BEAM places a spawn; it may move later.
    case local
    /// Spread out: the schedulers take turns, skipping those the balancer
    /// has parked while the load is low; it may move later.
    case spread
    /// Starts on scheduler `n`; it may move later.
    case scheduler(Int)
    /// On scheduler `n` for good: the balancer never moves it.
    case pinned(Int)

    public var description: String {
        switch self {
        case .local: "local"
        case .spread: "spread"
        case .scheduler(let index): "scheduler(\(index))"
        case .pinned(let index): "pinned(\(index))"
        }
    }

    /// The scheduler index it names, if any.
    @usableFromInline package var requestedIndex: Int? {
        switch self {
        case .local, .spread: nil
        case .scheduler(let index), .pinned(let index): index
        }
    }
}

extension Scheduler {
    /// The scheduler a process placed by `placement` from this one goes
    /// to; nil: it stays here.
    /// - Throws: `SpawnError.noSuchScheduler` for an index the node lacks.
    @usableFromInline
    package func target(of placement: Placement) throws(SpawnError) -> Scheduler? {
        if let index = placement.requestedIndex {
            guard peers.indices.contains(index) else { throw .noSuchScheduler(index, count: peers.count) }
            let chosen = peers[index].scheduler
            return chosen === self ? nil : chosen
        }
        guard placement == .spread else { return nil }
        let chosen = node.spreadTarget(among: peers)
        return chosen === self ? nil : chosen
    }

    /// Starts a process of behavior `B` here (loop thread), linked to
    /// `parent` if given, then places it as `placement` says: pins it, or
    /// asks for its move, at the end of this run, to the scheduler it names.
    /// A process that pinned itself as it started (a port, a supervisor)
    /// stays here.
    /// - Throws: `SpawnError`: it failed to start, or `placement` names a
    ///   scheduler the node lacks.
    @inlinable
    package func start<B: Behavior>(_ behavior: B, linkedTo parent: ProcessCell?, placement: Placement) throws -> Address<B.Message> {
        let target = try self.target(of: placement)
        let child = try start(behavior, linkedTo: parent)
        if placement != .local { place(child.cell, placement, target: target) }
        return child
    }

    @usableFromInline
    package func place(_ cell: ProcessCell, _ placement: Placement, target: Scheduler?) {
        guard !cell.pinned else { return }
        if case .pinned = placement { cell.pinned = true }
        if let target, cell.canMove { move(cell, to: target, force: true) }
    }
}
