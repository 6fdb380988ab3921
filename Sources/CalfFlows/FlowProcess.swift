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
    /// How long its history may grow.
    public var limits: FlowLimits

    /// Options.
    public init(replayEveryTurn: Bool = false, evictAfter: Duration? = .seconds(10), limits: FlowLimits = FlowLimits()) {
        self.replayEveryTurn = replayEveryTurn
        self.evictAfter = evictAfter
        self.limits = limits
    }
}

/// Options out of line: one box for the defaults, shared.
final class FlowOptionsBox: Sendable {
    let value: FlowOptions
    private init(_ value: FlowOptions) { self.value = value }
    private static let defaults = FlowOptionsBox(FlowOptions())

    static func of(_ options: FlowOptions) -> FlowOptionsBox {
        options == defaults.value ? defaults : FlowOptionsBox(options)
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
    public var options: FlowOptions {
        get { optionsBox.value }
        set { optionsBox = FlowOptionsBox.of(newValue) }
    }
    /// The flow that started it as a child, and the step there that awaits it.
    public var parent: FlowParent?
    /// The options, out of line and shared by every flow that runs on the
    /// defaults (a behavior value lives in its process's cell).
    private var optionsBox: FlowOptionsBox

    /// The process of `flow` started on `input`.
    public init(flow: F, input: F.Input, options: FlowOptions = FlowOptions(), parent: FlowParent? = nil) {
        self.flow = flow
        self.input = input
        optionsBox = FlowOptionsBox.of(options)
        self.parent = parent
    }

    private enum CodingKeys: String, CodingKey {
        case flow, input, options, parent
    }

    /// Decodes the process as it was journaled (the keys of the synthesized coding it had).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        flow = try c.decode(F.self, forKey: .flow)
        input = try c.decode(F.Input.self, forKey: .input)
        optionsBox = FlowOptionsBox.of(try c.decode(FlowOptions.self, forKey: .options))
        parent = try c.decodeIfPresent(FlowParent.self, forKey: .parent)
    }

