/// A graph as the shell's `graph` shows it (and `graph --json` prints it):
/// each task with its kind, status and last run. Made from the graph's
/// durable state (`GraphState.report()`), so `graph --at SEQ` shows the
/// graph as it was at that point of its journal.
public struct GraphReport: Sendable, Codable, Equatable {
    /// The graph's id.
    public var graph: String
    /// Its version (its file's digest).
    public var version: String
    /// Paused from the shell: nothing starts.
    public var paused: Bool
    /// Its tasks, upstreams first.
    public var tasks: [TaskReport]
    /// What it said lately, newest last.
    public var notes: [String]
}

/// One task of a `GraphReport`.
public struct TaskReport: Sendable, Codable, Equatable {
    /// Its id.
    public var name: String
    /// job, daemon or worker.
    public var kind: String
    /// Where it stands. A job: `running`, `pending` (asked to run, waiting
    /// for its upstreams, a lock or a slot), `blocked`, `fresh`, `stale`,
    /// `never run`, `retrying` (failed, retried after its backoff), or how
    /// its last run ended (`failed`, `cancelled`, …). A worker: `worker`.
    /// A daemon: `starting`, `ready`, `backoff` (restarting after a
    /// crash), `given up`, `pending`, `blocked`, `stopped`, `never run`.
    public var status: String
    /// Its last run no longer holds: its inputs, definition or upstreams changed
    /// (a daemon up while a build it depends on runs or failed is stale).
    public var stale: Bool
    /// Paused from the shell.
    public var paused: Bool
    /// Runs it has had.
    public var runs: Int
    /// Its latest run.
    public var lastRun: RunReport?
    /// Why it is to run next, when it is asked to.
    public var pending: [String]?
    /// Why it may not run, when it is blocked.
    public var blockedBy: String?
    /// A daemon given up, and why.
    public var gaveUp: String?
}

/// One run, as `graph`, `runs` and `log` show it.
public struct RunReport: Sendable, Codable, Equatable {
    /// Its number.
    public var number: Int
    /// Its causes, in one line.
    public var cause: String
    /// Its causes, one per trigger it took in.
    public var causes: [String]
    /// How it ended, or `running`.
    public var status: String
    /// Its exit status, when it exited.
    public var exitCode: Int?
    /// The signal that ended it, when one did.
    public var signal: Int?
    /// When it started and ended, in milliseconds since 1970.
    public var startedAt: Int64
    public var endedAt: Int64?
    /// How long it ran, once it ended.
    public var durationMs: Int64?
    /// A daemon's run: when its readiness check passed.
    public var readyAt: Int64?
    /// The graph's version it ran with.
    public var graphVersion: String
    /// Its input sets' digests when it started.
    public var inputDigests: [String: String]
    /// Its job's outputs digest, after a success.
    public var outputsDigest: String?
    /// Its last lines of output.
    public var tail: [String]
    /// What stopped it, or why it could not start.
    public var note: String?
    /// Its full output's file.
    public var logPath: String

    /// The report of `record`.
    public init(_ record: RunRecord) {
        number = record.number
        cause = record.causes.joined(separator: "; ")
        causes = record.causes
        status = record.status.rawValue
        exitCode = record.outcome?.exitCode
        signal = record.outcome?.signal
        startedAt = record.startedAt
        endedAt = record.outcome?.endedAt
        durationMs = record.outcome.map { max(0, $0.endedAt - record.startedAt) }
        readyAt = record.readyAt
        graphVersion = record.graphVersion
        inputDigests = record.inputDigests
        outputsDigest = record.outcome?.outputsDigest
        tail = record.outcome?.tail ?? []
        note = record.outcome?.note
        logPath = record.logPath
    }
}

extension GraphState {
    /// The report of this state (nil before a graph was loaded).
    public func report() -> GraphReport? {
        guard let spec else { return nil }
        let tasks = order.compactMap { id -> TaskReport? in
            guard let task = spec.task(id), let state = self.tasks[id] else { return nil }
            return TaskReport(name: id, kind: task.kind.rawValue, status: status(of: task, state), stale: isStale(task, state),
                              paused: pausedTasks.contains(id), runs: state.runCount, lastRun: state.lastRun.map(RunReport.init),
                              pending: state.wanted, blockedBy: state.blockedBy, gaveUp: state.gaveUp)
        }
        return GraphReport(graph: spec.id, version: version, paused: paused, tasks: tasks, notes: notes)
    }

    /// Where `task` stands (see `TaskReport.status`).
    func status(of task: TaskSpec, _ state: TaskState) -> String {
        switch task.kind {
        case .daemon:
            if state.isRunning { return state.isReady ? "ready" : "starting" }
            if state.gaveUp != nil { return "given up" }
            if state.restartToken != nil { return "backoff" }
            if state.wanted != nil { return "pending" }
            if state.blockedBy != nil { return "blocked" }
            return state.lastRun == nil ? "never run" : "stopped"
        case .job:
            if state.isRunning { return "running" }
            if state.restartToken != nil { return "retrying" }
            if state.blockedBy != nil { return "blocked" }
            if state.wanted != nil { return "pending" }
            guard let last = state.lastRun else { return "never run" }
            guard last.status == .succeeded else { return last.status.rawValue }
            return staleness(of: task, state) == nil ? "fresh" : "stale"
        case .worker:
            return "worker"
        }
    }

    /// Whether `task`'s last run no longer holds.
    func isStale(_ task: TaskSpec, _ state: TaskState) -> Bool {
        switch task.kind {
        case .daemon: state.isRunning && (state.wanted != nil || state.blockedBy != nil || state.specDigest != Self.digest(of: task))
        case .job: state.lastRun != nil && (state.wanted != nil || state.blockedBy != nil || staleness(of: task, state) != nil)
        case .worker: false
        }
    }
}
