import Calf

/// How a flow runs.
public struct FlowOptions: Codable, Sendable, Hashable {
    /// Rebuild the flow's code from its log after every turn (for tests: a
    /// nondeterministic flow diverges on its first run instead of after a
    /// node restart in production).
    public var replayEveryTurn: Bool
    /// A flow that waits only on timers due this far off or later, on
    /// callbacks or on signals (not on an effect) leaves memory after its
    /// turn: its task is unwound and the next event rebuilds it from its
    /// log (its cost: re-running the code over its steps). nil: never.
    public var evictAfter: Duration?

    /// Options.
    public init(replayEveryTurn: Bool = false, evictAfter: Duration? = .seconds(10)) {
        self.replayEveryTurn = replayEveryTurn
        self.evictAfter = evictAfter
    }
}

/// The durable process a flow of type `F` runs as: its messages are the
/// flow's events, its state the flow's log. Register it with the node
/// (`DurableOptions.addFlow(F.self)`) so that a restart brings its flows back.
public struct FlowProcess<F: Flow>: DurableBehavior {
    /// The flow.
    public var flow: F
    /// Its input.
    public var input: F.Input
    /// How it runs.
    public var options: FlowOptions

    /// The process of `flow` started on `input`.
    public init(flow: F, input: F.Input, options: FlowOptions = FlowOptions()) {
        self.flow = flow
        self.input = input
        self.options = options
    }

    /// `flow:NAME@VERSION`: a node that no longer has that version parks the flow (quarantined, named).
    public static var behaviorName: String { "flow:\(F.flowName)@\(F.version)" }
    /// The flow's effects.
    public static var effects: [any DurableEffect.Type] { F.effects }

    /// A log with the input, not started.
    public func initialState() throws -> FlowLog {
        FlowLog(type: F.flowName, version: F.version, input: try FlowJSON.encode(input))
    }

    /// One event of the flow: its code runs until it waits again.
    public func handle(_ event: FlowEvent, state: inout FlowLog, context: inout DurableContext<FlowEvent>) {
        FlowHost.handle(event, log: &state, context: &context, replayEveryTurn: options.replayEveryTurn, evictAfter: options.evictAfter) { run in
            let context = FlowContext(run: run)
            let flow = self.flow
            let input = self.input
            Task(executorPreference: run.executor) {
                do {
                    let output = try await flow.run(input, flow: context)
                    run.end(Result { try FlowJSON.encode(output) }.mapError { EffectFailure($0, attempts: 1) })
                } catch let error as FlowError {
                    switch error {
                    case .evicted: break
                    case .cancelled: run.end(.failure(FlowError.cancelledFailure))
                    case .failed(let failure): run.end(.failure(failure))
                    default: run.end(.failure(EffectFailure(kind: "flow", message: error.description, terminal: true)))
                    }
                } catch let failure as EffectFailure {
                    run.end(.failure(failure))
                } catch {
                    run.end(.failure(EffectFailure(error, attempts: 1)))
                }
            }
        }
    }
}

/// The turn of a flow's process, whatever its type.
enum FlowHost {
    static func handle(
        _ event: FlowEvent, log: inout FlowLog, context: inout DurableContext<FlowEvent>, replayEveryTurn: Bool,
        evictAfter: Duration?, start: (FlowRun) -> Void
    ) {
        defer {
            log.turns += 1
            log.run?.syncedTurns = log.turns
        }
        if log.status.isFinal { return }
        let seed = context.pid.serial &* 0x9E37_79B9_7F4A_7C15
        if case .start = event {
            guard log.startedAt == nil else { return }
            log.startedAt = context.now
            log.status = .running
            let run = FlowRun(type: log.type, seed: seed, startedAt: context.now)
            log.run = run
            run.withTurn(&log, &context) {
                run.startLive(start: start)
                run.settle()
                run.evictIfIdle(after: evictAfter)
            }
            if run.evicted { log.run = nil }
            return
        }
        guard log.startedAt != nil else { return }
        if log.status == .diverged {
            guard case .resume = event else {
                // Parked: the event is kept in the log for when the flow is resumed.
                let run = FlowRun(type: log.type, seed: seed, startedAt: log.startedAt ?? context.now)
                run.withTurn(&log, &context) { run.keep(event) }
                return
            }
            log.status = .running
            log.divergence = nil
            log.run = nil
        }
        let run: FlowRun
        if let existing = log.run, existing.syncedTurns == log.turns, existing.stopped == nil, !replayEveryTurn {
            run = existing
        } else {
            run = FlowRun(type: log.type, seed: seed, startedAt: log.startedAt ?? context.now)
            log.run = run
            run.withTurn(&log, &context) { run.rebuild(start: start) }
        }
        run.withTurn(&log, &context) {
            if run.stopped == nil { run.handle(event) } else { run.keep(event) }
            run.settle()
            run.evictIfIdle(after: evictAfter)
        }
        if run.evicted { log.run = nil }
    }
}
