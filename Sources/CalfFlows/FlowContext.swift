import Calf
import Logging

/// What a flow's code works with: its clock, its randomness, its logger and
/// its steps. Every step is journaled as it runs; a rebuild of the flow (a
/// node restart, `replayEveryTurn`) answers the steps from the journal.
///
/// Each step records where the code asked for it (`#fileID:#line`), shown
/// by the shell and in divergence reports.
public struct FlowContext: Sendable {
    let run: FlowRun

    init(run: FlowRun) { self.run = run }

    /// The time of the turn the code runs in (the accepted-at time of the
    /// event that resumed it): the same in every rebuild.
    public var now: WallTime { run.now }

    /// Random numbers that every rebuild draws again: `Int.random(in: 1...6, using: &rng)`
    /// with `var rng = flow.random`.
    public var random: FlowRandom { FlowRandom(run: run) }

    /// Whether the code is running again over its log (its steps answered
    /// from the journal; nothing it does reaches the world).
    public var isReplaying: Bool { run.isReplaying }

    /// A logger that is silent while the code runs again over its log.
    public var logger: Logger {
        if run.isReplaying { return Logger(label: "calf.flow.\(run.type)", factory: { _ in SwiftLogNoOpLogHandler() }) }
        return Logger(label: "calf.flow.\(run.type)")
    }

    /// Sleeps on a durable timer: survives node restarts (a node that was
    /// down when it came due wakes the flow at its start). A sleep of zero
    /// (or until a time past) sets no timer: its wake-up is a message the
    /// flow sends itself in this turn's commit, taken in the next turn.
    /// - Throws: `FlowError.cancelled` when the flow is cancelled meanwhile.
    public func sleep(for duration: Duration, file: StaticString = #fileID, line: UInt = #line) async throws {
        let result = try await run.step(.sleep, what: "\(duration)", arguments: "", site: "\(file):\(line)") { step, _, context in
            Self.wake(&step, after: duration, context: &context)
            return nil
        }
        try result.throwIfFailed()
    }

    /// Asks for `.timerFired` of `step` `delay` from now: on a durable
    /// timer, or, due at once, as a message to the flow itself journaled in
    /// this turn's commit (the firing a timer would journal a moment later,
    /// without its two records and second commit).
    private static func wake(_ step: inout FlowStep, after delay: Duration, context: inout DurableContext<FlowEvent>) {
        step.due = context.now + max(delay, .zero)
        if delay <= .zero {
            context.send(.timerFired(step: step.id), to: context.address)
        } else {
            step.timer = context.sendAfter(.timerFired(step: step.id), after: delay)
        }
    }

    /// Sleeps until `time` (wall time) on a durable timer.
    public func sleep(until time: WallTime, file: StaticString = #fileID, line: UInt = #line) async throws {
        let result = try await run.step(.sleep, what: "until \(time.secondsSinceEpoch)", arguments: "", site: "\(file):\(line)") { step, _, context in
            Self.wake(&step, after: time > context.now ? time - context.now : .zero, context: &context)
            return nil
        }
        try result.throwIfFailed()
    }

