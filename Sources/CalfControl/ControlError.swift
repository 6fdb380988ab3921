/// A refusal on the control socket: a code a program can switch on and a
/// message a person can read.
///
/// On the wire: `{"code":"no_process","message":"no process teller"}`.
public struct ControlError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    /// What kind of refusal it is. Codes are stable; messages may change.
    public struct Code: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible {
        /// The code as it travels.
        public let rawValue: String
        /// A code.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code as it travels.
        public var description: String { rawValue }

        /// The request is not one the node understands (a bad frame, an unknown command, a bad argument).
        public static let badRequest = Code(rawValue: "bad_request")
        /// The client speaks another protocol version.
        public static let unsupportedVersion = Code(rawValue: "unsupported_version")
        /// No live process has that name or pid.
        public static let noProcess = Code(rawValue: "no_process")
        /// The process (or the node) is not durable, and the request needs it to be.
        public static let notDurable = Code(rawValue: "not_durable")
        /// The process is quarantined: its journal could not be read.
        public static let quarantined = Code(rawValue: "quarantined")
        /// The message is not one the process's behavior takes (the message names what is wrong).
        public static let badMessage = Code(rawValue: "bad_message")
        /// The journal did not take the message: nothing was written (a failed commit, a stopping node).
        public static let notAccepted = Code(rawValue: "not_accepted")
        /// The process stays where it is (`move`): pinned, a kind that does
        /// not move, busy with something that keeps it there, or there already.
        public static let notMoved = Code(rawValue: "not_moved")
        /// No reply came in time.
        public static let timeout = Code(rawValue: "timeout")
        /// The process exited before it replied.
        public static let exited = Code(rawValue: "exited")
        /// The journal no longer holds the history asked for.
        public static let historyGone = Code(rawValue: "history_gone")
        /// No dead letter has that id.
        public static let noDeadLetter = Code(rawValue: "no_dead_letter")
        /// Another shell traces that process already.
        public static let alreadyTraced = Code(rawValue: "already_traced")
        /// The store failed while answering.
        public static let storeFailed = Code(rawValue: "store_failed")
        /// The node could not encode its answer.
        public static let encodingFailed = Code(rawValue: "encoding_failed")
        /// The client may not talk to this node (another user's).
        public static let forbidden = Code(rawValue: "forbidden")
        /// The shell left before the answer was ready.
        public static let cancelled = Code(rawValue: "cancelled")
        /// Too much waits already (the process's mail from outside, or the
        /// journal's queue): nothing was written; try again after
        /// `retryAfterMilliseconds` (HTTP: 429 with `Retry-After`).
        public static let overloaded = Code(rawValue: "overloaded")
    }

    /// What kind of refusal it is.
    public var code: Code
    /// What went wrong, for a person.
    public var message: String
    /// When to try again, for a refusal that passes (`overloaded`); nil for the others.
    public var retryAfterMilliseconds: Int64?

    /// A refusal.
    public init(_ code: Code, _ message: String, retryAfterMilliseconds: Int64? = nil) {
        self.code = code
        self.message = message
        self.retryAfterMilliseconds = retryAfterMilliseconds
    }

    /// The message.
    public var description: String { message }
}
