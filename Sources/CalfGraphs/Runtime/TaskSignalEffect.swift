import Calf

/// A signal to a running daemon's run (its `reload`), as a durable effect:
/// asked for in the turn that decides it, sent once by the node's
/// `GraphRunner` to the run's process (the leader of its group). Its
/// output says whether that run was still there to get it.
public struct TaskSignalEffect: DurableEffect, Equatable {
    /// The graph, the task and the run's number.
    public var graph: String
    public var task: String
    public var run: Int
    /// The signal's name (SIGHUP).
    public var signal: String

    /// The journal's name for it.
    public static var effectName: String { "calf.graph.signal" }
    /// A signal is a system call on the runner's loop: off the scheduler.
    public static var startsInline: Bool { false }
    /// Sent once: a run gone by then has nothing to get it.
    public var retryPolicy: RetryPolicy { RetryPolicy(maximumAttempts: 1, maximumDuration: .seconds(60)) }

    /// Sends it with the node's `GraphRunner`.
    public func run(_ attempt: EffectAttempt) async throws -> Bool {
        guard let runner = attempt.services[GraphRunner.self] else { return false }
        return await runner.signal(self)
    }
}
