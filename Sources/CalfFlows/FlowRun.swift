import Calf
import Foundation
import Logging
import Synchronization

/// The code of one flow running over its log: its task, the steps it is
/// suspended on, and, during a turn, the log and the context it works with.
///
/// A run is rebuilt from the log whenever it is missing or out of step
/// (after a node start, a handler that threw, `replayEveryTurn`): its code
/// runs again from the top, each step it asks for matched by position
/// against the log and answered from it, silently, until it waits on the
/// steps the log has under way. A step the log does not have during that
/// rebuild, or one of another kind or arguments, parks the flow as diverged.
final class FlowRun: @unchecked Sendable {
    // Owned by the flow's process: touched only inside its turns (one thread
    // at a time runs a process's turn), by the turn itself and by the flow's
    // task, whose jobs run only inside those turns on the turn's thread
    // (FlowExecutor). `log` and `context` point into the turn's frame and are
    // nil outside it.
    let executor = FlowExecutor()
    private var counters: [String: Int] = [:]
    private var waiting: [String: UnsafeContinuation<FlowStepResult, any Error>] = [:]
    private var log: UnsafeMutablePointer<FlowLog>?
    private var context: UnsafeMutablePointer<DurableContext<FlowEvent>>?
    /// True while the code runs again over the log (nothing new may be asked for).
    private(set) var rebuilding = false
    /// The flow's clock: the time of the turn the code runs in (in a
    /// rebuild, of the turn it first ran in).
    private(set) var now: WallTime
    private var seed: UInt64
    private var draws: UInt64 = 0
    /// How the code ended: its output as JSON, or its error.
    private var finished: Result<String, EffectFailure>?
    /// Why the flow is parked, once it is.
    private(set) var stopped: FlowDivergence?
    /// The log's `turns` this run is in step with.
    var syncedTurns = -1
    private var lastStep = "start"
    private var lastSite = "the start"
    /// The flow type's name (for its logger).
    let type: String

    /// Which run of the flow this is (`continueAsNew` starts the next): its step ids carry it.
    let generation: Int
    /// The input of this run, as JSON.
    let input: String
    /// How long its history may grow.
    let limits: FlowLimits
    /// The input of the next run, once the code asked for `continueAsNew`.
    private(set) var continued: String?
    private var warned = false

    init(log: FlowLog, seed: UInt64, startedAt: WallTime, limits: FlowLimits) {
        type = log.type
        generation = log.generation
        input = log.input
        self.seed = seed ^ UInt64(log.generation) &* 0xD6E8_FEB8_6659_FD93
        self.limits = limits
        now = startedAt
    }

    /// The code asked to go on as a new run with `input` (called by its task, inside a turn).
    func continueAsNew(_ input: String) {
        guard !evicted, stopped == nil else { return }
        continued = input
    }

    /// Whether the flow's output may be acted on (not replaying, not rebuilding).
    var isReplaying: Bool { rebuilding || (context?.pointee.isReplaying ?? true) }

    // MARK: Turns

    /// Runs `body` as part of a turn of the flow's process, with `log` and
    /// `context` reachable by the flow's steps.
    func withTurn(_ log: inout FlowLog, _ context: inout DurableContext<FlowEvent>, _ body: () -> Void) {
        withUnsafeMutablePointer(to: &log) { log in
            withUnsafeMutablePointer(to: &context) { context in
                self.log = log
                self.context = context
                executor.openTurn()
                defer {
                    executor.closeTurn()
                    self.log = nil
                    self.context = nil
                }
                body()
            }
        }
    }

    /// Runs the code over `log` from the top with no turn around it (a
    /// check of a log against the code at hand: nothing can be issued),
    /// then unwinds its task; says how the code met the log.
    func check(_ log: inout FlowLog, start: (FlowRun) -> Void) -> FlowCheck {
        withUnsafeMutablePointer(to: &log) { log in
            self.log = log
            executor.openTurn()
            defer {
                executor.closeTurn()
                self.log = nil
            }
            rebuild(start: start)
            let outcome: FlowCheck
            if let stopped {
                outcome = .diverged(stopped)
            } else if finished != nil || continued != nil {
                let open = log.pointee.steps.first { $0.result == nil }
                outcome = .diverged(FlowDivergence(
                    step: open?.id ?? lastStep, journal: open.map { "\($0.kind.rawValue) \($0.what) at \($0.site), under way" },
                    code: "to end there (it returns or goes on as new)", reason: "diverged"))
            } else if waiting.isEmpty || executor.foreignWakeUps > 0 {
                outcome = .diverged(FlowDivergence(step: lastStep, journal: nil, code: "an await on something Calf does not journal after step \(lastStep) at \(lastSite)", reason: "foreignAwait"))
            } else {
                outcome = .replays(waitingOn: waiting.keys.sorted().compactMap { log.pointee.step($0) }.map { "\($0.kind.rawValue) \($0.what)" })
            }
            // The task is not needed any more.
            unwind()
            return outcome
        }
    }

