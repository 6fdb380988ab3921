import Calf

/// How a flow's log meets the code at hand (`calf flows check`): it replays
/// to where it waits, or the code asks for something else.
public enum FlowCheck: Sendable, Equatable {
    /// The code replays the log and waits on these steps, as the log has them under way.
    case replays(waitingOn: [String])
    /// The code leaves the log (both sides shown).
    case diverged(FlowDivergence)
    /// The flow ended (nothing replays it).
    case ended(FlowStatus)
    /// The flow has not run its first turn.
    case notStarted
}

extension FlowKind {
    /// Checks flow `pid` of this kind on `node` (an inspecting node's copy of
    /// a data directory): its log replayed against this binary's code.
    public func check(_ pid: Pid, on node: Node) async -> FlowCheck? {
        await checkProcess(node, pid)
    }
}

extension FlowHost {
    /// The check of one log (`FlowRun.check`), for a flow of `type`.
    static func check(_ log: FlowLog, pid: Pid, limits: FlowLimits, start: (FlowRun) -> Void) -> FlowCheck {
        guard let startedAt = log.startedAt else { return .notStarted }
        if log.status.isFinal { return .ended(log.status) }
        var copy = log
        copy.run = nil
        let run = FlowRun(log: copy, seed: pid.serial &* 0x9E37_79B9_7F4A_7C15, startedAt: startedAt, limits: limits)
        return run.check(&copy, start: start)
    }
}
