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

    /// A task with no runs.
    public init() {}

    /// Its latest run.
    public var lastRun: RunRecord? { runs.last }
    /// Whether a run of it is under way.
    public var isRunning: Bool { effect != nil }
    /// Whether it is running or asked to run.
    public var isBusy: Bool { effect != nil || wanted != nil }
}

/// What the graph's process decided, for its handler to carry out.
public enum GraphDecision: Sendable, Equatable {
    /// Start run `run` of `task` (its record is in the state, `running`).
    case start(task: String, run: Int)
    /// Stop run `run` of `task` (its effect `effect`); its record says why.
    case cancel(task: String, run: Int, effect: UInt64)
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

    /// An empty state.
    public init() {}

    // MARK: Loading

    /// Takes `spec` (at a node start with `start`, or a reload): tasks it
    /// no longer has are dropped (a running one is stopped), new ones get
    /// an empty ledger. At a start, `digests` are the watch sets as just
    /// scanned, and tasks run by their `onStart`: `always`, or `ifStale`
    /// when they are stale (never succeeded, their spec or an input
    /// changed since their latest run, or that run did not succeed). At a
    /// reload, a task whose spec changed is stale and runs if `auto`.
    public mutating func load(_ spec: GraphSpec, version: String, digests: [String: String], start: Bool) -> [GraphDecision] {
        var decisions: [GraphDecision] = []
        let kept = Set(spec.tasks.map(\.id))
        for (id, task) in tasks where !kept.contains(id) {
            if let effect = task.effect, let run = task.lastRun { decisions.append(.cancel(task: id, run: run.number, effect: effect)) }
            tasks[id] = nil
        }
        self.spec = spec
        self.version = version
        order = Self.topologicalOrder(spec)
        for task in spec.tasks where tasks[task.id] == nil { tasks[task.id] = TaskState() }
        for (set, digest) in digests { setDigests[set] = digest }
        for id in order {
            guard let task = spec.task(id), task.kind == .job, let state = tasks[id] else { continue }
            if start {
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
            guard let task = spec.task(id), task.kind == .job, task.auto, task.inputs.contains(set) else { continue }
            want(id, cause, into: &decisions)
        }
        return decisions + plan()
    }

    /// A run of `task` asked for by hand (`by` says who), `auto` or not.
    /// - Returns: nil for no such job.
    public mutating func manual(_ task: String, by: String) -> [GraphDecision]? {
        guard let spec = spec?.task(task), spec.kind == .job else { return nil }
        var decisions: [GraphDecision] = []
        want(task, "manual (\(by))", into: &decisions)
        return decisions + plan()
    }

    /// Stops `task`'s run under way (its record says `cancelled`); nil if none runs.
    public mutating func cancel(_ task: String, at now: Int64) -> [GraphDecision]? {
        guard var state = tasks[task], let effect = state.effect, let index = state.runs.indices.last else { return nil }
        state.effect = nil
        state.runs[index].outcome = RunOutcome(status: .cancelled, startedAt: state.runs[index].startedAt, endedAt: now, note: "cancelled from the shell")
        let number = state.runs[index].number
        tasks[task] = state
        return [.cancel(task: task, run: number, effect: effect)] + plan()
    }

    /// Asks for a run of `id` for `cause`: coalesced with what it waits
    /// for; while it runs, by its `onBusy` (one more run after it, the
    /// running one stopped first, or nothing).
    mutating func want(_ id: String, _ cause: String, into decisions: inout [GraphDecision]) {
        guard var state = tasks[id], let task = spec?.task(id) else { return }
        if let effect = state.effect, let index = state.runs.indices.last {
            switch task.onBusy {
            case .ignore: return
            case .queue: break
            case .restart:
                state.effect = nil
                state.runs[index].outcome = RunOutcome(status: .cancelled, startedAt: state.runs[index].startedAt, endedAt: state.runs[index].startedAt,
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
        guard let found = running(effect), var state = tasks[found.task] else { return [] }
        let (id, index) = found
        state.effect = nil
        state.runs[index].outcome = outcome
        let number = state.runs[index].number
        tasks[id] = state
        var decisions: [GraphDecision] = []
        guard let spec else { return plan() }
        for dependent in order {
            guard let task = spec.task(dependent), task.kind == .job else { continue }
            for edge in task.dependsOn where edge.task == id {
                switch edge.condition {
                case .completed:
                    want(dependent, "after \(id) #\(number)", into: &decisions)
                case .succeeded:
                    if outcome.status == .succeeded {
                        want(dependent, "after \(id) #\(number)", into: &decisions)
                    } else {
                        block(dependent, because: "\(id) #\(number) \(outcome.status.rawValue)")
                    }
                default:
                    break
                }
            }
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

    /// Starts what may start: in order, each job asked to run whose
    /// upstreams are all settled (none, however far up, is running or
    /// asked to run: a cascade reaches each task once), whose conditions
    /// hold (else it is blocked), whose lock is free, while fewer than
    /// `parallel` jobs run.
    mutating func plan() -> [GraphDecision] {
        guard let spec else { return [] }
        var decisions: [GraphDecision] = []
        var runningCount = tasks.values.filter(\.isRunning).count
        var heldLocks = Set(tasks.compactMap { id, state in state.isRunning ? spec.task(id)?.lock : nil })
        for id in order {
            guard runningCount < spec.parallel else { break }
            guard let task = spec.task(id), task.kind == .job, var state = tasks[id], let causes = state.wanted, !state.isRunning else { continue }
            guard !upstreamBusy(id, spec) else { continue }
            if let reason = unmetCondition(task) {
                block(id, because: reason)
                continue
            }
            if let lock = task.lock, heldLocks.contains(lock) { continue }
            state.runCount += 1
            state.wanted = nil
            state.blockedBy = nil
            state.specDigest = Self.digest(of: task)
            let number = state.runCount
            let digests = Dictionary(uniqueKeysWithValues: task.inputs.map { ($0, setDigests[$0] ?? "") })
            state.runs.append(RunRecord(number: number, causes: causes, graphVersion: version, inputDigests: digests,
                                        startedAt: 0, outcome: nil, logPath: ""))
            if state.runs.count > spec.history { state.runs.removeFirst(state.runs.count - spec.history) }
            // The effect that carries it is set by `started`, once the handler has asked for it.
            state.effect = UInt64.max
            tasks[id] = state
            runningCount += 1
            if let lock = task.lock { heldLocks.insert(lock) }
            decisions.append(.start(task: id, run: number))
        }
        return decisions
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

    /// Whether an upstream of `id`, however far up, is running or asked to run.
    func upstreamBusy(_ id: String, _ spec: GraphSpec) -> Bool {
        var seen: Set<String> = [id]
        var stack = spec.task(id)?.dependsOn.map(\.task) ?? []
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            if tasks[next]?.isBusy == true, tasks[next]?.blockedBy == nil { return true }
            stack.append(contentsOf: spec.task(next)?.dependsOn.map(\.task) ?? [])
        }
        return false
    }

    /// Why `task`'s conditions do not hold (a job upstream whose latest run
    /// did not succeed, for `succeeded`; none that ended, for `completed`), or nil.
    func unmetCondition(_ task: TaskSpec) -> String? {
        for edge in task.dependsOn {
            guard spec?.task(edge.task)?.kind == .job else { continue }
            let last = tasks[edge.task]?.lastRun
            switch edge.condition {
            case .succeeded:
                guard let last else { return "\(edge.task) has not run" }
                if last.status != .succeeded { return "\(edge.task) #\(last.number) \(last.status.rawValue)" }
            case .completed:
                guard let last, last.status.hasEnded else { return "\(edge.task) has not run" }
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