    /// Runs `effect` (once this turn commits, at least once, with one
    /// idempotency key on every attempt, retried by `retry` or its own
    /// policy) and returns its output; its completion is journaled, so a
    /// rebuild reads it and never runs the effect again.
    /// - Throws: the effect's `EffectFailure` once it failed for good;
    ///   `FlowError.cancelled`.
    public func perform<E: DurableEffect>(
        _ effect: E, retry: RetryPolicy? = nil, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> E.Output {
        try await perform(effect, retry: retry, what: nil, file: file, line: line)
    }

    /// `perform(_:retry:)`, described as `what` in the flow's history (nil: the effect's name and JSON).
    public func perform<E: DurableEffect>(
        _ effect: E, retry: RetryPolicy?, what: String?, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> E.Output {
        let arguments = try FlowJSON.encode(effect)
        let result = try await run.step(.effect, what: what ?? "\(E.effectName) \(arguments.prefix(120))", arguments: E.effectName + arguments, site: "\(file):\(line)") { step, log, context in
            let ref = try context.perform(effect, retry: retry)
            step.effect = ref.id
            log.byEffect[ref.id] = step.id
            return nil
        }
        guard let output = try result.decoded(E.Output.self, step: "\(E.effectName) at \(file):\(line)") else {
            throw FlowError.undecodable("the effect \(E.effectName) ended without an output")
        }
        return output
    }

    /// A small value from a source a replay cannot see again (a UUID, the
    /// wall clock, the host's name), computed once, live, by `body`, and
    /// journaled: every replay, rebuild and restart reads the recorded
    /// value back and never runs `body` again. An error `body` throws is
    /// recorded the same way and comes back as an `EffectFailure` of kind
    /// "local" (live too, so the code sees what a replay sees).
    ///
    /// It costs a turn: the value goes to the journal with this turn's
    /// commit and comes back as the flow's next event, so nothing the flow
    /// does with it can be acted on before it is recorded. Keep `body`
    /// small and quick (it runs on the scheduler); work that reaches the
    /// world belongs in `perform`.
    ///
    /// ```swift
    /// let id = try await flow.local("order id") { UUID().uuidString }
    /// ```
    public func local<T: Codable & Sendable>(
        _ name: String, file: StaticString = #fileID, line: UInt = #line, _ body: () throws -> T
    ) async throws -> T {
        let result = try await run.step(.local, what: name, arguments: name, site: "\(file):\(line)") { step, _, context in
            let id = step.id
            context.sendSelf(marker: FlowDigest.of(FlowStepKind.local.rawValue, id)) {
                do {
                    return .localRecorded(step: id, value: try FlowJSON.encode(try body()), failure: nil)
                } catch {
                    return .localRecorded(step: id, value: nil, failure: EffectFailure(kind: "local", message: "\(error)", terminal: true))
                }
            }
            return nil
        }
        guard let value = try result.decoded(T.self, step: "local \(name) at \(file):\(line)") else {
            throw FlowError.undecodable("the local step \(name) recorded no value")
        }
        return value
    }

    /// Mints a callback URL that takes one POST until `expiresIn` from now;
    /// `value(timeout:)` awaits what was POSTed. The node knows the URL once
    /// this turn commits, before anything this flow sends carrying it leaves.
    public func callback(expiresIn: Duration, file: StaticString = #fileID, line: UInt = #line) async throws -> FlowCallback {
        let result = try await run.step(.callback, what: "expires in \(expiresIn)", arguments: "", site: "\(file):\(line)") { step, log, context in
            let callback = try context.callback(expiresIn: expiresIn)
            step.callback = callback.id
            log.byCallback[callback.id] = step.id
            return .value(try FlowJSON.encode(callback))
        }
        guard let callback = try result.decoded(DurableCallback.self, step: "callback at \(file):\(line)") else {
            throw FlowError.undecodable("a callback step without its URL")
        }
        return FlowCallback(run: run, callback: callback)
    }

    /// Takes the oldest signal `name` sent to this flow (`Node.signal`),
    /// waiting for one if none is kept; nil when `timeout` passes first.
    /// Signals are kept until taken, never dropped.
    public func receive<T: Decodable>(
        _ name: String, as type: T.Type = T.self, timeout: Duration? = nil, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> T? {
        let result = try await run.step(.signal, what: "\(name)\(timeout.map { ", timeout \($0)" } ?? "")", arguments: name, site: "\(file):\(line)") { step, log, context in
            step.signal = name
            if var kept = log.signals[name], !kept.isEmpty {
                let payload = kept.removeFirst()
                log.signals[name] = kept.isEmpty ? nil : kept
                return .value(payload)
            }
            if let timeout {
                step.timer = context.sendAfter(.timerFired(step: step.id), after: timeout)
                step.due = context.now + timeout
            }
            return nil
        }
        return try result.decoded(T.self, step: "signal \(name) at \(file):\(line)")
    }

    /// Runs `body`, failing it with `FlowError.timedOut` if it has not ended
    /// `duration` from now: the deadline is a durable timer, and when it
    /// fires every step of `body` under way fails in that turn (so where the
    /// body stops is a journaled event, the same in every replay). A `catch`
    /// in `body` sees the steps fail; the deadline's own error comes out here.
    public func withTimeout<T>(
        _ duration: Duration, file: StaticString = #fileID, line: UInt = #line, _ body: () async throws -> T
    ) async throws -> T {
        let deadline = try run.openDeadline(duration, site: "\(file):\(line)")
        do {
            let value = try await FlowRun.$scopes.withValue(FlowRun.scopes + [deadline]) { try await body() }
            run.closeDeadline(deadline)
            return value
        } catch let failure as EffectFailure where failure.kind == FlowRun.timeoutKind && failure.message == deadline {
            throw FlowError.timedOut("the body at \(file):\(line) did not end within \(duration)")
        } catch {
            run.closeDeadline(deadline)
            throw error
        }
    }

    /// Starts `flow` as a child flow on `input` (registered as `name` if
    /// given; its type must be registered with the node too) and awaits its
    /// output. The child is a flow of its own (its own log, the shell's
    /// `flows`); it starts in this turn, and its end reaches this flow as a
    /// journaled event. Cancelling this flow, or a deadline over the step,
    /// cancels the child.
    /// - Throws: the child's failure (`EffectFailure`), `FlowError.cancelled`.
    public func child<C: Flow>(
        _ flow: C, _ input: C.Input, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) async throws -> C.Output {
        let arguments = C.flowName + (try FlowJSON.encode(input))
        let result = try await run.step(.child, what: "\(C.flowName)@\(C.version) \(name ?? "")", arguments: arguments, site: "\(file):\(line)") { step, _, context in
            let process = FlowProcess(flow: flow, input: input, parent: FlowParent(pid: context.pid, step: step.id))
            let child = try context.spawn(process, name: name)
            context.send(.start, to: child)
            step.child = child.pid
            return nil
        }
        guard let output = try result.decoded(C.Output.self, step: "the output of \(C.flowName) at \(file):\(line)") else {
            throw FlowError.undecodable("the child \(C.flowName) ended without an output")
        }
        return output
    }

    /// Runs `bodies` side by side, each in a branch of its own (its steps
    /// numbered within it), and returns their values in order. The first
    /// to fail (in journal order) fails the whole: the steps under way in
    /// the other branches fail with `FlowError.cancelled` in that turn, and
    /// its error comes out here.
    public func all<T: Sendable>(
        _ bodies: [@Sendable () async throws -> T], file: StaticString = #fileID, line: UInt = #line
    ) async throws -> [T] {
        let outcomes = try await join(bodies, kind: "all", file: file, line: line) { outcome in
            if case .failure = outcome { return true }
            return false
        }
        if let (_, failure) = outcomes.decided { throw failure }
        return try outcomes.all.map { try $0.get() }
    }

    /// Runs `bodies` side by side, each in a branch of its own; the first to
    /// end (in journal order) wins: its value or error comes out here, and
    /// the steps under way in the other branches fail with
    /// `FlowError.cancelled` in that turn.
    public func race<T: Sendable>(
        _ bodies: [@Sendable () async throws -> T], file: StaticString = #fileID, line: UInt = #line
    ) async throws -> T {
        let outcomes = try await join(bodies, kind: "race", file: file, line: line) { _ in true }
        guard let (index, _) = outcomes.decided else { throw FlowError.misuse("race of no bodies") }
        return try outcomes.all[index].get()
    }

    private func join<T: Sendable>(
        _ bodies: [@Sendable () async throws -> T], kind: String, file: StaticString, line: UInt,
        decides: (Result<T, any Error>) -> Bool
    ) async throws -> (all: [Result<T, any Error>], decided: (Int, any Error)?) {
        let run = self.run
        let (id, children) = try run.openJoin("\(kind) of \(bodies.count)", site: "\(file):\(line)")
        var outcomes = [Result<T, any Error>?](repeating: nil, count: bodies.count)
        // A decision the log has stands (a replay may see the branches end in another order).
        var decided = run.joinDecision(id).flatMap { $0 >= 0 ? $0 : nil }
        let scopes = FlowRun.scopes
        await withTaskGroup(of: (Int, Result<T, any Error>).self) { group in
            for (index, body) in bodies.enumerated() {
                group.addTask {
                    await FlowRun.$scopes.withValue(scopes) {
                        await FlowRun.$branch.withValue("\(children).\(index)") {
                            do { return (index, .success(try await body())) } catch { return (index, .failure(error)) }
                        }
                    }
                }
            }
            for await (index, outcome) in group {
                outcomes[index] = outcome
                if decided == nil, !run.isUnwinding, decides(outcome) {
                    decided = index
                    run.decideJoin(id, children: children, index: index, branches: bodies.count)
                }
            }
        }
        if run.isUnwinding { throw FlowError.evicted }
        let all = outcomes.map { $0 ?? .failure(FlowError.cancelled) }
        guard let decided else {
            run.decideJoin(id, children: children, index: -1, branches: bodies.count)
            return (all, nil)
        }
        if case .failure(let error) = all[decided] { return (all, (decided, error)) }
        return (all, (decided, FlowError.cancelled))
    }

    /// The history's size: this run's steps and about how many bytes they
    /// hold; `shouldContinueAsNew` past the warning marks (`FlowLimits`).
    public var history: FlowHistoryInfo { run.history }

    /// Ends this run and starts the next one of the same flow (the same
    /// name and process) on `input`, with an empty history: a long loop
    /// stays bounded. What this run left under way ends; signals not yet
    /// taken wait for the next run.
    public func continueAsNew<Input: Encodable>(with input: Input) throws -> Never {
        throw ContinueAsNew(input: try FlowJSON.encode(input))
    }

    /// Whether the code may take the patched path `id`: true for a flow
    /// that reaches this point running this code (the marker is journaled),
    /// false for one whose history was written before the patch. Deploy
    /// `if try flow.patched("fix") { new } else { old }`, then, once no flow
    /// older than the patch runs, `deprecatePatch`, then delete the old branch.
    public func patched(_ id: String, file: StaticString = #fileID, line: UInt = #line) throws -> Bool {
        try run.patched(id, site: "\(file):\(line)")
    }

    /// Takes the marker of patch `id` where the history has one (for code
    /// whose old branch was deleted while flows with the marker still run).
    public func deprecatePatch(_ id: String, file: StaticString = #fileID, line: UInt = #line) throws {
        try run.deprecatePatch(id, site: "\(file):\(line)")
    }
}

/// A callback URL a flow minted.
public struct FlowCallback: Sendable {
    let run: FlowRun
    /// The callback (its URL and when it expires).
    public let callback: DurableCallback

    /// Where the other service POSTs.
    public var url: String { callback.url }

    /// What was POSTed to the URL, waiting up to `timeout` (nil: until it
    /// expires); nil when the time passed first. The same delivery again on
    /// a later call (a POST is taken once).
    public func value(timeout: Duration? = nil, file: StaticString = #fileID, line: UInt = #line) async throws -> CallbackArrival? {
        let callback = self.callback
        let result = try await run.step(.wait, what: "callback \(callback.id)\(timeout.map { " or \($0)" } ?? "")", arguments: String(callback.id), site: "\(file):\(line)") { step, log, context in
            step.callback = callback.id
            if let arrival = log.arrivals[callback.id] { return .value(try FlowJSON.encode(arrival)) }
            let wait = timeout ?? (callback.expiresAt > context.now ? callback.expiresAt - context.now : .zero)
            step.timer = context.sendAfter(.timerFired(step: step.id), after: wait)
            step.due = context.now + wait
            return nil
        }
        return try result.decoded(CallbackArrival.self, step: "callback value at \(file):\(line)")
    }
}

/// A flow's random numbers: drawn again, the same, in every rebuild.
public struct FlowRandom: RandomNumberGenerator, Sendable {
    let run: FlowRun
    /// The next 64 random bits.
    public mutating func next() -> UInt64 { run.nextRandom() }
}

extension FlowStepResult {
    /// Its value decoded as `T`, nil for none; its failure thrown (a
    /// cancellation as `FlowError.cancelled`).
    func decoded<T: Decodable>(_ type: T.Type, step: String) throws -> T? {
        switch self {
        case .value(let json): return try FlowJSON.value(T.self, json, step: step)
        case .none: return nil
        case .failure(let failure): throw failure.kind == FlowError.cancelledFailure.kind ? FlowError.cancelled : failure
        }
    }

    /// Its failure thrown, if it is one (a step whose value does not matter: a sleep).
    func throwIfFailed() throws {
        if case .failure = self { _ = try decoded(Bool.self, step: "") }
    }
}
