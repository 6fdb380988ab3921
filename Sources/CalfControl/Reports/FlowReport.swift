/// A flow, as the shell's `flows` lists it.
public struct FlowReport: Codable, Sendable, Equatable {
    /// Its process.
    public var pid: String
    /// Its registered name (its id over HTTP).
    public var name: String?
    /// Its flow type.
    public var type: String
    /// The version of the code it runs on.
    public var version: Int
    /// starting, running, waiting, completed, failed, cancelled, diverged, or gone (a version this node does not have: parked at its start).
    public var status: String
    /// What it waits on (the steps under way), or why it ended or was parked.
    public var waitingOn: String
    /// Its steps so far.
    public var steps: Int
    /// When it started (ns since the epoch; nil before its first turn).
    public var startedAt: UInt64?

    /// A report.
    public init(pid: String, name: String?, type: String, version: Int, status: String, waitingOn: String, steps: Int, startedAt: UInt64?) {
        self.pid = pid
        self.name = name
        self.type = type
        self.version = version
        self.status = status
        self.waitingOn = waitingOn
        self.steps = steps
        self.startedAt = startedAt
    }
}

/// One step of a flow, as the shell's `flow P` shows it.
public struct FlowStepReport: Codable, Sendable, Equatable {
    /// Its identity (branch/number).
    public var id: String
    /// When the code asked for it (ns since the epoch).
    public var at: UInt64
    /// sleep, effect, callback, wait, signal, patch, child, join, local or timeout.
    public var kind: String
    /// What it asked for.
    public var what: String
    /// How it ended, in words (nil: under way).
    public var result: String?
    /// When it ended (ns since the epoch).
    public var resolvedAt: UInt64?
    /// The attempts it took (effects).
    public var attempts: Int?
    /// Where the code asked for it (`file:line`).
    public var site: String

    /// A step.
    public init(id: String, at: UInt64, kind: String, what: String, result: String?, resolvedAt: UInt64?, attempts: Int?, site: String) {
        self.id = id
        self.at = at
        self.kind = kind
        self.what = what
        self.result = result
        self.resolvedAt = resolvedAt
        self.attempts = attempts
        self.site = site
    }
}

/// A flow's history, as the shell's `flow P` shows it.
public struct FlowHistory: Codable, Sendable, Equatable {
    /// The flow.
    public var flow: FlowReport
    /// Its input (JSON).
    public var input: String
    /// Its steps, in order (up to the step asked for).
    public var steps: [FlowStepReport]
    /// Its output (JSON), once completed.
    public var output: String?
    /// Its error, once failed or cancelled.
    public var error: String?
    /// Why it is parked: the step the journal has and the step the code asks for now.
    public var divergence: FlowDivergenceReport?

    /// A history.
    public init(flow: FlowReport, input: String, steps: [FlowStepReport], output: String?, error: String?, divergence: FlowDivergenceReport?) {
        self.flow = flow
        self.input = input
        self.steps = steps
        self.output = output
        self.error = error
        self.divergence = divergence
    }
}

/// Both sides of a flow's divergence.
public struct FlowDivergenceReport: Codable, Sendable, Equatable {
    /// The step.
    public var step: String
    /// What the journal has there (nil: nothing).
    public var journal: String?
    /// What the code asks for now (or what it awaited).
    public var code: String
    /// diverged or foreignAwait.
    public var reason: String

    /// A report.
    public init(step: String, journal: String?, code: String, reason: String) {
        self.step = step
        self.journal = journal
        self.code = code
        self.reason = reason
    }
}