    /// Runs the code again over the log, from the top (`start` starts its task).
    func rebuild(start: (FlowRun) -> Void) {
        rebuilding = true
        start(self)
        executor.drain()
        rebuilding = false
    }

    /// Starts the code live (a flow's first turn).
    func startLive(start: (FlowRun) -> Void) {
        if let context { now = context.pointee.now }
        start(self)
        drainLive()
    }

    /// Applies `event` to the log and resumes the step it ends, then runs
    /// the code until it waits again.
    func handle(_ event: FlowEvent) {
        guard let log, let context else { return } // invariant: called inside withTurn
        now = context.pointee.now
        record(event, log: &log.pointee, context: &context.pointee)
        drainLive()
    }

    /// Runs the code's jobs; a live turn's are timed against the turn
    /// budget (`FlowLimits.warnTurn`, `.maximumTurn`): code that computes
    /// or blocks between steps holds up its scheduler's other processes.
    /// A replay or rebuild is not timed (it re-runs many turns at once).
    private func drainLive() {
        guard !isReplaying else {
            executor.drain()
            return
        }
        let started = ContinuousClock.now
        executor.drain()
        let took = ContinuousClock.now - started
        guard took >= limits.warnTurn else { return }
        func ms(_ duration: Duration) -> String { "\(Int((duration / .milliseconds(1)).rounded())) ms" }
        let what = "the code ran \(ms(took)) in one turn without waiting (its last step then: \(lastStep) at \(lastSite))"
        if took >= limits.maximumTurn, stopped == nil, finished == nil {
            stopped = FlowDivergence(step: lastStep, journal: nil, code: what + ": work that computes or blocks belongs in an effect", reason: FlowRun.slowTurn)
        }
        Logger(label: "calf.flow.\(type)").warning("\(what); a warning past \(ms(limits.warnTurn)), the flow is parked past \(ms(limits.maximumTurn))")
    }

    /// The divergence reason of a flow parked for a turn past `FlowLimits.maximumTurn`.
    static let slowTurn = "slowTurn"


    /// Records `event` in the log without running the code (a parked flow
    /// keeps its events for when it is resumed).
    func keep(_ event: FlowEvent) {
        guard let log, let context else { return } // invariant: called inside withTurn
        record(event, log: &log.pointee, context: &context.pointee)
    }

    /// Sets the log's status from where the code stands after a turn.
    func settle() {
        guard let log, let context else { return } // invariant: called inside withTurn
        if let stopped {
            log.pointee.status = .diverged
            log.pointee.divergence = stopped
            return
        }
        if let finished {
            finish(finished, log: &log.pointee, context: &context.pointee)
            return
        }
        if continued != nil { return }
        if executor.foreignWakeUps > 0 || waiting.isEmpty {
            let divergence = FlowDivergence(
                step: lastStep, journal: nil,
                code: "an await on something Calf does not journal (Task.sleep, an actor with its own executor, a callback API, I/O) after step \(lastStep) at \(lastSite): await only the flow's steps",
                reason: "foreignAwait")
            stopped = divergence
            log.pointee.status = .diverged
            log.pointee.divergence = divergence
            return
        }
        log.pointee.status = .waiting
    }

    /// The code ended (called by its task, inside a turn).
    func end(_ outcome: Result<String, EffectFailure>) {
        // What code unwinding for an eviction ends with is not the flow's end.
        guard !evicted else { return }
        finished = outcome
    }

    /// Whether the task was unwound to leave memory (the log keeps no run then).
    private(set) var evicted = false

