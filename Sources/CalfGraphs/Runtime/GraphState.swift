/// One task as the graph's process keeps it: its ledger of runs and what
/// it waits for.
public struct TaskState: Sendable, Codable, Equatable {
    /// Its latest runs, oldest first (at most the graph's `history`).
    public var runs: [RunRecord] = []
    /// Runs it has had (the number of its latest).
    public var runCount = 0
    /// The causes of the run it is to have next, coalesced (nil: none asked for).
    public var wanted: [String]?
    /// Why it may not run (an upstream failed, or has not run), or nil.
    public var blockedBy: String?
    /// The effect running its current run, if one runs.
    public var effect: UInt64?
    /// The digest of its spec its latest run used.
    public var specDigest: String?
    /// A run the node was running when it stopped (a daemon's, left to end as
    /// `interrupted` while its next run starts): its effect and number.
    public var leftover: LeftoverRun?
    /// A daemon: the run whose readiness check passed, while it runs.
    public var readyRun: Int?
    /// A daemon: when it crashed lately (within its `period`), in milliseconds since 1970.
    public var crashes: [Int64] = []
    /// The run it waits for after its backoff (its timer's token): a
    /// crashed daemon's restart, a failed job's retry.
    public var restartToken: Int?
    /// A job: its retries since its last success (at most its `retry.attempts`).
    public var retries = 0
    /// A daemon: why it is no longer restarted (it crashed more than its `intensity` allows).
    public var gaveUp: String?

    /// A task with no runs.
    public init() {}

    /// Its latest run.
    public var lastRun: RunRecord? { runs.last }
    /// Whether a run of it is under way.
    public var isRunning: Bool { effect != nil }
    /// Whether it is running, asked to run, or waiting to be retried.
    public var isBusy: Bool { effect != nil || wanted != nil || restartToken != nil }
    /// A daemon: whether its current run is up and ready.
    public var isReady: Bool { effect != nil && readyRun != nil && readyRun == lastRun?.number }
}

/// A run that was under way when the node stopped.
public struct LeftoverRun: Sendable, Codable, Equatable {
    /// The effect that carries it (re-run at the start: it stops what is left and reports `interrupted`).
    public var effect: UInt64
    /// Its number.
    public var run: Int
}

/// What the graph's process decided, for its handler to carry out.
public enum GraphDecision: Sendable, Equatable {
    /// Start run `run` of `task` (its record is in the state, `running`).
    case start(task: String, run: Int)
    /// Stop run `run` of `task` (its effect `effect`); its record says why.
    case cancel(task: String, run: Int, effect: UInt64)
    /// Send `signal` (a name: SIGHUP) to the running daemon `task`'s run `run` (its `reload`).
    case signal(task: String, run: Int, signal: String)
    /// In `milliseconds`, tell the graph `wake(task, token)`: a crashed daemon's backoff, a failed job's retry.
    case wake(task: String, token: Int, milliseconds: Int)
    /// Send `outcome` to the worker task `worker`.
    case deliver(worker: String, outcome: TaskOutcome)
}

/// Why a task's dependencies do not let it run now.
enum Unmet: Equatable {
    /// Not yet: an upstream daemon is on its way up.
    case wait
    /// Not until an upstream changes: it failed, or is not up.
    case block(String)
}

/// The graph's whole state, as its durable process keeps it: the graph
/// as last loaded, each watch set's digest, each task's ledger. Every
/// change goes through its methods, which return what to start or stop;
/// they are deterministic (a replay makes the same decisions), so the
/// planning is tested without a node.
public struct GraphState: Sendable, Codable, Equatable {
    /// The graph as last loaded (nil before the first load).
    public var spec: GraphSpec?
    /// Its version: the digest of its file.
    public var version = ""
    /// The tasks in an order where every task comes after its upstreams (file order otherwise).
    public var order: [String] = []
    /// Each task's ledger, by id.
    public var tasks: [String: TaskState] = [:]
    /// Each watch set's digest, as last reported.
    public var setDigests: [String: String] = [:]
    /// What the graph said lately (a reload kept back, files changed while the node was down), newest last.
    public var notes: [String] = []
    /// Paused from the shell (`graph pause`): nothing starts; changes still mark tasks to run.
    public var paused = false
    /// Tasks paused one by one (`graph pause G TASK`).
    public var pausedTasks: Set<String> = []
    /// The time of the message being handled, in milliseconds since 1970
    /// (journaled with it: a replay sees the same time).
    public var now: Int64 = 0

