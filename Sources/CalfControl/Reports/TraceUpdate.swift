/// One message a traced process took in or sent out.
public struct TraceEvent: Codable, Sendable, Equatable {
    /// `in` (taken from the mailbox) or `out` (sent or replied).
    public var direction: String
    /// `message`, `call`, `reply`, `signal` or `stop`.
    public var kind: String
    /// The other process (for `out`: the recipient), if known.
    public var peer: String?
    /// The message (its description as a string if it is not `Encodable`).
    public var message: JSONValue
    /// When it happened, in nanoseconds since 1970.
    public var at: UInt64

    /// An event.
    public init(direction: String, kind: String, peer: String?, message: JSONValue, at: UInt64) {
        self.direction = direction
        self.kind = kind
        self.peer = peer
        self.message = message
        self.at = at
    }
}

/// One reply of a `trace` stream: `{"following":P}` first, then events and
/// counts of events dropped, and last `{"ended":WHY}` (the stream's last reply).
public enum TraceUpdate: Sendable, Equatable {
    /// The trace is on: events from now on are counted.
    case following(String)
    /// An event.
    case event(TraceEvent)
    /// Events lost because the shell did not keep up.
    case dropped(Int)
    /// The trace ended, and why.
    case ended(String)
}

extension TraceUpdate: Codable {
    private enum Key: String, CodingKey { case following, event, dropped, ended }

    /// Decodes whichever of the four members the object has.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        if let target = try container.decodeIfPresent(String.self, forKey: .following) {
            self = .following(target)
        } else if let event = try container.decodeIfPresent(TraceEvent.self, forKey: .event) {
            self = .event(event)
        } else if let count = try container.decodeIfPresent(Int.self, forKey: .dropped) {
            self = .dropped(count)
        } else {
            self = .ended(try container.decode(String.self, forKey: .ended))
        }
    }

    /// Encodes an object of one member.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        switch self {
        case .following(let target): try container.encode(target, forKey: .following)
        case .event(let event): try container.encode(event, forKey: .event)
        case .dropped(let count): try container.encode(count, forKey: .dropped)
        case .ended(let reason): try container.encode(reason, forKey: .ended)
        }
    }
}
