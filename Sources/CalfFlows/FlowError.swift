import Calf

/// Why a flow, or a step of one, did not go on.
public enum FlowError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A flow API was called outside the flow's own task (from a `Task {}`
    /// or `Task.detached {}` inside the flow, or after the flow ended).
    case misuse(String)
    /// The flow was parked: its code asked for a step its log does not have,
    /// or awaited something Calf does not journal.
    case diverged(FlowDivergence)
    /// The flow was cancelled.
    case cancelled
    /// The flow failed (its code threw, or a step failed for good and the code did not catch it).
    case failed(EffectFailure)
    /// `Node.result(of:timeout:)` gave up waiting.
    case timedOut(String)
    /// A step's value did not decode as the type asked for.
    case undecodable(String)
    /// The process is not a flow of that type.
    case notAFlow(String)
    /// The flow's task is being unwound to leave memory while it waits
    /// (`FlowOptions.evictAfter`): its steps throw this, and the code must
    /// let it pass (a `catch` that goes on asking for steps gets it again).
    case evicted
    /// The flow's history reached its bounds (`FlowLimits`): no new step is taken.
    case historyFull(String)

    /// One line.
    public var description: String {
        switch self {
        case .misuse(let what): "flow API misused: \(what)"
        case .diverged(let divergence): "the flow diverged: \(divergence)"
        case .cancelled: "the flow was cancelled"
        case .failed(let failure): "the flow failed: \(failure)"
        case .timedOut(let what): "timed out: \(what)"
        case .undecodable(let what): "undecodable: \(what)"
        case .notAFlow(let what): "not a flow: \(what)"
        case .evicted: "the flow's task left memory while it waits"
        case .historyFull(let what): "the flow's history is full: \(what)"
        }
    }

    /// How a cancelled step fails (kept in the log).
    static let cancelledFailure = EffectFailure(kind: "cancelled", message: "the flow was cancelled", terminal: true)
}
