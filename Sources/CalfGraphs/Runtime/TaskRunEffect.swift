import Calf

/// One run of a graph's job or daemon, as a durable effect: asked for by the
/// graph's process in the turn that records the run as started, so the
/// request is journaled before any OS process exists; its outcome comes
/// back to the graph as a journaled completion.
///
/// At most once: before it starts the command it writes a marker next to
/// the log (`RUN.log.started`), then the process group's id into it. An
/// effect re-run after a crash of the node finds the marker, stops what is
/// left of that group, and reports the run `interrupted` with the tail of
/// its log instead of running the command a second time.
public struct TaskRunEffect: DurableEffect, Equatable {
    /// The graph, the task and the run's number.
    public var graph: String
    public var task: String
    public var run: Int
    /// What it runs.
    public var operation: TaskOperation
    /// How a `shell:` string runs.
    public var shell: [String]
    /// Its working directory.
    public var workingDirectory: String
    /// Variables added to the node's environment (the graph's, then the task's).
    public var environment: [String: String]
    /// Its standard input stays a pipe (else end-of-file at once).
    public var stdinPipe: Bool
    /// Its longest run in milliseconds (nil: none), and the grace between SIGTERM and SIGKILL.
    public var timeout: Int?
    public var killAfter: Int
    /// Its log file; scripts are written to `scripts`.
    public var logPath: String
    public var scripts: String
    /// Runs of the task whose logs are kept (older ones are deleted as this one starts).
    public var keepLogs: Int
    /// A job's outputs, digested when it succeeds (`RunOutcome.outputsDigest`).
    public var outputs: [String]
    /// A daemon's readiness check (nil for a job): when it passes, the graph
    /// is told (`GraphProcess.Message.ready`); the run goes on until it ends or is stopped.
    public var ready: ReadinessSpec?

    /// The journal's name for it.
    public static var effectName: String { "calf.graph.run" }
    /// It writes files and starts a process before its first suspension: off the scheduler.
    public static var startsInline: Bool { false }
    /// A command's failure is its outcome, not the effect's: one attempt, as long as it takes.
    public var retryPolicy: RetryPolicy { RetryPolicy(maximumAttempts: 1, maximumDuration: .seconds(10 * 365 * 86_400)) }

    /// Runs it with the node's `GraphRunner`.
    public func run(_ attempt: EffectAttempt) async throws -> RunOutcome {
        guard let runner = attempt.services[GraphRunner.self] else {
            let now = WallClock.milliseconds()
            return RunOutcome(status: .couldNotStart, startedAt: now, endedAt: now, note: "this node has no graph runner (DurableOptions.services[GraphRunner.self])")
        }
        return await runner.run(self)
    }
}