    /// After a turn: a flow that waits only on timers due `after` from now
    /// or later, on callbacks or on signals, unwinds its task (each step it
    /// waits on throws `FlowError.evicted`); the next event rebuilds it.
    func evictIfIdle(after: Duration?) {
        guard let after, let log, let context, log.pointee.status == .waiting, stopped == nil, finished == nil else { return }
        let horizon = context.pointee.now + after
        for id in waiting.keys {
            guard let step = log.pointee.step(id), step.kind != .effect, step.kind != .local else { return }
            if let due = step.due, due < horizon { return }
        }
        unwind()
        // The status stays `waiting`: the log is what it was; what the unwinding code did is not kept.
        log.pointee.status = .waiting
    }

    /// Ends the task: each step it waits on throws `FlowError.evicted`, as
    /// do the steps its unwinding code asks for; nothing reaches the log.
    private func unwind() {
        evicted = true
        let pending = waiting
        waiting.removeAll()
        for (_, continuation) in pending.sorted(by: { $0.key < $1.key }) { continuation.resume(throwing: FlowError.evicted) }
        executor.drain()
    }

    // MARK: Events

    private func record(_ event: FlowEvent, log: inout FlowLog, context: inout DurableContext<FlowEvent>) {
        let time = context.now
        switch event {
        case .start, .resume, .reset:
            break
        case .childEnded(let id, let output, let failure), .localRecorded(let id, let output, let failure):
            let result: FlowStepResult = failure.map { .failure($0) } ?? .value(output ?? "null")
            if log.resolve(id, result, at: time) { resume(id, log: log) }
        case .timerFired(let id):
            guard log.resolve(id, .none, at: time) else { return }
            resume(id, log: log)
            // A deadline passed: every step under way beneath it fails, in this turn.
            if log.step(id)?.kind == .timeout {
                let failure = EffectFailure(kind: FlowRun.timeoutKind, message: id, terminal: true)
                for step in log.steps where step.result == nil && step.scopes.contains(id) {
                    ended(step, .failure(failure), log: &log, context: &context)
                }
            }
        case .effectCompleted(let completion):
            guard let id = log.byEffect.removeValue(forKey: completion.effect.id) else { return }
            let result: FlowStepResult = completion.failure.map { .failure($0) } ?? .value(completion.output ?? "null")
            if log.resolve(id, result, at: time, attempts: completion.attempts) { resume(id, log: log) }
        case .callbackArrived(let arrival):
            // A callback of an earlier run (before continueAsNew) is not this run's.
            guard log.byCallback[arrival.callback] != nil else { return }
            log.arrivals[arrival.callback] = arrival
            let json = (try? FlowJSON.encode(arrival)) ?? "null"
            for step in log.steps where step.kind == .wait && step.callback == arrival.callback && step.result == nil {
                ended(step, .value(json), log: &log, context: &context)
            }
        case .signal(let name, let payload):
            if let step = log.steps.first(where: { $0.kind == .signal && $0.signal == name && $0.result == nil }) {
                ended(step, .value(payload), log: &log, context: &context)
            } else {
                log.signals[name, default: []].append(payload)
            }
        case .cancel:
            log.cancelRequested = true
            for step in log.steps where step.result == nil {
                ended(step, .failure(FlowError.cancelledFailure), log: &log, context: &context)
            }
        }
    }

    /// Ends `step` with `result` (its timer cancelled, its effect too) and resumes it.
    private func ended(_ step: FlowStep, _ result: FlowStepResult, log: inout FlowLog, context: inout DurableContext<FlowEvent>) {
        guard log.resolve(step.id, result, at: context.now) else { return }
        if let timer = step.timer { context.cancelTimer(timer) }
        if let effect = step.effect, log.byEffect.removeValue(forKey: effect) != nil { context.cancelEffect(EffectRef(id: effect)) }
        // A child flow the step waits on is cancelled with it.
        if let child = step.child { context.send(.cancel, to: context.flowAddress(of: child)) }
        resume(step.id, log: log)
    }

    private func resume(_ id: String, log: FlowLog) {
        guard let continuation = waiting.removeValue(forKey: id), let result = log.step(id)?.result else { return }
        continuation.resume(returning: result)
    }

