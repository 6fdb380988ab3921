/// The answer to `names`: registered names with their pids, and every live pid.
public struct NameList: Codable, Sendable, Equatable {
    /// Registered name → pid.
    public var names: [String: String]
    /// Every live process's pid, in order.
    public var pids: [String]

    /// A list of names and pids.
    public init(names: [String: String], pids: [String]) {
        self.names = names
        self.pids = pids
    }
}

/// The answer to `send` (and `dead retry`): where the message is in the
/// journal, and whether its idempotency key had been accepted before (then
/// `seq` is where the first one was, and nothing was written). A message
/// to a transient process has no seq: it went straight into the mailbox.
public struct SendAnswer: Codable, Sendable, Equatable {
    /// The seq of the accepted message; nil for a transient process.
    public var seq: UInt64?
    /// The key was seen before: the message was not taken again.
    public var duplicate: Bool

    /// An answer.
    public init(seq: UInt64?, duplicate: Bool) {
        self.seq = seq
        self.duplicate = duplicate
    }
}

extension SendAnswer: JSONWritable {
    /// Writes `{"duplicate":…,"seq":…}` as the encoder would (the answer of
    /// every message sent, through the socket or HTTP: written without one).
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("duplicate")
        writer.bool(duplicate)
        if let seq {
            writer.key("seq")
            writer.unsigned(seq)
        }
        writer.endObject()
    }
}

/// The answer to `passivate`: whether the process is out of RAM now, and
/// if not, what keeps it there.
public struct PassivateAnswer: Codable, Sendable, Equatable {
    /// It is out of RAM (passivated by this request, or before it).
    public var passivated: Bool
    /// It had left RAM before this request.
    public var already: Bool
    /// What keeps it in RAM (it is monitored, suspended, traced, …), when it stays.
    public var stays: String?

    /// An answer.
    public init(passivated: Bool, already: Bool, stays: String?) {
        self.passivated = passivated
        self.already = already
        self.stays = stays
    }
}

/// The answer to a request that only needs doing (`kill`, `restart`,
/// `suspend`, `resume`): `{}`.
public struct Done: Codable, Sendable, Equatable {
    /// Done.
    public init() {}
}