    /// An empty state.
    public init() {}

    // MARK: Loading

    /// Takes `spec` (at a node start with `start`, or a reload): tasks it
    /// no longer has are dropped (a running one is stopped), new ones get
    /// an empty ledger. At a start, `digests` are the watch sets as just
    /// scanned, and tasks run by their `onStart`: `always`, or `ifStale`
    /// when they are stale (never succeeded, their spec or an input
    /// changed since their latest run, or that run did not succeed). At a
    /// reload, a task whose spec changed is stale and runs if `auto`, and
    /// a task the file did not have runs by its `onStart`. Daemons: see `loadDaemon`.
    public mutating func load(_ spec: GraphSpec, version: String, digests: [String: String], start: Bool) -> [GraphDecision] {
        var decisions: [GraphDecision] = []
        let reloaded = !start && self.spec != nil
        let kept = Set(spec.tasks.map(\.id))
        // In id order: a replay decides the same, in the same order (a dictionary's order is per process).
        for (id, task) in tasks.sorted(by: { $0.key < $1.key }) where !kept.contains(id) {
            if let effect = task.effect, let run = task.lastRun { decisions.append(.cancel(task: id, run: run.number, effect: effect)) }
            tasks[id] = nil
        }
        self.spec = spec
        self.version = version
        order = Self.topologicalOrder(spec)
        for task in spec.tasks where tasks[task.id] == nil { tasks[task.id] = TaskState() }
        for (set, digest) in digests { setDigests[set] = digest }
        for id in order {
            guard let task = spec.task(id), let state = tasks[id] else { continue }
            if task.kind == .daemon {
                loadDaemon(task, state, start: start, reloaded: reloaded, into: &decisions)
                continue
            }
            guard task.kind == .job else { continue }
            if reloaded, state.lastRun == nil, state.wanted == nil {
                if task.onStart != .never { want(id, "added to the graph", into: &decisions) }
            } else if start {
                switch task.onStart {
                case .always: want(id, "start", into: &decisions)
                case .ifStale:
                    if let reason = staleness(of: task, state) { want(id, "start (\(reason))", into: &decisions) }
                case .never: break
                }
            } else if state.specDigest != nil, state.specDigest != Self.digest(of: task), task.auto {
                want(id, "its definition changed", into: &decisions)
            }
        }
        return decisions + plan()
    }

    /// A daemon at a start: what ran before the node stopped is left to end
    /// (`interrupted`), its crash count starts afresh, and it starts unless
    /// `onStart: never`. At a reload: started if it is new, restarted if its
    /// definition changed.
    mutating func loadDaemon(_ task: TaskSpec, _ state: TaskState, start: Bool, reloaded: Bool, into decisions: inout [GraphDecision]) {
        var state = state
        if start {
            if let effect = state.effect, let run = state.lastRun { state.leftover = LeftoverRun(effect: effect, run: run.number) }
            state.effect = nil
            state.readyRun = nil
            state.crashes = []
            state.restartToken = nil
            state.gaveUp = nil
            tasks[task.id] = state
            if task.onStart != .never { want(task.id, "start", into: &decisions) }
        } else if reloaded, state.lastRun == nil, state.wanted == nil {
            if task.onStart != .never { want(task.id, "added to the graph", into: &decisions) }
        } else if state.specDigest != nil, state.specDigest != Self.digest(of: task), task.auto {
            want(task.id, "its definition changed", into: &decisions)
        }
    }

    /// Why `task` is stale, or nil when its latest run still holds.
    public func staleness(of task: TaskSpec, _ state: TaskState) -> String? {
        guard let last = state.lastRun else { return "never run" }
        guard let outcome = last.outcome else { return "its run #\(last.number) never ended" }
        guard outcome.status == .succeeded else { return "run #\(last.number) \(outcome.status.rawValue)" }
        if state.specDigest != Self.digest(of: task) { return "its definition changed" }
        let changed = task.inputs.filter { last.inputDigests[$0] != setDigests[$0] }
        if !changed.isEmpty { return "\(changed.joined(separator: ", ")) changed" }
        return nil
    }

    // MARK: Triggers