    /// Drops the steps after number `keep` (ending what they left under way) for a reset.
    func cut(after keep: Int) {
        guard let log, let context else { return } // invariant: called inside withTurn
        let dropped = log.pointee.steps.dropFirst(max(0, keep + 1))
        for step in dropped {
            if step.result == nil, let timer = step.timer { context.pointee.cancelTimer(timer) }
            if let effect = step.effect, log.pointee.byEffect.removeValue(forKey: effect) != nil { context.pointee.cancelEffect(EffectRef(id: effect)) }
            if step.kind == .callback, let id = step.callback {
                log.pointee.byCallback[id] = nil
                log.pointee.arrivals[id] = nil
                if case .value(let json) = step.result, let callback = FlowJSON.decode(DurableCallback.self, json) { context.pointee.cancelCallback(callback) }
            }
        }
        log.pointee.truncate(to: max(0, keep + 1))
    }

    /// Ends what this run left under way (its timers, effects, callbacks), before the next run starts.
    func endRun() {
        guard let log, let context else { return } // invariant: called inside withTurn
        closeOpenSteps(log: &log.pointee, context: &context.pointee)
    }

    private func closeOpenSteps(log: inout FlowLog, context: inout DurableContext<FlowEvent>) {
        for step in log.steps where step.result == nil {
            if let timer = step.timer { context.cancelTimer(timer) }
            if let effect = step.effect { context.cancelEffect(EffectRef(id: effect)) }
            if let child = step.child { context.send(.cancel, to: context.flowAddress(of: child)) }
        }
        log.byEffect.removeAll()
        for step in log.steps where step.kind == .callback {
            if case .value(let json) = step.result, let callback = FlowJSON.decode(DurableCallback.self, json) {
                context.cancelCallback(callback)
            }
        }
    }

    private func finish(_ outcome: Result<String, EffectFailure>, log: inout FlowLog, context: inout DurableContext<FlowEvent>) {
        log.endedAt = context.now
        switch outcome {
        case .success(let output):
            log.status = .completed
            log.output = output
        case .failure(let failure):
            log.status = log.cancelRequested && failure.kind == FlowError.cancelledFailure.kind ? .cancelled : .failed
            log.error = failure
        }
        // What is still under way ends with the flow: its timers, effects and callbacks.
        closeOpenSteps(log: &log, context: &context)
    }

    // MARK: Steps

    /// Asks for a step: answered from the log when it has it (its kind and
    /// arguments checked), else issued through `issue` (which may answer at
    /// once) and awaited.
    func step(
        _ kind: FlowStepKind, what: String, arguments: String, site: String,
        issue: (inout FlowStep, inout FlowLog, inout DurableContext<FlowEvent>) throws -> FlowStepResult?
    ) async throws -> FlowStepResult {
        let step = try claim(kind, what: what, arguments: arguments, site: site, issue: issue)
        guard let result = step.result else { return try await suspend(step.id) }
        if let resolved = step.resolvedAt, resolved > now { now = resolved }
        return result
    }

    /// The step at the code's next position: the one the log has there (of
    /// the same kind and arguments, else the flow is parked), or a new one
    /// issued through `issue` and appended (only live: in a rebuild a new
    /// step is a divergence too). Steps, joins and deadlines all come here.
    private func claim(
        _ kind: FlowStepKind, what: String, arguments: String, site: String,
        issue: (inout FlowStep, inout FlowLog, inout DurableContext<FlowEvent>) throws -> FlowStepResult?
    ) throws -> FlowStep {
        let id = try nextPosition(site: site)
        guard let log else { throw FlowError.misuse("a step outside the flow's turn") } // checked by nextPosition
        let digest = FlowDigest.of(kind.rawValue, arguments)
        if let recorded = log.pointee.step(id) {
            guard recorded.kind == kind, recorded.digest == digest else {
                throw park(FlowDivergence(
                    step: id, journal: "\(recorded.kind.rawValue) \(recorded.what) at \(recorded.site)",
                    code: "\(kind.rawValue) \(what) at \(site)", reason: "diverged"))
            }
            return recorded
        }
        guard !rebuilding, let context else {
            throw park(FlowDivergence(step: id, journal: nil, code: "\(kind.rawValue) \(what) at \(site)", reason: "diverged"))
        }
        if log.pointee.cancelRequested { throw FlowError.cancelled }
        try checkBounds(log.pointee, site: site)
        let scopes = FlowRun.scopes
        if let passed = scopes.first(where: { log.pointee.step($0)?.result == FlowStepResult.none }) {
            throw EffectFailure(kind: FlowRun.timeoutKind, message: passed, terminal: true)
        }
        var step = FlowStep(id: id, kind: kind, what: what, digest: digest, site: FlowSites.shared(site), at: context.pointee.now)
        step.scopes = scopes
        if let immediate = try issue(&step, &log.pointee, &context.pointee) {
            step.result = immediate
            step.resolvedAt = context.pointee.now
        }
        log.pointee.append(step)
        return step
    }

