import Calf

/// What a graph's `worker:` task is sent each time a task it depends on
/// ends (a job's run, a daemon's exit): journaled, once per run.
public struct TaskOutcome: Sendable, Codable, Equatable {
    /// The graph, the task and its run's number.
    public var graph: String
    public var task: String
    public var run: Int
    /// How the run ended.
    public var status: RunStatus
    /// Its exit status, when it exited.
    public var exitCode: Int?
    /// When it started and ended, in milliseconds since 1970.
    public var startedAt: Int64
    public var endedAt: Int64
    /// Why it ran.
    public var causes: [String]
    /// Its outputs digest, after a success (with `outputs`).
    public var outputsDigest: String?
    /// Its last lines of output.
    public var tail: [String]

    /// An outcome.
    public init(graph: String, task: String, run: Int, status: RunStatus, exitCode: Int?, startedAt: Int64, endedAt: Int64,
                causes: [String], outputsDigest: String?, tail: [String]) {
        self.graph = graph
        self.task = task
        self.run = run
        self.status = status
        self.exitCode = exitCode
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.causes = causes
        self.outputsDigest = outputsDigest
        self.tail = tail
    }

    /// Its duration in milliseconds.
    public var durationMs: Int64 { max(0, endedAt - startedAt) }
}

/// A durable behavior a graph's `worker:` task runs (clive's live
/// reaction): the process `GRAPH/TASK`, made from the task's `config`,
/// is sent a message for each outcome of the tasks it depends on, so its
/// state is a value derived from them, journaled and recomputed as they
/// change. Register it with the node like any durable behavior.
///
/// ```swift
/// struct FlakyTests: GraphWorker {
///     enum Message: Codable, Sendable { case outcome(TaskOutcome) }
///     static func message(_ outcome: TaskOutcome) -> Message { .outcome(outcome) }
///     …
/// }
/// ```
public protocol GraphWorker: DurableBehavior {
    /// The message that carries `outcome`.
    static func message(_ outcome: TaskOutcome) -> Message
}

extension GraphFile {
    /// The behaviors among `durable` a `worker:` task may name (those that take task outcomes), by name.
    public static func workers(_ durable: [any DurableBehavior.Type]) -> [String: any GraphWorker.Type] {
        var found: [String: any GraphWorker.Type] = [:]
        for type in durable { if let worker = type as? any GraphWorker.Type { found[worker.behaviorName] = worker } }
        return found
    }
}

/// One outcome sent to a graph's worker, as a durable effect: asked for in
/// the turn that recorded the run's end, delivered with an idempotency key
/// (the graph, the task and the run) so a retry after a crash is taken once.
public struct WorkerDeliveryEffect: DurableEffect, Equatable {
    /// The graph and the worker task.
    public var graph: String
    public var worker: String
    /// What it is sent.
    public var outcome: TaskOutcome

    /// The journal's name for it.
    public static var effectName: String { "calf.graph.deliver" }
    /// A send from outside: off the scheduler.
    public static var startsInline: Bool { false }
    /// Tried again while the worker is not up yet (a node starting).
    public var retryPolicy: RetryPolicy {
        RetryPolicy(maximumAttempts: 20, initialBackoff: .milliseconds(200), maximumBackoff: .seconds(5), maximumDuration: .seconds(120))
    }

    /// The delivery's idempotency key.
    public var key: String { "\(graph)/\(outcome.task)#\(outcome.run)>\(worker)" }

    /// Sends it with the node's `GraphRunner` (through the graph's host).
    public func run(_ attempt: EffectAttempt) async throws -> Bool {
        guard let runner = attempt.services[GraphRunner.self] else { return false }
        guard await runner.deliver(self) else { throw WorkerNotUp(worker: "\(graph)/\(worker)") }
        return true
    }
}

/// A worker's process was not there to take an outcome (tried again).
struct WorkerNotUp: Error, CustomStringConvertible {
    let worker: String
    var description: String { "the worker \(worker) is not up" }
}