    /// Watch set `set` changed (`paths`, a sample; `digest` its new
    /// digest): each `auto` task with it among its inputs is to run.
    public mutating func changed(set: String, digest: String, paths: [String]) -> [GraphDecision] {
        setDigests[set] = digest
        guard let spec else { return [] }
        var decisions: [GraphDecision] = []
        let sample = paths.prefix(3).map(Self.lastComponent).joined(separator: ", ")
        let more = paths.count > 3 ? " (+\(paths.count - 3))" : ""
        let cause = paths.isEmpty ? "change \(set)" : "change \(set): \(sample)\(more)"
        for id in order {
            guard let task = spec.task(id), task.kind != .worker, task.auto, task.inputs.contains(set), let state = tasks[id] else { continue }
            if task.kind == .daemon, let signal = task.reload, state.isRunning, state.wanted == nil, let run = state.lastRun {
                decisions.append(.signal(task: id, run: run.number, signal: signal))
                note("\(id) #\(run.number): \(signal) sent (\(cause))")
                continue
            }
            want(id, cause, into: &decisions)
        }
        return decisions + plan()
    }

    /// A run of `task` asked for by hand (`by` says who), `auto` or not (a
    /// daemon is restarted).
    /// - Returns: nil for no such job or daemon.
    public mutating func manual(_ task: String, by: String) -> [GraphDecision]? {
        guard let spec = spec?.task(task), spec.kind != .worker else { return nil }
        var decisions: [GraphDecision] = []
        want(task, "manual (\(by))", into: &decisions)
        return decisions + plan()
    }

    /// Stops `task`'s run under way (its record says `cancelled`; a daemon
    /// stays down until asked again); nil if none runs.
    public mutating func cancel(_ task: String) -> [GraphDecision]? {
        guard var state = tasks[task], let effect = state.effect, let index = state.runs.indices.last else { return nil }
        state.effect = nil
        state.readyRun = nil
        state.restartToken = nil
        state.runs[index].outcome = RunOutcome(status: .cancelled, startedAt: state.runs[index].startedAt, endedAt: now, note: "cancelled from the shell")
        let number = state.runs[index].number
        tasks[task] = state
        return [.cancel(task: task, run: number, effect: effect)] + plan()
    }

    /// Pauses the graph (`task` nil) or one task: nothing of it starts until
    /// `resume`; what runs goes on, and changes still mark tasks to run.
    /// - Returns: false for no such task.
    public mutating func pause(_ task: String?) -> Bool {
        guard let task else {
            paused = true
            return true
        }
        guard tasks[task] != nil else { return false }
        pausedTasks.insert(task)
        return true
    }

    /// Resumes the graph (`task` nil: the graph and every task) or one task,
    /// and starts what waited; nil for no such task.
    public mutating func resume(_ task: String?) -> [GraphDecision]? {
        if let task {
            guard tasks[task] != nil else { return nil }
            pausedTasks.remove(task)
        } else {
            paused = false
            pausedTasks = []
        }
        return plan()
    }

    /// Asks for a run of `id` for `cause`: coalesced with what it waits
    /// for; while a job runs, by its `onBusy` (one more run after it, the
    /// running one stopped first, or nothing). A daemon asked again is
    /// restarted once what it depends on has settled (the running one
    /// stays up until then), and a daemon given up is armed again.
    mutating func want(_ id: String, _ cause: String, into decisions: inout [GraphDecision]) {
        guard var state = tasks[id], let task = spec?.task(id) else { return }
        if task.kind == .daemon {
            state.gaveUp = nil
            state.crashes = []
            state.restartToken = nil
        } else if state.restartToken != nil {
            // A new trigger runs it now, with its retries afresh.
            state.restartToken = nil
            state.retries = 0
        } else if let effect = state.effect, let index = state.runs.indices.last {
            switch task.onBusy {
            case .ignore: return
            case .queue: break
            case .restart:
                state.effect = nil
                state.runs[index].outcome = RunOutcome(status: .cancelled, startedAt: state.runs[index].startedAt, endedAt: max(now, state.runs[index].startedAt),
                                                       note: "stopped for a newer run (\(cause))")
                decisions.append(.cancel(task: id, run: state.runs[index].number, effect: effect))
            }
        }
        state.wanted = (state.wanted ?? []) + (state.wanted?.contains(cause) == true ? [] : [cause])
        state.blockedBy = nil
        tasks[id] = state
    }

