import FoundationEssentials

/// The control protocol spoken on a node's Unix socket `DIR/node.sock`.
///
/// Each request and each reply is one frame: a 4-byte big-endian length,
/// then that many bytes of UTF-8 JSON. A request is
/// `{"v":1,"cmd":"send","target":"teller","json":"{…}","key":"k-1"}`;
/// a reply is `{"v":1,"ok":true,"result":"…"}` or
/// `{"v":1,"ok":false,"error":"…"}`. A frame over `maximumFrame` bytes, or
/// one that does not parse, gets an error reply and closes the connection.
/// A `trace` request is answered by a stream: one reply per event with
/// `"more":true`, then a last one without; the client ends it early by
/// closing its side (shutdown for writing) or the connection.
public enum ControlProtocol {
    /// The protocol version this build speaks.
    public static let version = 1
    /// The largest request frame a node accepts, in bytes.
    public static let maximumFrame = 1 << 20
    /// The largest reply frame a client accepts (a `ps` of a big node is large), in bytes.
    public static let maximumReply = 1 << 30

    /// A request to the node.
    public struct Request: Codable, Sendable, Equatable {
        /// Protocol version.
        public var v: Int
        /// `send`, `call`, `state`, `ps`, `info`, `tree`, `mailbox`, `kill`, `restart`,
        /// `suspend`, `resume`, `dead`, `dead-retry`, `journal`, `stats`, `names` or `trace`.
        public var cmd: String
        /// A registered name or a pid (empty for `ps` and `tree`).
        public var target: String
        /// The message, as JSON text (send, call).
        public var json: String?
        /// The idempotency key (send).
        public var key: String?
        /// The call timeout in milliseconds (call).
        public var timeoutMilliseconds: Int?
        /// The order of `ps`: `mailbox`, `msgs`, `memory` or `restarts` (largest first); nil: by pid.
        /// The order of `top`: `rate` (nil), `mailbox`, `memory` or `restarts`.
        public var sort: String?
        /// The exit reason of `kill` (nil: killed).
        public var reason: String?
        /// `journal`: the first seq to show.
        public var from: UInt64?
        /// `journal`: how many records at most; `trace`: how many events; `top`: how many rows (50 if nil).
        public var limit: Int?
        /// `state`: the log position to show the state at (nil: now).
        public var at: UInt64?

        /// A request of the current version.
        public init(cmd: String, target: String = "", json: String? = nil, key: String? = nil, timeoutMilliseconds: Int? = nil, sort: String? = nil, reason: String? = nil, from: UInt64? = nil, limit: Int? = nil, at: UInt64? = nil) {
            v = ControlProtocol.version
            self.cmd = cmd
            self.target = target
            self.json = json
            self.key = key
            self.timeoutMilliseconds = timeoutMilliseconds
            self.sort = sort
            self.reason = reason
            self.from = from
            self.limit = limit
            self.at = at
        }
    }

    /// A reply from the node.
    public struct Reply: Codable, Sendable, Equatable {
        /// Protocol version.
        public var v: Int
        /// Whether the request succeeded.
        public var ok: Bool
        /// What to print on success.
        public var result: String?
        /// What went wrong.
        public var error: String?
        /// More replies to this request follow (a `trace` streams one per event).
        public var more: Bool?

        /// A success carrying `result`.
        public static func success(_ result: String) -> Reply { Reply(v: ControlProtocol.version, ok: true, result: result, error: nil) }
        /// One of several replies to a streaming request (`trace`), more to follow.
        public static func streamed(_ result: String) -> Reply { Reply(v: ControlProtocol.version, ok: true, result: result, error: nil, more: true) }
        /// A failure carrying `error`.
        public static func failure(_ error: String) -> Reply { Reply(v: ControlProtocol.version, ok: false, result: nil, error: error) }
    }

    /// `value` as a frame.
    public static func frame(_ value: some Encodable) throws -> [UInt8] {
        let body = Array(try JSONEncoder().encode(value))
        let length = UInt32(body.count)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + body
    }
}
