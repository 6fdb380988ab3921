import Calf

/// Why an attempt of an `HTTPCall` failed, as its retry policy sees it
/// (`EffectFailure.kind` is the reason's `kind`).
public struct HTTPCallError: EffectError, CustomStringConvertible {
    /// What went wrong.
    public enum Reason: Sendable, Hashable {
        /// The connection could not be made or broke ("transport": retried).
        case transport
        /// The attempt ran past its timeout ("timeout": retried).
        case timeout
        /// A response whose status asks for another attempt: 408, 429, 5xx ("status": retried).
        case status(Int)
        /// The response's body is larger than the connector takes ("response too large": terminal).
        case responseTooLarge
        /// The URL's host is not in the connector's allow-list ("not allowed": terminal).
        case notAllowed
        /// The request cannot be sent: a bad URL or method ("invalid request": terminal).
        case invalidRequest
        /// The host's circuit stayed open until the effect's deadline ("circuit open").
        case circuitOpen
        /// The node has no connector ("no connector": terminal).
        case noConnector

        /// The failure's kind, as retry conditions match it.
        public var kind: String {
            switch self {
            case .transport: return "transport"
            case .timeout: return "timeout"
            case .status: return "status"
            case .responseTooLarge: return "response too large"
            case .notAllowed: return "not allowed"
            case .invalidRequest: return "invalid request"
            case .circuitOpen: return "circuit open"
            case .noConnector: return "no connector"
            }
        }
    }

    /// What went wrong.
    public var reason: Reason
    /// For people.
    public var message: String
    /// A `Retry-After` the response carried.
    public var retryAfter: Duration?

    /// An error.
    public init(_ reason: Reason, _ message: String, retryAfter: Duration? = nil) {
        self.reason = reason
        self.message = message
        self.retryAfter = retryAfter
    }

    /// The reason's kind.
    public var kind: String { reason.kind }

    /// The status of a `.status` failure.
    public var status: Int? {
        if case .status(let code) = reason { return code }
        return nil
    }

    /// Whether no retry can help.
    public var terminal: Bool {
        switch reason {
        case .responseTooLarge, .notAllowed, .invalidRequest, .noConnector: return true
        case .transport, .timeout, .status, .circuitOpen: return false
        }
    }

    /// The message.
    public var description: String { message }
}