    // MARK: Runs

    /// The run of `task` started as effect `effect` ended with `outcome`
    /// (a stale completion, of a run stopped or replaced, is ignored):
    /// its dependents are to run, or are blocked, by their conditions.
    public mutating func finished(effect: UInt64, outcome: RunOutcome) -> [GraphDecision] {
        if let (id, state) = tasks.first(where: { $0.value.leftover?.effect == effect }), let leftover = state.leftover {
            var state = state
            if let index = state.runs.lastIndex(where: { $0.number == leftover.run }) { state.runs[index].outcome = outcome }
            state.leftover = nil
            tasks[id] = state
            return plan()
        }
        guard let found = running(effect), var state = tasks[found.task], let spec, let task = spec.task(found.task) else { return [] }
        let (id, index) = found
        state.effect = nil
        state.runs[index].outcome = outcome
        let number = state.runs[index].number
        tasks[id] = state
        var decisions: [GraphDecision] = []
        if task.kind == .daemon {
            exited(task, number, outcome, into: &decisions)
            return decisions + plan()
        }
        if outcome.status == .succeeded { tasks[id]?.retries = 0 }
        deliver(id, number, outcome, into: &decisions)
        if outcome.status == .failed || outcome.status == .timedOut, state.retries < task.retryAttempts, state.wanted == nil {
            // Retried after its backoff; what depends on it waits (it is busy) rather than being blocked.
            let backoff = task.retryBackoff ?? BackoffSpec(initial: 1000, maximum: 30_000)
            let token = (state.restartToken ?? number) + 1
            tasks[id]?.retries = state.retries + 1
            tasks[id]?.restartToken = token
            decisions.append(.wake(task: id, token: token, milliseconds: backoff.delay(after: state.retries)))
            return decisions + plan()
        }
        for dependent in order {
            guard let downstream = spec.task(dependent), downstream.kind != .worker else { continue }
            for edge in downstream.dependsOn where edge.task == id {
                switch edge.condition {
                case .completed:
                    want(dependent, "after \(id) #\(number)", into: &decisions)
                case .succeeded:
                    guard outcome.status == .succeeded else {
                        block(dependent, because: "\(id) #\(number) \(outcome.status.rawValue)")
                        continue
                    }
                    let seen = tasks[dependent]?.lastRun?.upstream?[id]
                    if edge.cutoffOnOutputs, let digest = outcome.outputsDigest, seen == digest {
                        // Early cutoff: the outputs it last ran after are the outputs now.
                        if tasks[dependent]?.blockedBy != nil { tasks[dependent]?.blockedBy = nil }
                        note("\(dependent): not re-run after \(id) #\(number), whose outputs did not change")
                    } else {
                        want(dependent, "after \(id) #\(number)", into: &decisions)
                    }
                default:
                    break
                }
            }
        }
        return decisions + plan()
    }

    /// Daemon `task`'s run `number` ended by itself (a restart the graph asked
    /// for never comes here): its `exited` dependents run; by its `restart`
    /// policy it is started again after its backoff, unless it crashed more
    /// than `intensity` times within `period` (it is then given up, until
    /// an upstream or the shell asks for it again). A run ended by the
    /// node stopping is not a crash: the next start starts it.
    mutating func exited(_ task: TaskSpec, _ number: Int, _ outcome: RunOutcome, into decisions: inout [GraphDecision]) {
        guard let spec else { return }
        tasks[task.id]?.readyRun = nil
        let how = outcome.exitCode.map { "exit \($0)" } ?? outcome.signal.map { "signal \($0)" } ?? outcome.status.rawValue
        for dependent in order {
            guard let downstream = spec.task(dependent), downstream.dependsOn.contains(where: { $0.task == task.id && $0.condition == .exited }) else { continue }
            want(dependent, "after \(task.id) #\(number) exited (\(how))", into: &decisions)
        }
        guard var state = tasks[task.id] else { return }
        deliver(task.id, number, outcome, into: &decisions)
        let abnormal = outcome.status != .succeeded
        let restarts = task.restart == "permanent" || (task.restart == "transient" && abnormal)
        guard restarts, outcome.status != .interrupted, state.wanted == nil else {
            tasks[task.id] = state
            return
        }
        let at = max(outcome.endedAt, now)
        state.crashes = state.crashes.filter { at - $0 < Int64(task.period) * 1000 } + [at]
        if state.crashes.count > task.intensity {
            state.gaveUp = "it ended \(state.crashes.count) times within \(task.period) s (last: #\(number), \(how)); given up until asked again"
            tasks[task.id] = state
            note("\(task.id): \(state.gaveUp ?? "")")
            return
        }
        let backoff = task.backoff ?? BackoffSpec(initial: 500, maximum: 10_000)
        let delay = backoff.delay(after: state.crashes.count - 1)
        let token = (state.restartToken ?? number) + 1
        state.restartToken = token
        tasks[task.id] = state
        decisions.append(.wake(task: task.id, token: token, milliseconds: delay))
    }

