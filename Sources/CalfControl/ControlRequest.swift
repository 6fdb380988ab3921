import FoundationEssentials

/// A request to a node on its control socket (what `calf shell` asks).
///
/// On the wire one flat object, `{"v":2,"cmd":"send","target":"teller","message":{…}}`:
/// `cmd` names the case, the other members are its arguments (absent when
/// nil). A process is named by its registered name or its printed pid.
public enum ControlRequest: Sendable, Equatable {
    /// Sends `message` to durable process `target`, once per `key` if given; answered after the commit.
    case send(to: String, message: JSONValue, key: String?)
    /// Calls durable process `target` with `message`; answered with its reply.
    case call(to: String, message: JSONValue, timeoutMilliseconds: Int?)
    /// The state of durable process `target`, now or as it was at log position `at`.
    case state(of: String, at: UInt64?)
    /// Every live process, in `order`.
    /// With `passivated`, durable processes that left RAM are listed too (status `passivated`).
    case ps(order: ProcessOrder, passivated: Bool = true)
    /// One live process.
    case info(String)
    /// The supervision trees.
    case tree
    /// The mail waiting for a process.
    case mailbox(of: String)
    /// Sends a process an exit signal with `reason` (`normal`, `shutdown`, any words), or kills it (nil).
    case kill(String, reason: String?)
    /// Kills a process so that it is restarted (in place if durable).
    case restart(String)
    /// Stops a process from taking turns.
    case suspend(String)
    /// Lets a suspended process take turns again.
    case resume(String)
    /// Passivates a durable process now (its snapshot committed, it leaves
    /// RAM until its next mail, call, due timer or command).
    case passivate(String)
    /// Moves a process to scheduler `toScheduler` between its turns (the balancer may move it on later).
    case move(String, toScheduler: Int)
    /// The dead letters, of one process if given.
    case deadLetters(of: String?)
    /// The durable effects under way (of one process, if named).
    case effects(of: String?)
    /// The callbacks minted (of one process, if named).
    case callbacks(of: String?)
    /// Hands a dead letter to its process again.
    case retryDeadLetter(id: UInt64)
    /// A durable process's history: records from `from`, at most `limit`.
    case journal(of: String, from: UInt64?, limit: Int?)
    /// The node's figures.
    case stats
    /// Registered names and live pids (what completion offers).
    case names
    /// Streams what a process takes in and sends out, `limit` events at most.
    case trace(String, limit: Int?)
    /// The busiest processes (`limit` rows), rates since this connection's previous `top`.
    case top(order: TopOrder, limit: Int?)
    /// Every flow: its type, version, status, what it waits on, steps, age.
    case flows
    /// One flow's steps (up to step number `upTo`, if given; -1: none, the
    /// divergence only) and where it stands.
    case flow(String, upTo: Int?)

    /// The command's name on the wire.
    public var command: String {
        switch self {
        case .send: "send"
        case .call: "call"
        case .state: "state"
        case .ps: "ps"
        case .info: "info"
        case .tree: "tree"
        case .mailbox: "mailbox"
        case .kill: "kill"
        case .restart: "restart"
        case .suspend: "suspend"
        case .resume: "resume"
        case .passivate: "passivate"
        case .move: "move"
        case .deadLetters: "dead"
        case .effects: "effects"
        case .callbacks: "callbacks"
        case .retryDeadLetter: "dead-retry"
        case .journal: "journal"
        case .stats: "stats"
        case .names: "names"
        case .trace: "trace"
        case .top: "top"
        case .flows: "flows"
        case .flow: "flow"
        }
    }

    /// Every command's name, as the node lists them for an unknown one.
    public static let commands = ["send", "call", "state", "ps", "info", "tree", "mailbox", "kill", "restart", "suspend", "resume", "passivate", "move", "dead", "dead-retry", "journal", "stats", "names", "trace", "top", "flows", "flow"]
}

/// The orders of `ps`: by pid, or largest first by mailbox, messages handled, memory or restarts.
public enum ProcessOrder: String, Codable, Sendable, CaseIterable {
    /// By pid.
    case pid
    /// Mail waiting, largest first.
    case mailbox
    /// Messages handled, largest first.
    case messages = "msgs"
    /// Memory held, largest first.
    case memory
    /// Restarts, largest first.
    case restarts

    /// The order named `name` (nil: by pid); nil for an unknown name.
    public init?(name: String?) {
        guard let name else {
            self = .pid
            return
        }
        self.init(rawValue: name)
    }
}

/// What `top`'s rows are ordered by (largest first).
public enum TopOrder: String, Codable, Sendable, CaseIterable {
    /// Messages handled per second over the last interval.
    case rate
    /// Mail waiting.
    case mailbox
    /// Memory held.
    case memory
    /// Restarts in place.
    case restarts

    /// The order a request names (nil: by rate); nil for an unknown name.
    public init?(name: String?) {
        guard let name else {
            self = .rate
            return
        }
        self.init(rawValue: name)
    }

    /// The next order in the cycle (`s` in `top`).
    public var next: TopOrder {
        let all = TopOrder.allCases
        // invariant: self is one of allCases.
        return all[(all.firstIndex(of: self)! + 1) % all.count]
    }

    /// Its title on the screen.
    public var title: String { self == .rate ? "msgs/s" : rawValue }
}

extension ControlRequest: Codable {
    private enum Key: String, CodingKey { case v, cmd, target, message, key, timeoutMilliseconds, sort, reason, from, limit, at, id, scheduler, upTo, passivated }

