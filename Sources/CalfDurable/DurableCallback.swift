import CalfControl
import CalfRuntime
import FoundationEssentials

/// A callback URL a durable handler minted (`context.callback(expiresIn:)`):
/// hand `url` to another service (in an effect's request), and whatever
/// that service POSTs to it arrives in the process's mailbox once, as the
/// journaled message `CallbackMessage.callbackArrived(_:)`.
///
/// The URL is `{publicBase}/v1/callbacks/{token}`; the token is an HMAC of
/// the process's pid and the handling that minted it under the data
/// directory's secret: unguessable, the same when the handler is replayed,
/// and stored by the node only as its hash.
public struct DurableCallback: Codable, Sendable, Hashable {
    /// Its id within its process.
    public var id: UInt64
    /// Where the other service POSTs.
    public var url: String
    /// After this a POST is answered 410 Gone.
    public var expiresAt: WallTime

    /// A callback.
    public init(id: UInt64, url: String, expiresAt: WallTime) {
        self.id = id
        self.url = url
        self.expiresAt = expiresAt
    }
}

/// A message type that can carry a callback's delivery: the process that
/// mints callbacks gets each one's body as this message.
///
/// ```swift
/// enum Message: Codable, Sendable, CallbackMessage {
///     case start
///     case callbackArrived(CallbackArrival)
/// }
/// ```
public protocol CallbackMessage {
    /// The message that carries `arrival`.
    static func callbackArrived(_ arrival: CallbackArrival) -> Self
}

/// What a callback's POST delivered (journaled as the process's message).
public struct CallbackArrival: Codable, Sendable, Hashable {
    /// The callback's id (`DurableCallback.id`).
    public var callback: UInt64
    /// The body's bytes (journaled as text when they are UTF-8, else as base64).
    public var body: [UInt8]
    /// Its `Content-Type`, if it named one.
    public var contentType: String?
    /// When the node took it.
    public var receivedAt: WallTime

    /// An arrival.
    public init(callback: UInt64, body: [UInt8], contentType: String?, receivedAt: WallTime) {
        self.callback = callback
        self.body = body
        self.contentType = contentType
        self.receivedAt = receivedAt
    }

    /// The body as UTF-8 text, if it is.
    public var text: String? { String(validating: body, as: UTF8.self) }

    /// The body decoded from JSON.
    public func json<T: Decodable>(as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(body))
    }

    private enum CodingKeys: String, CodingKey { case callback, body, bodyBase64, contentType, receivedAt }

    /// Reads the journaled form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        callback = try container.decode(UInt64.self, forKey: .callback)
        contentType = try container.decodeIfPresent(String.self, forKey: .contentType)
        receivedAt = WallTime(nanosecondsSinceEpoch: try container.decode(UInt64.self, forKey: .receivedAt))
        if let text = try container.decodeIfPresent(String.self, forKey: .body) {
            body = Array(text.utf8)
        } else if let encoded = try container.decodeIfPresent(String.self, forKey: .bodyBase64) {
            guard let data = Data(base64Encoded: encoded) else {
                throw DecodingError.dataCorruptedError(forKey: .bodyBase64, in: container, debugDescription: "not base64")
            }
            body = Array(data)
        } else {
            body = []
        }
    }

    /// Writes the body as text when it is UTF-8, else as base64.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(callback, forKey: .callback)
        if let text {
            try container.encode(text, forKey: .body)
        } else {
            try container.encode(Data(body).base64EncodedString(), forKey: .bodyBase64)
        }
        try container.encodeIfPresent(contentType, forKey: .contentType)
        try container.encode(receivedAt.nanosecondsSinceEpoch, forKey: .receivedAt)
    }
}

/// How the node answered a POST to a callback URL.
public enum CallbackAnswer: Sendable, Equatable, CustomStringConvertible {
    /// Journaled at this seq as the process's message (HTTP 200).
    case delivered(seq: UInt64)
    /// Delivered before with the same body: nothing more happened (HTTP 200).
    case duplicate
    /// Delivered before with another body: refused (HTTP 409).
    case conflict
    /// It expired, was cancelled, or its process has exited (HTTP 410).
    case gone(String)
    /// No callback has this token (HTTP 404).
    case unknown
    /// The node cannot take it now; nothing was written (HTTP 503: send it again).
    case refused(String)

    /// For people.
    public var description: String {
        switch self {
        case .delivered(let seq): "delivered at seq \(seq)"
        case .duplicate: "delivered before with the same body"
        case .conflict: "delivered before with a different body"
        case .gone(let why): "gone: \(why)"
        case .unknown: "no such callback"
        case .refused(let why): "not taken: \(why)"
        }
    }
}