    /// Run `number` of `id` ended with `outcome`: each worker that depends
    /// on `id` is sent it (by its edge's condition: `succeeded` only
    /// successes; `completed`, and a daemon's `exited`, every end).
    mutating func deliver(_ id: String, _ number: Int, _ outcome: RunOutcome, into decisions: inout [GraphDecision]) {
        guard let spec, outcome.status != .interrupted else { return }
        let record = tasks[id]?.runs.last { $0.number == number }
        for worker in spec.tasks where worker.kind == .worker {
            guard let edge = worker.dependsOn.first(where: { $0.task == id }) else { continue }
            guard edge.condition != .succeeded || outcome.status == .succeeded else { continue }
            guard [.succeeded, .completed, .exited].contains(edge.condition) else { continue }
            tasks[worker.id]?.runCount += 1
            decisions.append(.deliver(worker: worker.id, outcome: TaskOutcome(
                graph: spec.id, task: id, run: number, status: outcome.status, exitCode: outcome.exitCode,
                startedAt: record?.startedAt ?? outcome.startedAt, endedAt: outcome.endedAt, causes: record?.causes ?? [],
                outputsDigest: outcome.outputsDigest, tail: outcome.tail)))
        }
    }

    /// A backoff passed (`token` names which): a crashed daemon is started
    /// again, a failed job retried.
    public mutating func wake(_ id: String, token: Int) -> [GraphDecision] {
        guard var state = tasks[id], state.restartToken == token, !state.isRunning, let task = spec?.task(id) else { return [] }
        state.restartToken = nil
        let how = state.lastRun?.outcome.map { $0.exitCode.map { "exit \($0)" } ?? $0.status.rawValue } ?? "ended"
        let cause = task.kind == .job
            ? "retry \(state.retries) of \(task.retryAttempts) after #\(state.lastRun?.number ?? 0) \(state.lastRun?.status.rawValue ?? "failed") (\(how))"
            : "restart after #\(state.lastRun?.number ?? 0) ended (\(how))"
        state.wanted = (state.wanted ?? []) + [cause]
        tasks[id] = state
        return plan()
    }

    /// Daemon `id`'s run `run` passed its readiness check at `at` (a late
    /// report, of a run since replaced, is ignored): what waits for it to
    /// be ready may start, and what cascades on it (`cascade: true`) re-runs.
    public mutating func ready(_ id: String, run: Int, at: Int64) -> [GraphDecision] {
        guard var state = tasks[id], state.isRunning, let index = state.runs.indices.last, state.runs[index].number == run, state.readyRun != run,
              let spec else { return [] }
        state.readyRun = run
        state.runs[index].readyAt = at
        tasks[id] = state
        var decisions: [GraphDecision] = []
        for dependent in order {
            guard let downstream = spec.task(dependent),
                  downstream.dependsOn.contains(where: { $0.task == id && $0.condition == .ready && $0.cascade }) else { continue }
            // The first time up lets it go by its gate; a restart re-runs it.
            if tasks[dependent]?.lastRun != nil { want(dependent, "after \(id) #\(run) ready", into: &decisions) }
        }
        return decisions + plan()
    }

    /// The task and run index of the run effect `effect` carries.
    func running(_ effect: UInt64) -> (task: String, index: Int)? {
        for (id, state) in tasks where state.effect == effect {
            guard let index = state.runs.indices.last else { return nil }
            return (id, index)
        }
        return nil
    }

    /// `id` may not run (`reason`), nor what runs after it.
    mutating func block(_ id: String, because reason: String) {
        guard var state = tasks[id] else { return }
        state.wanted = nil
        state.blockedBy = reason
        tasks[id] = state
        guard let spec else { return }
        for task in spec.tasks where task.dependsOn.contains(where: { $0.task == id && $0.condition == .succeeded }) {
            if tasks[task.id]?.blockedBy == nil { block(task.id, because: "\(id) is blocked") }
        }
    }

