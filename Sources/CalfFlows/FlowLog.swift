import Calf

/// Where a flow stands.
public enum FlowStatus: String, Codable, Sendable, CaseIterable {
    /// Started, not yet run (its start is committed; its first turn comes next).
    case starting
    /// Its code is running (inside a turn).
    case running
    /// Suspended on its steps: a timer, an effect, a callback, a signal.
    case waiting
    /// It returned; its output is kept.
    case completed
    /// It threw; its error is kept.
    case failed
    /// It was cancelled (`Node.cancelFlow`).
    case cancelled
    /// Parked: its code asked for a step its log does not have (a code
    /// change), or awaited something Calf does not journal. Its events are
    /// kept; `Node.resumeFlow` runs it again over its log.
    case diverged

    /// Whether the flow is over.
    public var isFinal: Bool { self == .completed || self == .failed || self == .cancelled }
}

/// What a step is.
public enum FlowStepKind: String, Codable, Sendable {
    /// `sleep(for:)`, `sleep(until:)`: a durable timer.
    case sleep
    /// `perform(_:)`: a durable effect (an HTTP request through the connector, say).
    case effect
    /// `callback(expiresIn:)`: a callback URL minted.
    case callback
    /// `FlowCallback.value(timeout:)`: waiting for a callback's POST.
    case wait
    /// `receive(_:)`: a signal taken.
    case signal
    /// `patched(_:)`: a patch marker.
    case patch
    /// `child(_:_:)`: a child flow started, awaited until it ends.
    case child
    /// `all`/`race`: branches side by side (its result: the index of the
    /// branch whose outcome counts, -1 when all succeeded).
    case join
    /// `send(_:to:)`, `call(_:…)`: a message sent to a process (a call's
    /// answer is the `signal` step after it).
    case send
    /// `local(_:_:)`: a value computed once, live, and journaled (read back
    /// from the journal ever after).
    case local
    /// `withTimeout(_:_:)`: a deadline over the steps of a body (its result
    /// `none` once it passed, `"done"` when the body ended first).
    case timeout
}

/// How a step ended, as its log keeps it.
public enum FlowStepResult: Codable, Sendable, Equatable {
    /// Its value, as JSON.
    case value(String)
    /// Nothing: a wait that timed out, a sleep that ended.
    case none
    /// Why it failed (an effect that failed for good, a cancellation).
    case failure(EffectFailure)
}

extension FlowStep {
    /// About how many bytes it holds (what the history bounds count).
    var size: Int { 64 + id.utf8.count + what.utf8.count + site.utf8.count + (result?.size ?? 0) }
}

extension FlowStepResult {
    /// About how many bytes it holds.
    var size: Int {
        switch self {
        case .value(let json): json.utf8.count
        case .none: 0
        case .failure(let failure): failure.kind.utf8.count + failure.message.utf8.count
        }
    }
}

/// How long a flow's history may grow: warn past `warnSteps` or
/// `warnBytes`, refuse new steps past `maximumSteps` or `maximumBytes`
/// (checked at the step: the flow fails there with `FlowError.historyFull`,
/// where it can still be cancelled). `continueAsNew` keeps a loop bounded.
public struct FlowLimits: Codable, Sendable, Hashable {
    /// Warn past this many steps.
    public var warnSteps: Int
    /// Warn past this many bytes.
    public var warnBytes: Int
    /// Refuse new steps past this many.
    public var maximumSteps: Int
    /// Refuse new steps past this many bytes.
    public var maximumBytes: Int
    /// Warn when the code runs this long in one turn without waiting on a
    /// step (it holds up every process of its scheduler meanwhile).
    public var warnTurn: Duration
    /// Park the flow (diverged, reason `slowTurn`) when its code runs this
    /// long in one turn: Temporal's deadlock detector's 2 s. `flow resume` goes on.
    public var maximumTurn: Duration

    /// Bounds: by default warn at 1,000 steps or 4 MiB, refuse past 10,000
    /// steps or 32 MiB; warn at a turn of 10 ms, park at 2 s.
    public init(warnSteps: Int = 1_000, warnBytes: Int = 4 << 20, maximumSteps: Int = 10_000, maximumBytes: Int = 32 << 20,
                warnTurn: Duration = .milliseconds(10), maximumTurn: Duration = .seconds(2)) {
        self.warnSteps = warnSteps
        self.warnBytes = warnBytes
        self.maximumSteps = maximumSteps
        self.maximumBytes = maximumBytes
        self.warnTurn = warnTurn
        self.maximumTurn = maximumTurn
    }

