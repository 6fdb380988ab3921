import Calf

/// The durable process `ID/graph`: the graph's only scheduler. It keeps
/// the graph as last loaded, each watch set's digest and each task's
/// ledger of runs (`GraphState`); every trigger is a journaled message,
/// every run an effect asked for in the same turn that records it
/// started, so a run is started at most once and a restart knows what ran.
public struct GraphProcess: DurableBehavior {
    /// The graph's id.
    public var id: String
    /// The node's data directory (logs go to `DATA/graph/ID/logs/TASK/RUN.log`).
    public var dataDirectory: String

    /// The process of graph `id` on a node with data directory `dataDirectory`.
    public init(id: String, dataDirectory: String) {
        self.id = id
        self.dataDirectory = dataDirectory
    }

    /// Its runs.
    public static var effects: [any DurableEffect.Type] { [TaskRunEffect.self, TaskSignalEffect.self, WorkerDeliveryEffect.self] }

    /// What the graph takes.
    public enum Message: Codable, Sendable, EffectCompletionMessage {
        /// The graph file as read at a node start, with each watch set's digest as just scanned.
        case start(GraphSpec, version: String, digests: [String: String])
        /// The graph file edited while the node runs (checked: a bad edit never comes here).
        case reload(GraphSpec, version: String)
        /// A watch set changed: its new digest and the changed paths (a sample).
        case changed(set: String, digest: String, paths: [String])
        /// A run of a job (a restart of a daemon) asked for by hand; the reply is the run's number, or nil if it was coalesced or there is no such task.
        case run(task: String, by: String)
        /// A daemon's run passed its readiness check (from the runner).
        case ready(task: String, run: Int)
        /// A crashed daemon's backoff passed (a durable timer of the graph's own).
        case wake(task: String, token: Int)
        /// Stops a job's run under way; the reply says whether one ran.
        case cancel(task: String)
        /// Pauses the graph (`task` nil) or one task; the reply says whether there is such a task.
        case pause(task: String?)
        /// Resumes the graph (`task` nil) or one task; the reply says whether there is such a task.
        case resume(task: String?)
        /// A note from the graph's host (a reload kept back, and why).
        case note(String)
        /// The state, as the shell's `graph` reads it (the reply).
        case report
        /// A run ended.
        case effectCompleted(EffectCompletion)
    }

    /// The graph's state.
    public typealias State = GraphState

    /// Nothing loaded yet.
    public func initialState() -> GraphState { GraphState() }

    /// Applies a trigger to the state and carries out its decisions.
    public func handle(_ message: Message, state: inout GraphState, context: inout DurableContext<Message>) throws {
        let now = Int64(context.now.nanosecondsSinceEpoch / 1_000_000)
        state.now = now
        let decisions: [GraphDecision]
        switch message {
        case .start(let spec, let version, let digests):
            decisions = state.load(spec, version: version, digests: digests, start: true)
        case .reload(let spec, let version):
            decisions = state.load(spec, version: version, digests: [:], start: false)
            state.note("graph reloaded: version \(version)")
        case .changed(let set, let digest, let paths):
            decisions = state.changed(set: set, digest: digest, paths: paths)
        case .run(let task, let by):
            let before = state.tasks[task]?.runCount
            decisions = state.manual(task, by: by) ?? []
            try carryOut(decisions, &state, &context, now: now)
            let after = state.tasks[task]?.runCount
            context.reply(after != before ? after : nil)
            return
        case .cancel(let task):
            let cancelled = state.cancel(task)
            decisions = cancelled ?? []
            try carryOut(decisions, &state, &context, now: now)
            context.reply(cancelled != nil)
            return
        case .pause(let task):
            context.reply(state.pause(task))
            return
        case .resume(let task):
            let resumed = state.resume(task)
            try carryOut(resumed ?? [], &state, &context, now: now)
            context.reply(resumed != nil)
            return
        case .ready(let task, let run):
            decisions = state.ready(task, run: run, at: now)
        case .wake(let task, let token):
            decisions = state.wake(task, token: token)
        case .note(let text):
            state.note(text)
            decisions = []
        case .report:
            context.reply(state)
            return
        case .effectCompleted(let completion) where completion.name == TaskSignalEffect.effectName || completion.name == WorkerDeliveryEffect.effectName:
            // A reload signal (the daemon's run goes on) or a worker's outcome: nothing to plan.
            if completion.name == WorkerDeliveryEffect.effectName, let failure = completion.failure { state.note("an outcome did not reach its worker: \(failure)") }
            decisions = []
        case .effectCompleted(let completion):
            let outcome: RunOutcome
            switch completion.result(as: RunOutcome.self) {
            case .success(let value): outcome = value
            case .failure(let failure): outcome = RunOutcome(status: .couldNotStart, startedAt: now, endedAt: now, note: "its effect failed: \(failure)")
            }
            decisions = state.finished(effect: completion.effect.id, outcome: outcome)
        }
        try carryOut(decisions, &state, &context, now: now)
    }

    /// Asks for each run started (its effect journaled with this turn) and cancels each stopped.
    private func carryOut(_ decisions: [GraphDecision], _ state: inout GraphState, _ context: inout DurableContext<Message>, now: Int64) throws {
        var pending = decisions
        while !pending.isEmpty {
            let decision = pending.removeFirst()
            switch decision {
            case .cancel(_, _, let effect):
                context.cancelEffect(EffectRef(id: effect))
            case .signal(let task, let run, let signal):
                do {
                    try context.perform(TaskSignalEffect(graph: id, task: task, run: run, signal: signal))
                } catch {
                    state.note("\(task) #\(run): \(signal) could not be sent: \(error)")
                }
            case .wake(let task, let token, let milliseconds):
                context.sendAfter(.wake(task: task, token: token), after: .milliseconds(milliseconds))
            case .deliver(let worker, let outcome):
                do {
                    try context.perform(WorkerDeliveryEffect(graph: id, worker: worker, outcome: outcome))
                } catch {
                    state.note("\(outcome.task) #\(outcome.run)'s outcome could not be sent to \(worker): \(error)")
                }
            case .start(let task, let run):
                guard let spec = state.spec, let taskSpec = spec.task(task), let operation = taskSpec.operation else {
                    pending += state.notStarted(task, run: run, at: now, why: "it has nothing to run")
                    continue
                }
                let logPath = "\(dataDirectory)/graph/\(id)/logs/\(task)/\(run).log"
                let effect = TaskRunEffect(
                    graph: id, task: task, run: run, operation: operation, shell: spec.shell, workingDirectory: taskSpec.cwd,
                    environment: spec.environment.merging(taskSpec.environment) { $1 }, stdinPipe: taskSpec.stdinPipe,
                    timeout: taskSpec.kind == .job ? taskSpec.timeout : nil, killAfter: taskSpec.killAfter, logPath: logPath,
                    scripts: "\(dataDirectory)/graph/\(id)/scripts", keepLogs: spec.history,
                    outputs: taskSpec.kind == .job ? taskSpec.outputs : [], ready: taskSpec.kind == .daemon ? taskSpec.ready ?? .up : nil)
                do {
                    let ref = try context.perform(effect)
                    state.started(task, run: run, effect: ref.id, startedAt: now, logPath: logPath)
                } catch {
                    pending += state.notStarted(task, run: run, at: now, why: "\(error)")
                }
            }
        }
    }
}

extension GraphState {
    /// Keeps `text` among the latest notes (at most 20).
    mutating func note(_ text: String) {
        notes.append(text)
        if notes.count > 20 { notes.removeFirst(notes.count - 20) }
    }
}