    /// Starts what may start: in order, each task asked to run whose
    /// upstreams are all settled (none, however far up, is running or
    /// asked to run: a cascade reaches each task once), whose conditions
    /// hold (else it waits for a daemon on its way up, or is blocked),
    /// for a job, whose lock is free while fewer than `parallel` jobs
    /// run. A daemon asked to run while it runs is restarted now: its
    /// running version stayed up until here (the last good one, while a
    /// build ran or failed). Daemons count against neither `parallel` nor locks.
    mutating func plan() -> [GraphDecision] {
        guard let spec, !paused else { return [] }
        var decisions: [GraphDecision] = []
        var runningJobs = tasks.filter { $0.value.isRunning && spec.task($0.key)?.kind == .job }.count
        var heldLocks = Set(tasks.compactMap { id, state in state.isRunning ? spec.task(id)?.kind == .job ? spec.task(id)?.lock : nil : nil })
        for id in order {
            guard let task = spec.task(id), task.kind != .worker, var state = tasks[id], let causes = state.wanted, !pausedTasks.contains(id) else { continue }
            if task.kind == .job {
                guard runningJobs < spec.parallel, !state.isRunning else { continue }
            }
            guard !upstreamBusy(id, spec) else { continue }
            switch unmetCondition(task) {
            case .wait?: continue
            case .block(let reason)?:
                block(id, because: reason)
                continue
            case nil: break
            }
            if task.kind == .job, let lock = task.lock, heldLocks.contains(lock) { continue }
            if let effect = state.effect, let index = state.runs.indices.last {
                // A daemon restarted on purpose: not a crash, not counted.
                state.runs[index].outcome = RunOutcome(status: .cancelled, startedAt: state.runs[index].startedAt, endedAt: max(now, state.runs[index].startedAt),
                                                       note: "restarted (\(causes.joined(separator: "; ")))")
                state.readyRun = nil
                decisions.append(.cancel(task: id, run: state.runs[index].number, effect: effect))
            }
            state.runCount += 1
            state.wanted = nil
            state.blockedBy = nil
            state.specDigest = Self.digest(of: task)
            let number = state.runCount
            let digests = Dictionary(uniqueKeysWithValues: task.inputs.map { ($0, setDigests[$0] ?? "") })
            state.runs.append(RunRecord(number: number, causes: causes, graphVersion: version, inputDigests: digests,
                                        startedAt: now, outcome: nil, logPath: "", upstream: upstreamSeen(task, spec)))
            if state.runs.count > spec.history { state.runs.removeFirst(state.runs.count - spec.history) }
            // The effect that carries it is set by `started`, once the handler has asked for it.
            state.effect = UInt64.max
            tasks[id] = state
            if task.kind == .job {
                runningJobs += 1
                if let lock = task.lock { heldLocks.insert(lock) }
            }
            decisions.append(.start(task: id, run: number))
        }
        return decisions
    }

    /// For each job `task` depends on with `succeeded` or `completed`: its
    /// latest run (`#N`), or with `cutoff: outputs` that run's outputs digest.
    func upstreamSeen(_ task: TaskSpec, _ spec: GraphSpec) -> [String: String]? {
        var seen: [String: String] = [:]
        for edge in task.dependsOn where edge.condition == .succeeded || edge.condition == .completed {
            guard let last = tasks[edge.task]?.lastRun else { continue }
            seen[edge.task] = edge.cutoffOnOutputs ? (last.outcome?.outputsDigest ?? "#\(last.number)") : "#\(last.number)"
        }
        return seen.isEmpty ? nil : seen
    }

    /// Run `run` of `task` is carried by effect `effect`, from `startedAt`, its output in `logPath`.
    public mutating func started(_ task: String, run: Int, effect: UInt64, startedAt: Int64, logPath: String) {
        guard var state = tasks[task], let index = state.runs.lastIndex(where: { $0.number == run }) else { return }
        state.effect = effect
        state.runs[index].startedAt = startedAt
        state.runs[index].logPath = logPath
        tasks[task] = state
    }

