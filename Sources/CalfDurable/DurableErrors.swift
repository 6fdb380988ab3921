import CalfControl
import CalfRuntime

/// Errors of the durable runtime that handlers and callers see.
public enum DurableError: Error, Sendable, CustomStringConvertible {
    /// More than 255 spawns in one handling.
    case tooManySpawns(Pid)
    /// The node has no data directory.
    case notDurableNode
    /// The process is not durable.
    case notDurable(Pid)
    /// No behavior of that name is registered with the node.
    case unknownBehavior(String)
    /// The name is taken.
    case nameTaken(String, by: Pid)
    /// Another node serves this data directory (the OS pid it recorded, if known).
    case dataDirectoryInUse(String, by: Int32?)
    /// The journal refused it.
    case notAccepted(String)
    /// No durable process has that name or pid.
    case noSuchProcess(String)
    /// The process is quarantined.
    case quarantined(Pid, String)
    /// The data directory cannot be made, opened or locked.
    case dataDirectory(String)
    /// A journal record, snapshot or behavior that a process needs is
    /// missing or does not decode (the process is quarantined).
    case undecodable(String)
    /// A message or behavior cannot be encoded for the journal.
    case unencodable(String)
    /// A message failed every try and was set aside as a dead letter.
    case poisonMessage(String)
    /// The journal no longer holds the history asked for.
    case historyGone(Pid, UInt64)
    /// More than 255 effects asked for in one handling.
    case tooManyEffects(Pid)
    /// A handler minted more than 255 callbacks in one handling.
    case tooManyCallbacks(Pid)
    /// An effect of a type the node could not run again after a restart.
    case unknownEffect(String)

    public var description: String {
        switch self {
        case .tooManySpawns(let pid): "\(pid) spawned more than 255 processes in one handling"
        case .tooManyEffects(let pid): "\(pid) asked for more than 255 effects in one handling"
        case .tooManyCallbacks(let pid): "\(pid) minted more than 255 callbacks in one handling"
        case .unknownEffect(let name): "the effect '\(name)' is not registered with this node (list it in the behavior's `effects`): it could not run again after a restart"
        case .notDurableNode: "this node has no data directory (start it with DurableOptions)"
        case .notDurable(let pid): "\(pid) is not a durable process"
        case .unknownBehavior(let name): "no behavior named '\(name)' is registered with this node"
        case .nameTaken(let name, let pid): "name '\(name)' is taken by \(pid)"
        case .dataDirectoryInUse(let path, let pid): "another node is running on the data directory \(path)\(pid.map { " (process \($0))" } ?? ""): one node per data directory"
        case .notAccepted(let reason): "not accepted: \(reason)"
        case .noSuchProcess(let who): "no durable process \(who)"
        case .historyGone(let pid, let seq): "the journal no longer holds the history of \(pid) up to \(seq) (it keeps the history window; the snapshot is newer)"
        case .quarantined(let pid, let reason): "\(pid) is quarantined: \(reason)"
        case .dataDirectory(let reason), .undecodable(let reason), .unencodable(let reason): reason
        case .poisonMessage(let reason): "poison message: \(reason)"
        }
    }
}

/// Replay produced outputs that differ from those journaled: the handler is
/// not deterministic (or its code changed).
public struct DivergenceError: Error, Sendable, CustomStringConvertible {
    /// The process.
    public let pid: Pid
    /// Its behavior.
    public let behavior: String
    /// The seq of the message whose replay diverged.
    public let seq: UInt64
    /// The replay step (1 is the first message replayed after the snapshot).
    public let step: Int
    /// The digests journaled and found.
    public let expected: UInt64, found: UInt64

    @usableFromInline
    package init(pid: Pid, behavior: String, seq: UInt64, step: Int, expected: UInt64, found: UInt64) {
        self.pid = pid
        self.behavior = behavior
        self.seq = seq
        self.step = step
        self.expected = expected
        self.found = found
    }

    public var description: String {
        "replay of \(behavior) \(pid) diverged at step \(step) (message seq \(seq)): outputs digest \(String(found, radix: 16)) instead of the journaled \(String(expected, radix: 16)); the handler must be a deterministic function of state, message and context"
    }
}