    /// Encodes the process as the synthesized coding did.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(flow, forKey: .flow)
        try c.encode(input, forKey: .input)
        try c.encode(options, forKey: .options)
        try c.encodeIfPresent(parent, forKey: .parent)
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
        let flow = self.flow
        let wasFinal = state.status.isFinal
        FlowHost.handle(event, log: &state, context: &context, options: options) { run in Self.startTask(of: flow, on: run) }
        // A child that ended tells its parent, in the turn it ended.
        if let parent, !wasFinal, state.status.isFinal {
            let failure = state.status == .completed ? nil : (state.error ?? FlowError.cancelledFailure)
            context.send(.childEnded(step: parent.step, output: state.output, failure: failure), to: context.flowAddress(of: parent.pid))
        }
    }

    /// Starts the task of `flow`'s code on `run`, its input the run's (the
    /// spawn's, or the one `continueAsNew` carried: both kept in the log).
    static func startTask(of flow: F, on run: FlowRun) {
        let context = FlowContext(run: run)
        let json = run.input
        Task(executorPreference: run.executor) {
            do {
                let input = try FlowJSON.value(F.Input.self, json, step: "the input")
                let output = try await flow.run(input, flow: context)
                run.end(Result { try FlowJSON.encode(output) }.mapError { EffectFailure($0, attempts: 1) })
            } catch let next as ContinueAsNew {
                run.continueAsNew(next.input)
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

/// The flow that started a child flow, and its step that awaits the child.
public struct FlowParent: Codable, Sendable, Hashable {
    /// The parent flow's process (a pid, not an address: the child's
    /// behavior is read at a node start before every process is back).
    public var pid: Pid
    /// Its step that awaits the child.
    public var step: String

    /// A parent.
    public init(pid: Pid, step: String) {
        self.pid = pid
        self.step = step
    }
}

/// What `FlowContext.continueAsNew(with:)` throws: the next run's input.
struct ContinueAsNew: Error {
    let input: String
}

/// The turn of a flow's process, whatever its type.
enum FlowHost {
    /// Runs after one another in a turn that goes on as new runs, at most (a loop that never takes a step fails).
    static let continuationsPerTurn = 100

    /// A run over `log` for the process `context` is a turn of (its random
    /// numbers seeded from the pid), its clock starting at `startedAt`.
    private static func makeRun(_ log: FlowLog, _ context: DurableContext<FlowEvent>, _ options: FlowOptions, startedAt: WallTime) -> FlowRun {
        FlowRun(log: log, seed: context.pid.serial &* 0x9E37_79B9_7F4A_7C15, startedAt: startedAt, limits: options.limits)
    }

    static func handle(
        _ event: FlowEvent, log: inout FlowLog, context: inout DurableContext<FlowEvent>, options: FlowOptions,
        start: (FlowRun) -> Void
    ) {
        defer {
            log.turns += 1
            log.run?.syncedTurns = log.turns
        }
        func made(_ log: FlowLog, startedAt: WallTime) -> FlowRun { makeRun(log, context, options, startedAt: startedAt) }
        if case .reset(let keep) = event, let startedAt = log.startedAt {
            // The steps after `keep` go; the code starts again live: the kept steps answer it from the log.
            let old = made(log, startedAt: startedAt)
            old.withTurn(&log, &context) { old.cut(after: keep) }
            let run = made(log, startedAt: startedAt)
            log.run = run
            run.withTurn(&log, &context) {
                run.startLive(start: start)
                run.settle()
            }
            finishTurn(run, log: &log, context: &context, options: options, start: start)
            return
        }
        if log.status.isFinal { return }
        var run: FlowRun
        if case .start = event {
            guard log.startedAt == nil else { return }
            log.startedAt = context.now
            log.status = .running
            run = made(log, startedAt: context.now)
            log.run = run
            run.withTurn(&log, &context) {
                run.startLive(start: start)
                run.settle()
            }
        } else {
            guard log.startedAt != nil else { return }
            if log.status == .diverged {
                guard case .resume = event else {
                    // Parked: the event is kept in the log for when the flow is resumed.
                    let parked = made(log, startedAt: log.startedAt ?? context.now)
                    parked.withTurn(&log, &context) { parked.keep(event) }
                    return
                }
                log.status = .running
                log.divergence = nil
                log.run = nil
            }
            if let existing = log.run, existing.syncedTurns == log.turns, existing.stopped == nil, !options.replayEveryTurn {
                run = existing
            } else {
                run = made(log, startedAt: log.startedAt ?? context.now)
                log.run = run
                run.withTurn(&log, &context) { run.rebuild(start: start) }
            }
            run.withTurn(&log, &context) {
                if run.stopped == nil { run.handle(event) } else { run.keep(event) }
                run.settle()
            }
        }
        finishTurn(run, log: &log, context: &context, options: options, start: start)
    }

    /// The end of a turn: a run that went on as new starts the next in this
    /// turn (what it left under way ended); a run left waiting far off leaves memory.
    private static func finishTurn(
        _ first: FlowRun, log: inout FlowLog, context: inout DurableContext<FlowEvent>, options: FlowOptions, start: (FlowRun) -> Void
    ) {
        var run = first
        // continueAsNew: what the run left under way ends, and the next run starts in this turn.
        var continuations = 0
        while let input = run.continued {
            continuations += 1
            run.withTurn(&log, &context) { run.endRun() }
            guard continuations <= continuationsPerTurn else {
                log.status = .failed
                log.error = EffectFailure(kind: "flow", message: "continueAsNew \(continuationsPerTurn) times in one turn without a step", terminal: true)
                log.endedAt = context.now
                log.run = nil
                return
            }
            log.startOver(input: input, at: context.now)
            run = makeRun(log, context, options, startedAt: context.now)
            log.run = run
            run.withTurn(&log, &context) {
                run.startLive(start: start)
                run.settle()
            }
        }
        run.withTurn(&log, &context) { run.evictIfIdle(after: options.evictAfter) }
        if run.evicted { log.run = nil }
    }
}