    /// Run `run` of `task` could not be asked for (`why`): it ends at once.
    public mutating func notStarted(_ task: String, run: Int, at now: Int64, why: String) -> [GraphDecision] {
        guard var state = tasks[task], let index = state.runs.lastIndex(where: { $0.number == run }) else { return [] }
        state.effect = nil
        state.runs[index].startedAt = now
        state.runs[index].outcome = RunOutcome(status: .couldNotStart, startedAt: now, endedAt: now, note: why)
        tasks[task] = state
        return plan()
    }

    /// Whether an upstream of `id`, however far up (through every edge but
    /// `exited`, which gates nothing), is a job running or asked to run, or
    /// a daemon asked to (re)start.
    func upstreamBusy(_ id: String, _ spec: GraphSpec) -> Bool {
        var seen: Set<String> = [id]
        var stack = Self.gatingUpstreams(of: id, spec)
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            if holdsBack(next, spec) { return true }
            stack.append(contentsOf: Self.gatingUpstreams(of: next, spec))
        }
        return false
    }

    /// The upstreams `id` waits for: those of every edge but `exited`.
    static func gatingUpstreams(of id: String, _ spec: GraphSpec) -> [String] {
        spec.task(id)?.dependsOn.filter { $0.condition != .exited }.map(\.task) ?? []
    }

    /// Whether `id` holds back what depends on it: a job running, asked to
    /// run or waiting for a retry; a daemon asked to (re)start; not while blocked.
    func holdsBack(_ id: String, _ spec: GraphSpec) -> Bool {
        guard let state = tasks[id], state.blockedBy == nil else { return false }
        return spec.task(id)?.kind == .daemon ? state.wanted != nil : state.isBusy
    }

    /// Why `task`'s conditions do not hold: for `succeeded`, a job upstream
    /// whose latest run did not succeed; for `completed`, one that never
    /// ended; for `ready` and `started`, a daemon not up (a wait while it
    /// is on its way, a block when it is down). Nil when they hold.
    func unmetCondition(_ task: TaskSpec) -> Unmet? {
        for edge in task.dependsOn {
            guard let upstream = spec?.task(edge.task), let state = tasks[edge.task] else { continue }
            let last = state.lastRun
            switch edge.condition {
            case .succeeded where upstream.kind == .job:
                guard let last else { return .block("\(edge.task) has not run") }
                if last.status != .succeeded { return .block("\(edge.task) #\(last.number) \(last.status.rawValue)") }
            case .completed where upstream.kind == .job:
                guard let last, last.status.hasEnded else { return .block("\(edge.task) has not run") }
            case .ready, .started:
                let up = edge.condition == .ready ? state.isReady : state.isRunning
                if up { continue }
                if state.isRunning || state.wanted != nil || state.restartToken != nil { return .wait }
                return .block("\(edge.task) is not up" + (state.gaveUp.map { ": \($0)" } ?? ""))
            default:
                break
            }
        }
        return nil
    }

    // MARK: Helpers

    /// Upstreams before their dependents, otherwise in file order (a checked graph has no cycle).
    static func topologicalOrder(_ spec: GraphSpec) -> [String] {
        var placed: [String] = []
        var done: Set<String> = []
        func place(_ id: String, _ depth: Int) {
            guard !done.contains(id), depth <= spec.tasks.count, let task = spec.task(id) else { return }
            for edge in task.dependsOn { place(edge.task, depth + 1) }
            if done.insert(id).inserted { placed.append(id) }
        }
        for task in spec.tasks { place(task.id, 0) }
        return placed
    }

    /// The last component of `path`.
    static func lastComponent(_ path: String) -> String { path.split(separator: "/").last.map(String.init) ?? path }

    /// A digest of what `task` runs and how (a change makes it stale).
    public static func digest(of task: TaskSpec) -> String {
        var hasher = StableHash()
        switch task.operation {
        case .command(let argv)?: hasher.add("command"); for argument in argv { hasher.add(argument) }
        case .shell(let text)?: hasher.add("shell"); hasher.add(text)
        case .script(let text, let interpreter)?: hasher.add("script"); hasher.add(text); for part in interpreter { hasher.add(part) }
        case nil: hasher.add("none")
        }
        hasher.add(task.cwd)
        for (key, value) in task.environment.sorted(by: { $0.key < $1.key }) { hasher.add(key); hasher.add(value) }
        return hasher.hex
    }
}

