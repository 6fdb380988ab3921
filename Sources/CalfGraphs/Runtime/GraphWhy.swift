import Glibc

extension GraphState {
    /// Why `id` ran, runs, waits or is stale, in lines (the shell's `why`):
    /// where it stands and what it waits for, then the chain of causes
    /// from its latest run back through the upstream runs it ran after
    /// (`after build #4` → build #4's causes), as far as the ledgers go.
    /// - Returns: nil for no such task.
    public func why(_ id: String) -> [String]? {
        guard let spec, let task = spec.task(id), let state = tasks[id] else { return nil }
        var lines: [String] = []
        let last = state.lastRun
        switch (task.kind, status(of: task, state)) {
        case (_, "running"), (_, "starting"):
            lines.append("\(id) is \(status(of: task, state)) run #\(last?.number ?? 0) (started \(Self.clock(last?.startedAt ?? 0))).")
        case (.daemon, "ready"):
            lines.append("\(id) is up: run #\(last?.number ?? 0), ready since \(Self.clock(last?.readyAt ?? 0)).")
        case (_, "pending"):
            lines.append("\(id) is to run (\((state.wanted ?? []).joined(separator: "; "))); \(waitingReason(task, spec)).")
        case (_, "blocked"):
            lines.append("\(id) is blocked: \(state.blockedBy ?? "?"); it runs again after that succeeds.")
        case (_, "given up"):
            lines.append("\(id) is down: \(state.gaveUp ?? "given up"). `run \(id)` or a success of what it depends on starts it again.")
        case (_, "backoff"):
            lines.append("\(id) crashed; it is started again after its backoff.")
        case (_, "never run"):
            lines.append("\(id) has never run" + (task.auto ? "." : " (auto: false: `run \(id)` runs it)."))
        default:
            if task.kind == .job, let reason = staleness(of: task, state) {
                lines.append("\(id) is stale: \(reason)" + (task.auto ? "." : " (auto: false: `run \(id)` runs it)."))
            } else if let last {
                lines.append("\(id) is \(status(of: task, state)): run #\(last.number) \(last.status.rawValue) at \(Self.clock(last.outcome?.endedAt ?? last.startedAt)).")
            }
        }
        if task.kind == .daemon, state.isRunning, state.blockedBy != nil || state.wanted != nil {
            lines.append("It is stale" + (state.blockedBy.map { " (\($0))" } ?? "") + ": it restarts once what it depends on has succeeded and settled; until then this run stays up.")
        }
        if paused || pausedTasks.contains(id) { lines.append("It is paused: nothing \(paused ? "of the graph " : "")starts until `graph resume`.") }
        var seen: Set<String> = []
        if let last { lines += chain(id, run: last.number, depth: 0, seen: &seen) }
        return lines
    }

    /// What keeps a task asked to run from starting now.
    func waitingReason(_ task: TaskSpec, _ spec: GraphSpec) -> String {
        let busy = Self.gatingUpstreams(of: task.id, spec).filter { holdsBack($0, spec) }
        if !busy.isEmpty { return "it waits for \(busy.joined(separator: ", ")) to finish" }
        if upstreamBusy(task.id, spec) { return "it waits for what its upstreams depend on to finish" }
        if case .wait? = unmetCondition(task) { return "it waits for a daemon it depends on to be up" }
        if let lock = task.lock, let holder = tasks.first(where: { $0.value.isRunning && spec.task($0.key)?.lock == lock })?.key {
            return "it waits for the lock \(lock), which \(holder) holds"
        }
        if task.kind == .job, tasks.filter({ $0.value.isRunning && spec.task($0.key)?.kind == .job }).count >= spec.parallel {
            return "it waits for one of the \(spec.parallel) job slots (parallel)"
        }
        return "it starts next"
    }

    /// Run `run` of `id` and why it ran, then the upstream runs its causes
    /// name (each run once: a diamond's top is shown under its first side).
    func chain(_ id: String, run: Int, depth: Int, seen: inout Set<String>) -> [String] {
        guard depth < 6, seen.insert("\(id)#\(run)").inserted, let record = tasks[id]?.runs.first(where: { $0.number == run }) else { return [] }
        let indent = String(repeating: "  ", count: depth)
        var lines = ["\(indent)\(id) #\(run) (\(record.status.rawValue), \(Self.clock(record.startedAt))) ran because: \(record.causes.joined(separator: "; "))"]
        for cause in record.causes where cause.hasPrefix("after ") {
            // "after build #4" or "after db #2 ready": the upstream and its run.
            let words = cause.dropFirst("after ".count).split(separator: " ")
            guard words.count >= 2, words[1].hasPrefix("#"), let number = Int(words[1].dropFirst()) else { continue }
            lines += chain(String(words[0]), run: number, depth: depth + 1, seen: &seen)
        }
        return lines
    }

    /// `milliseconds` since 1970 as the local time of day, HH:MM:SS.
    public static func clock(_ milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }
}
