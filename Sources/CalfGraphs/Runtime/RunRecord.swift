/// How a run of a task ended (or that it has not yet).
public enum RunStatus: String, Sendable, Codable, Equatable, CaseIterable {
    /// Started, not ended.
    case running
    /// Exited with status 0.
    case succeeded
    /// Exited with another status, or was ended by a signal it was not sent.
    case failed
    /// Stopped on purpose: `cancel`, or a newer run (`onBusy: restart`).
    case cancelled
    /// Stopped after its `timeout`.
    case timedOut
    /// The node stopped (or was killed) while it ran; whether the command
    /// finished its work cannot be known.
    case interrupted
    /// Its command could not be started (not found, not executable).
    case couldNotStart

    /// Whether the run has ended.
    public var hasEnded: Bool { self != .running }
}

/// What a run's process did, as the run reports it at its end (the
/// output of `TaskRunEffect`, journaled with its completion).
public struct RunOutcome: Sendable, Codable, Equatable {
    /// How it ended.
    public var status: RunStatus
    /// Its exit status, when it exited.
    public var exitCode: Int?
    /// The signal that ended it, when one did.
    public var signal: Int?
    /// When it started and ended, in milliseconds since 1970.
    public var startedAt: Int64
    public var endedAt: Int64
    /// The last lines it printed (stdout and stderr, in order), at most
    /// `RunOutput.tailLines` of them.
    public var tail: [String]
    /// Why it could not start, or what stopped it, in words.
    public var note: String?
    /// A digest of the job's `outputs` after a run that succeeded (nil
    /// otherwise, or with no outputs): what `cutoff: outputs` compares.
    public var outputsDigest: String?

    /// An outcome.
    public init(status: RunStatus, exitCode: Int? = nil, signal: Int? = nil, startedAt: Int64, endedAt: Int64, tail: [String] = [], note: String? = nil,
                outputsDigest: String? = nil) {
        self.status = status
        self.exitCode = exitCode
        self.signal = signal
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.tail = tail
        self.note = note
        self.outputsDigest = outputsDigest
    }

    /// Its duration in milliseconds.
    public var durationMs: Int64 { max(0, endedAt - startedAt) }
}

/// One run of a task as the graph's ledger keeps it.
public struct RunRecord: Sendable, Codable, Equatable {
    /// Its number, from 1, per task.
    public var number: Int
    /// Why it ran: each trigger it took in ("change sources: a.swift",
    /// "after build #3", "start", "manual by shell").
    public var causes: [String]
    /// The graph's version (its file's digest) it ran with.
    public var graphVersion: String
    /// The digest of each input watch set when it started.
    public var inputDigests: [String: String]
    /// When it started (the journaled time of the message that started it), in milliseconds since 1970.
    public var startedAt: Int64
    /// How it ended, with its process's figures (nil while it runs).
    public var outcome: RunOutcome?
    /// Its full output's file (under the data directory).
    public var logPath: String
    /// What it ran after: for each job upstream it depends on with
    /// `succeeded` or `completed`, that job's latest run then (`#N`, or
    /// its outputs digest with `cutoff: outputs`).
    public var upstream: [String: String]?
    /// A daemon's run: when its readiness check passed (nil: not yet, or not a daemon).
    public var readyAt: Int64?

    /// Its status: `running` until it has an outcome.
    public var status: RunStatus { outcome?.status ?? .running }
}