    /// The branch the calling code runs in: `0`, or within `all`/`race` the
    /// join's position and the branch's index (`0/3.1`). Steps are numbered
    /// within their branch, so branches running side by side cannot take
    /// each other's positions whatever order their jobs run in.
    @TaskLocal static var branch: String = "0"

    /// Opens an `all`/`race` join: a step matched like any, not awaited;
    /// returns its id and the branch prefix of its children.
    func openJoin(_ what: String, site: String) throws -> (id: String, children: String) {
        let branch = FlowRun.branch
        let children = "\(branch)/\(counters[branch, default: 0])"
        let step = try claim(.join, what: what, arguments: what, site: site) { _, _, _ in nil }
        return (step.id, children)
    }

    /// What join `id` decided, if it did: the index of the branch whose outcome counts.
    func joinDecision(_ id: String) -> Int? {
        guard case .value(let json)? = log?.pointee.step(id)?.result else { return nil }
        return Int(json)
    }

    /// Decides join `id` for branch `index` (the first to fail, or the race's
    /// winner; -1: all succeeded) and fails the steps under way of every
    /// other branch of it (`children.i/…`), in this turn.
    func decideJoin(_ id: String, children: String, index: Int, branches: Int) {
        guard !evicted, stopped == nil, let log, log.pointee.step(id)?.result == nil else { return }
        _ = log.pointee.resolve(id, .value(String(index)), at: context?.pointee.now ?? now)
        guard index >= 0, let context else { return }
        let others = (0..<branches).filter { $0 != index }.map { "\(generation == 0 ? "" : "\(generation).")\(children).\($0)/" }
        for step in log.pointee.steps where step.result == nil && others.contains(where: { step.id.hasPrefix($0) }) {
            ended(step, .failure(FlowError.cancelledFailure), log: &log.pointee, context: &context.pointee)
        }
    }

    /// Whether the task is unwinding to leave memory, or the flow is parked.
    var isUnwinding: Bool { evicted || stopped != nil }

    /// The `withTimeout` deadlines the calling code runs under (ids of their steps).
    @TaskLocal static var scopes: [String] = []

    /// The failure kind of a step a deadline ended (its message: the deadline's step id).
    static let timeoutKind = "flowTimeout"

    /// Opens a `withTimeout` deadline: a step with a timer, matched like any
    /// step, not awaited; returns its id.
    func openDeadline(_ duration: Duration, site: String) throws -> String {
        try claim(.timeout, what: "\(duration)", arguments: "", site: site) { step, _, context in
            step.timer = context.sendAfter(.timerFired(step: step.id), after: duration)
            step.due = context.now + duration
            return nil
        }.id
    }

    /// Closes deadline `id` once its body ended first: its timer cancelled, the step marked done.
    func closeDeadline(_ id: String) {
        // A task unwinding to leave memory, or parked, changes nothing in the log.
        guard !evicted, stopped == nil, let log, let step = log.pointee.step(id), step.result == nil else { return }
        if let timer = step.timer { context?.pointee.cancelTimer(timer) }
        _ = log.pointee.resolve(id, .value("\"done\""), at: context?.pointee.now ?? now)
    }

    /// `patched(id)`: true where the log has the marker, or where the code
    /// runs past the log (the marker is recorded); false where the log has
    /// another step (a history from before the patch).
    func patched(_ id: String, site: String) throws -> Bool {
        let position = try peekPosition()
        guard let log else { throw FlowError.misuse("patched outside the flow's turn") }
        if let recorded = log.pointee.step(position) {
            guard recorded.kind == .patch, recorded.what == id else { return false }
            _ = try nextPosition(site: site)
            return true
        }
        _ = try nextPosition(site: site)
        let time = context?.pointee.now ?? now
        var step = FlowStep(id: position, kind: .patch, what: id, digest: FlowDigest.of("patch", id), site: FlowSites.shared(site), at: time)
        step.result = .value("true")
        step.resolvedAt = time
        log.pointee.append(step)
        return true
    }