    private enum CodingKeys: String, CodingKey {
        case warnSteps, warnBytes, maximumSteps, maximumBytes, warnTurn, maximumTurn
    }

    /// Decodes limits; those journaled before the turn budget existed get its defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = FlowLimits()
        warnSteps = try c.decode(Int.self, forKey: .warnSteps)
        warnBytes = try c.decode(Int.self, forKey: .warnBytes)
        maximumSteps = try c.decode(Int.self, forKey: .maximumSteps)
        maximumBytes = try c.decode(Int.self, forKey: .maximumBytes)
        warnTurn = try c.decodeIfPresent(Duration.self, forKey: .warnTurn) ?? defaults.warnTurn
        maximumTurn = try c.decodeIfPresent(Duration.self, forKey: .maximumTurn) ?? defaults.maximumTurn
    }
}

/// A flow's history as its code sees it.
public struct FlowHistoryInfo: Sendable, Equatable {
    /// Steps in its log (this run's).
    public var steps: Int
    /// About how many bytes they hold.
    public var bytes: Int
    /// Past the warning marks: time for `continueAsNew`.
    public var shouldContinueAsNew: Bool
}

/// One step of a flow, as its log keeps it: what the code asked for, where,
/// when, and how it ended.
public struct FlowStep: Codable, Sendable, Equatable {
    /// Its identity: branch and number (`0/3` is the fourth step of the main branch).
    public var id: String
    /// What kind of step.
    public var kind: FlowStepKind
    /// What it asked for, for people (`http POST …`, `sleep 5s`).
    public var what: String
    /// The digest of its kind and arguments (matched on replay).
    public var digest: UInt64
    /// Where the code asked for it (`#fileID:#line`; never matched).
    public var site: String
    /// When it was asked for.
    public var at: WallTime
    /// When it ended.
    public var resolvedAt: WallTime?
    /// How it ended (nil: under way).
    public var result: FlowStepResult?
    /// The attempts it took (effects).
    public var attempts: Int?
    /// The timer that ends its wait, if any.
    public var timer: DurableTimerRef?
    /// When that timer is due.
    public var due: WallTime?
    /// The effect it waits for (`effect`).
    public var effect: UInt64?
    /// The callback it waits for (`wait`) or minted (`callback`).
    public var callback: UInt64?
    /// The signal it takes (`signal`).
    public var signal: String?
    /// The pid of the child flow it started (`child`; a pid, not an
    /// address: a log is read at a node start before every process is back).
    public var child: Pid?
    /// The `withTimeout` deadlines it was asked for under, innermost last.
    public var scopes: [String] = []
}

/// Why a flow was parked as diverged: the step the journal has beside the
/// step the code asks for now.
public struct FlowDivergence: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The step's identity.
    public var step: String
    /// What the log has there (nil: nothing).
    public var journal: String?
    /// What the code asks for (or what it awaited).
    public var code: String
    /// `diverged` (the code asks for a different step) or `foreignAwait`
    /// (it awaited something Calf does not journal).
    public var reason: String

    /// One line: both sides.
    public var description: String {
        if reason == "foreignAwait" { return "after step \(step): \(code)" }
        return "step \(step): the journal has \(journal ?? "nothing"); the code now asks for \(code)"
    }
}

/// What a flow's log holds that most waiting flows never need (its end, a
/// divergence, callbacks): kept out of line, since a waiting flow's log is
/// part of its process's memory (`calf bench flows`: bytes per waiting flow).
struct FlowLogRare {
    var endedAt: WallTime?
    var output: String?
    var error: EffectFailure?
    var divergence: FlowDivergence?
    var arrivals: [UInt64: CallbackArrival] = [:]
    var byEffect: [UInt64: String] = [:]
    var byCallback: [UInt64: String] = [:]
}