    /// Decodes a request of this protocol version; a wrong version, an
    /// unknown command or a missing argument is a decoding error that says so.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        let version = try container.decode(Int.self, forKey: .v)
        guard version == ControlProtocol.version else {
            throw VersionMismatch(version: version)
        }
        let command = try container.decode(String.self, forKey: .cmd)
        func target() throws -> String {
            let target = try container.decodeIfPresent(String.self, forKey: .target) ?? ""
            guard !target.isEmpty else {
                throw DecodingError.dataCorruptedError(forKey: .target, in: container, debugDescription: "\(command) needs a target (a process name or pid)")
            }
            return target
        }
        func optional<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? { try container.decodeIfPresent(type, forKey: key) }
        switch command {
        case "send":
            self = .send(to: try target(), message: try container.decode(JSONValue.self, forKey: .message), key: try optional(String.self, .key))
        case "call":
            self = .call(to: try target(), message: try container.decode(JSONValue.self, forKey: .message), timeoutMilliseconds: try optional(Int.self, .timeoutMilliseconds))
        case "state": self = .state(of: try target(), at: try optional(UInt64.self, .at))
        case "ps": self = .ps(order: try optional(ProcessOrder.self, .sort) ?? .pid, passivated: try optional(Bool.self, .passivated) ?? true)
        case "info": self = .info(try target())
        case "tree": self = .tree
        case "mailbox": self = .mailbox(of: try target())
        case "kill": self = .kill(try target(), reason: try optional(String.self, .reason))
        case "restart": self = .restart(try target())
        case "suspend": self = .suspend(try target())
        case "resume": self = .resume(try target())
        case "passivate": self = .passivate(try target())
        case "move": self = .move(try target(), toScheduler: try container.decode(Int.self, forKey: .scheduler))
        case "dead": self = .deadLetters(of: try optional(String.self, .target).flatMap { $0.isEmpty ? nil : $0 })
        case "effects": self = .effects(of: try optional(String.self, .target).flatMap { $0.isEmpty ? nil : $0 })
        case "callbacks": self = .callbacks(of: try optional(String.self, .target).flatMap { $0.isEmpty ? nil : $0 })
        case "dead-retry": self = .retryDeadLetter(id: try container.decode(UInt64.self, forKey: .id))
        case "journal": self = .journal(of: try target(), from: try optional(UInt64.self, .from), limit: try optional(Int.self, .limit))
        case "stats": self = .stats
        case "names": self = .names
        case "trace": self = .trace(try target(), limit: try optional(Int.self, .limit))
        case "top": self = .top(order: try optional(TopOrder.self, .sort) ?? .rate, limit: try optional(Int.self, .limit))
        case "flows": self = .flows
        case "flow": self = .flow(try target(), upTo: try optional(Int.self, .upTo))
        default:
            throw DecodingError.dataCorruptedError(forKey: .cmd, in: container, debugDescription: "unknown command '\(command)' (\(Self.commands.joined(separator: ", ")))")
        }
    }

    /// Encodes the request as one flat object of this protocol version.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(ControlProtocol.version, forKey: .v)
        try container.encode(command, forKey: .cmd)
        switch self {
        case .send(let target, let message, let key):
            try container.encode(target, forKey: .target)
            try container.encode(message, forKey: .message)
            try container.encodeIfPresent(key, forKey: .key)
        case .call(let target, let message, let timeout):
            try container.encode(target, forKey: .target)
            try container.encode(message, forKey: .message)
            try container.encodeIfPresent(timeout, forKey: .timeoutMilliseconds)
        case .state(let target, let at):
            try container.encode(target, forKey: .target)
            try container.encodeIfPresent(at, forKey: .at)
        case .ps(let order, let passivated):
            if order != .pid { try container.encode(order, forKey: .sort) }
            if !passivated { try container.encode(false, forKey: .passivated) }
        case .info(let target), .mailbox(let target), .restart(let target), .suspend(let target), .resume(let target), .passivate(let target):
            try container.encode(target, forKey: .target)
        case .kill(let target, let reason):
            try container.encode(target, forKey: .target)
            try container.encodeIfPresent(reason, forKey: .reason)
        case .move(let target, let scheduler):
            try container.encode(target, forKey: .target)
            try container.encode(scheduler, forKey: .scheduler)
        case .deadLetters(let target), .effects(let target), .callbacks(let target):
            try container.encodeIfPresent(target, forKey: .target)
        case .retryDeadLetter(let id):
            try container.encode(id, forKey: .id)
        case .journal(let target, let from, let limit):
            try container.encode(target, forKey: .target)
            try container.encodeIfPresent(from, forKey: .from)
            try container.encodeIfPresent(limit, forKey: .limit)
        case .trace(let target, let limit):
            try container.encode(target, forKey: .target)
            try container.encodeIfPresent(limit, forKey: .limit)
        case .top(let order, let limit):
            try container.encode(order, forKey: .sort)
            try container.encodeIfPresent(limit, forKey: .limit)
        case .flow(let target, let upTo):
            try container.encode(target, forKey: .target)
            try container.encodeIfPresent(upTo, forKey: .upTo)
        case .tree, .stats, .names, .flows:
            break
        }
    }

    /// A request of a protocol version this build does not speak.
    public struct VersionMismatch: Error, Sendable, CustomStringConvertible {
        /// The version the request said.
        public let version: Int
        /// What went wrong.
        public var description: String { "protocol version \(version) is not spoken here (this node speaks \(ControlProtocol.version))" }
    }
}