    /// `deprecatePatch(id)`: takes the marker where the log has it, else nothing.
    func deprecatePatch(_ id: String, site: String) throws {
        let position = try peekPosition()
        guard let recorded = log?.pointee.step(position), recorded.kind == .patch, recorded.what == id else { return }
        _ = try nextPosition(site: site)
    }

    /// The next random bits (the same sequence in every rebuild).
    func nextRandom() -> UInt64 {
        draws &+= 1
        var z = seed &+ draws &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Refuses a new step past the history's bounds; warns once past the warning marks.
    private func checkBounds(_ log: FlowLog, site: String) throws {
        if log.steps.count >= limits.maximumSteps || log.bytes >= limits.maximumBytes {
            throw FlowError.historyFull("\(log.steps.count) steps, \(log.bytes) bytes (bounds \(limits.maximumSteps) steps, \(limits.maximumBytes) bytes) at \(site): use continueAsNew")
        }
        if !warned, !isReplaying, log.steps.count >= limits.warnSteps || log.bytes >= limits.warnBytes {
            warned = true
            Logger(label: "calf.flow.\(type)").warning("flow history past \(limits.warnSteps) steps or \(limits.warnBytes) bytes: \(log.steps.count) steps, \(log.bytes) bytes at \(site); continueAsNew keeps it bounded")
        }
    }

    /// The history's size as the code sees it.
    var history: FlowHistoryInfo {
        let steps = log?.pointee.steps.count ?? 0
        let bytes = log?.pointee.bytes ?? 0
        return FlowHistoryInfo(steps: steps, bytes: bytes, shouldContinueAsNew: steps >= limits.warnSteps || bytes >= limits.warnBytes)
    }

    private func peekPosition() throws -> String {
        guard executor.isOnTurn, log != nil else {
            throw FlowError.misuse("a flow step was asked for outside the flow's own task (a Task {} or Task.detached {} inside a flow?)")
        }
        if let stopped { throw FlowError.diverged(stopped) }
        if evicted { throw FlowError.evicted }
        let branch = FlowRun.branch
        let n = counters[branch, default: 0]
        return generation == 0 ? "\(branch)/\(n)" : "\(generation).\(branch)/\(n)"
    }

    private func nextPosition(site: String) throws -> String {
        let id = try peekPosition()
        counters[FlowRun.branch, default: 0] += 1
        lastStep = id
        lastSite = site
        return id
    }

    private func park(_ divergence: FlowDivergence) -> FlowError {
        stopped = divergence
        return .diverged(divergence)
    }

    private func suspend(_ id: String) async throws -> FlowStepResult {
        try await withUnsafeThrowingContinuation { waiting[id] = $0 }
    }
}

extension DurableContext<FlowEvent> {
    /// The flow process `pid`, found when it is needed (a dead address if it is gone).
    func flowAddress(of pid: Pid) -> Address<FlowEvent> {
        cell.durable.address(of: pid, taking: FlowEvent.self)
    }
}

/// The JSON of steps' values: sorted keys, so the same value is the same text.
enum FlowJSON {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ json: String) -> T? {
        try? JSONDecoder().decode(T.self, from: Data(json.utf8))
    }

    static func value<T: Decodable>(_ type: T.Type, _ json: String, step: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(json.utf8))
        } catch {
            throw FlowError.undecodable("the value of \(step) is not a \(T.self): \(error)")
        }
    }
}

/// FNV-1a over a step's kind and arguments: what replay matches.
/// Call sites, one copy each: every flow that waits at the same line keeps
/// its step's site as a reference to one string (a site past 15 bytes is a
/// heap string: 48 bytes or so per step of every waiting flow otherwise).
enum FlowSites {
    private static let known = Mutex(Set<String>())

    /// The one copy of `site`.
    static func shared(_ site: String) -> String {
        guard site.utf8.count > 15 else { return site } // small strings live inline
        return known.withLock { $0.insert(site).memberAfterInsert }
    }
}

enum FlowDigest {
    static func of(_ kind: String, _ arguments: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in kind.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        hash = (hash ^ 0) &* 0x100_0000_01b3
        for byte in arguments.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