/// The box of a log's `FlowLogRare`. Never written while shared: a log
/// copies it before a change unless it holds the only reference
/// (`FlowLog.withRare`), so the copies of a log on different threads only
/// ever read a shared box.
final class FlowLogRareBox: @unchecked Sendable {
    var value: FlowLogRare
    init(_ value: FlowLogRare) { self.value = value }
}

/// A flow's log: its state as a durable process (snapshotted; a replay
/// re-runs the code over it).
public struct FlowLog: Codable, Sendable {
    /// The flow type's name.
    public var type: String
    /// The version of the code it started on.
    public var version: Int
    /// Its input, as JSON.
    public var input: String
    /// Where it stands.
    public var status: FlowStatus = .starting
    /// When its first turn ran.
    public var startedAt: WallTime?
    /// When it ended.
    public var endedAt: WallTime? {
        get { rare?.value.endedAt }
        set { if newValue != nil || rare != nil { withRare { $0.endedAt = newValue } } }
    }
    /// Its steps, in the order the code asked for them.
    public var steps: [FlowStep] = []
    /// Its output as JSON, once completed.
    public var output: String? {
        get { rare?.value.output }
        set { if newValue != nil || rare != nil { withRare { $0.output = newValue } } }
    }
    /// Its error, once failed or cancelled.
    public var error: EffectFailure? {
        get { rare?.value.error }
        set { if newValue != nil || rare != nil { withRare { $0.error = newValue } } }
    }
    /// Why it is parked, when diverged.
    public var divergence: FlowDivergence? {
        get { rare?.value.divergence }
        set { if newValue != nil || rare != nil { withRare { $0.divergence = newValue } } }
    }
    /// Signals sent that no step has taken yet, by name, oldest first (JSON).
    public var signals: [String: [String]] = [:]
    /// Callbacks' deliveries, by callback id (a `value` after the POST reads it).
    public var arrivals: [UInt64: CallbackArrival] {
        get { rare?.value.arrivals ?? [:] }
        // In place: a get-and-set would copy the dictionary at every change.
        _modify { yield &uniqueRare().value.arrivals }
    }
    /// Whether a cancel was asked for.
    public var cancelRequested = false
    /// Turns handled (the live run is in step with the log after as many).
    public var turns = 0
    /// Which run this is: 0, then one more for each `continueAsNew`.
    public var generation = 0
    /// About how many bytes its steps hold (what the history bounds count).
    public var bytes = 0

    /// Steps by id (derived from `steps`), once there are `indexedFrom`
    /// of them; a shorter log is scanned (a dictionary would cost about as
    /// much memory as the log of a flow that waits after a step or two).
    private var index: [String: Int] = [:]
    static let indexedFrom = 8
    /// Effects under way and callbacks minted, by id → their step.
    var byEffect: [UInt64: String] {
        get { rare?.value.byEffect ?? [:] }
        _modify { yield &uniqueRare().value.byEffect }
    }
    var byCallback: [UInt64: String] {
        get { rare?.value.byCallback ?? [:] }
        _modify { yield &uniqueRare().value.byCallback }
    }
    /// What most waiting flows' logs never hold, out of line (nil: none of it).
    private var rare: FlowLogRareBox?

    /// Changes the out-of-line part, copying it first if another copy of the log shares it.
    private mutating func withRare(_ change: (inout FlowLogRare) -> Void) {
        change(&uniqueRare().value)
    }

    /// The out-of-line part's box, made or copied so that this log alone holds it.
    private mutating func uniqueRare() -> FlowLogRareBox {
        if rare == nil {
            rare = FlowLogRareBox(FlowLogRare())
        } else if !isKnownUniquelyReferenced(&rare!) {
            rare = FlowLogRareBox(rare!.value)
        }
        return rare! // invariant: made just above
    }
    /// The code running over this log (not journaled: rebuilt from the log
    /// when missing or out of step).
    var run: FlowRun?

    init(type: String, version: Int, input: String) {
        self.type = type
        self.version = version
        self.input = input
    }

    private enum CodingKeys: String, CodingKey {
        case type, version, input, status, startedAt, endedAt, steps, output, error, divergence, signals, arrivals
        case cancelRequested, turns, byEffect, byCallback, generation, bytes
    }

