import CalfControl
import CalfRuntime
import CalfDurable

/// Why a supervisor request failed (OTP's `{error, _}` replies, as values).
public enum SupervisorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A child with this id exists and is running.
    case alreadyStarted(id: String, pid: Pid)
    /// A child spec with this id exists (not running).
    case alreadyPresent(String)
    /// No child has this id (or pid).
    case notFound(String)
    /// The child is running; stop it first.
    case running(String)
    /// The child is waiting for a delayed restart.
    case restarting(String)
    /// The child's start function failed.
    case startFailed(id: String, reason: String)
    /// The request does not apply to this supervisor's strategy.
    case wrongStrategy(String)
    /// A dynamic child got arguments of the wrong type.
    case badArguments(expected: String, got: String)
    /// The spec cannot run.
    case invalidSpec(String)
    /// The supervisor is not running (or did not answer).
    case supervisorUnavailable(String)
    /// A durable supervisor cannot keep this in its journal (a child spec
    /// added at run time holds code); the reason says what to do instead.
    case notJournaled(String)

    public var description: String {
        switch self {
        case .alreadyStarted(let id, let pid): "child '\(id)' is already started as \(pid)"
        case .alreadyPresent(let id): "a child '\(id)' is already present"
        case .notFound(let id): "no child '\(id)'"
        case .running(let id): "child '\(id)' is running"
        case .restarting(let id): "child '\(id)' is waiting to be restarted"
        case .startFailed(let id, let reason): "child '\(id)' failed to start: \(reason)"
        case .wrongStrategy(let what): what
        case .badArguments(let expected, let got): "the child template takes \(expected), got \(got)"
        case .invalidSpec(let why): "invalid supervisor spec: \(why)"
        case .supervisorUnavailable(let why): "the supervisor is not available: \(why)"
        case .notJournaled(let why): why
        }
    }
}

/// One child as `whichChildren` reports it.
public struct ChildInfo: Sendable, Equatable {
    /// Where the child stands.
    public enum Status: String, Sendable {
        /// Its process is alive.
        case running
        /// It ended and waits for a delayed (backoff) restart.
        case restarting
        /// Its spec is kept without a process (ignored start, or ended and not restarted).
        case stopped
    }

    /// Its id (the template's id for a dynamic child).
    public var id: String
    /// Its process, when running.
    public var pid: Pid?
    /// Worker or supervisor.
    public var kind: ChildKind
    /// Running, restarting or stopped.
    public var status: Status
    /// Its behavior's name.
    public var behavior: String
    /// Restarts of this child since the supervisor started.
    public var restarts: Int
    /// Why its last process ended, if one did.
    public var lastExit: String?
}

/// What `countChildren` reports (OTP's `count_children`).
public struct ChildCounts: Sendable, Equatable {
    /// Child specs (dynamic children count one each).
    public var specs: Int
    /// Children whose process is alive.
    public var active: Int
    /// Children that are supervisors.
    public var supervisors: Int
    /// Children that are workers.
    public var workers: Int

    /// Makes a count.
    public init(specs: Int, active: Int, supervisors: Int, workers: Int) {
        self.specs = specs
        self.active = active
        self.supervisors = supervisors
        self.workers = workers
    }
}