    /// Decodes a log (its index rebuilt, no run).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(String.self, forKey: .type)
        version = try c.decode(Int.self, forKey: .version)
        input = try c.decode(String.self, forKey: .input)
        status = try c.decode(FlowStatus.self, forKey: .status)
        startedAt = try c.decodeIfPresent(WallTime.self, forKey: .startedAt)
        endedAt = try c.decodeIfPresent(WallTime.self, forKey: .endedAt)
        steps = try c.decode([FlowStep].self, forKey: .steps)
        output = try c.decodeIfPresent(String.self, forKey: .output)
        error = try c.decodeIfPresent(EffectFailure.self, forKey: .error)
        divergence = try c.decodeIfPresent(FlowDivergence.self, forKey: .divergence)
        signals = try c.decode([String: [String]].self, forKey: .signals)
        arrivals = try c.decode([UInt64: CallbackArrival].self, forKey: .arrivals)
        cancelRequested = try c.decode(Bool.self, forKey: .cancelRequested)
        turns = try c.decode(Int.self, forKey: .turns)
        byEffect = try c.decode([UInt64: String].self, forKey: .byEffect)
        byCallback = try c.decode([UInt64: String].self, forKey: .byCallback)
        generation = try c.decodeIfPresent(Int.self, forKey: .generation) ?? 0
        bytes = try c.decodeIfPresent(Int.self, forKey: .bytes) ?? 0
        reindex()
    }

    /// Encodes a log (not its run).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encode(version, forKey: .version)
        try c.encode(input, forKey: .input)
        try c.encode(status, forKey: .status)
        try c.encodeIfPresent(startedAt, forKey: .startedAt)
        try c.encodeIfPresent(endedAt, forKey: .endedAt)
        try c.encode(steps, forKey: .steps)
        try c.encodeIfPresent(output, forKey: .output)
        try c.encodeIfPresent(error, forKey: .error)
        try c.encodeIfPresent(divergence, forKey: .divergence)
        try c.encode(signals, forKey: .signals)
        try c.encode(arrivals, forKey: .arrivals)
        try c.encode(cancelRequested, forKey: .cancelRequested)
        try c.encode(turns, forKey: .turns)
        try c.encode(byEffect, forKey: .byEffect)
        try c.encode(byCallback, forKey: .byCallback)
        try c.encode(generation, forKey: .generation)
        try c.encode(bytes, forKey: .bytes)
    }

    /// The step `id`, if the log has it.
    public func step(_ id: String) -> FlowStep? { position(of: id).map { steps[$0] } }

    /// Where step `id` is in `steps`.
    private func position(of id: String) -> Int? {
        steps.count < FlowLog.indexedFrom ? steps.firstIndex { $0.id == id } : index[id]
    }

    mutating func append(_ step: FlowStep) {
        steps.append(step)
        if steps.count == FlowLog.indexedFrom {
            reindex()
        } else if steps.count > FlowLog.indexedFrom {
            index[step.id] = steps.count - 1
        }
        bytes += step.size
    }

    /// Builds the index again from `steps` (none for a short log).
    private mutating func reindex() {
        index = [:]
        guard steps.count >= FlowLog.indexedFrom else { return }
        for (position, step) in steps.enumerated() { index[step.id] = position }
    }

    /// Keeps the first `count` steps (a reset); the flow runs again.
    mutating func truncate(to count: Int) {
        steps = Array(steps.prefix(count))
        reindex()
        bytes = steps.reduce(0) { $0 + $1.size }
        status = .running
        output = nil
        error = nil
        divergence = nil
        endedAt = nil
        cancelRequested = false
    }

    /// Starts run `generation + 1` on `input`: the steps of this run gone,
    /// the signals not yet taken kept.
    mutating func startOver(input: String, at time: WallTime) {
        generation += 1
        self.input = input
        steps = []
        index = [:]
        byEffect = [:]
        byCallback = [:]
        arrivals = [:]
        bytes = 0
        startedAt = time
        status = .running
    }

    mutating func resolve(_ id: String, _ result: FlowStepResult, at time: WallTime, attempts: Int? = nil) -> Bool {
        guard let position = position(of: id), steps[position].result == nil else { return false }
        steps[position].result = result
        steps[position].resolvedAt = time
        if let attempts { steps[position].attempts = attempts }
        bytes += result.size
        return true
    }
}
