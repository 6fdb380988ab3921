import Calf
import FoundationEssentials

/// An HTTP request as a durable effect (the request connector): a handler
/// asks for it with `context.perform(HTTPCall.post(url, json: body))`;
/// it is sent after the turn commits, by the node's `HTTPConnector`, with
/// an `Idempotency-Key` header that is the effect's key (the same on every
/// attempt and after a restart of the node), retried on transport errors,
/// timeouts, 408, 429 and 5xx (honouring `Retry-After`), and its response
/// comes back to the process as a journaled `EffectCompletion` whose value
/// is an `HTTPCallResponse`.
///
/// A response with any other status (2xx, 3xx: redirects are not followed,
/// 4xx) is the result, not retried: the handler reads `status`. A response
/// larger than the connector's `maximumResponseBytes` is a terminal failure
/// of kind "response too large" and never reaches the journal.
public struct HTTPCall: DurableEffect, Hashable {
    /// "GET", "POST", …
    public var method: String
    /// An absolute `http` or `https` URL; its host must be in the connector's allow-list.
    public var url: String
    /// Header fields, in order (an `Idempotency-Key` given here replaces the effect's key).
    public var headers: [HTTPHeader]
    /// The body, as text (JSON for most APIs).
    public var body: String?
    /// How long one attempt may take, connecting and reading the whole
    /// response (nil: the connector's `attemptTimeout`).
    public var attemptTimeout: Duration?
    /// How it is retried (nil: `HTTPCall.defaultPolicy`).
    public var policy: RetryPolicy?

    /// A request.
    public init(method: String, url: String, headers: [HTTPHeader] = [], body: String? = nil, attemptTimeout: Duration? = nil, policy: RetryPolicy? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.attemptTimeout = attemptTimeout
        self.policy = policy
    }

    /// A GET of `url`.
    public static func get(_ url: String, headers: [HTTPHeader] = []) -> HTTPCall {
        HTTPCall(method: "GET", url: url, headers: headers)
    }

    /// A POST of `body` as JSON to `url` (its keys sorted, so that the request is the same in replay).
    public static func post<Body: Encodable>(_ url: String, json body: Body, headers: [HTTPHeader] = []) throws -> HTTPCall {
        // Sorted keys: the same bytes in every process (a replayed handler asks for the same request).
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(body), as: UTF8.self)
        return HTTPCall(method: "POST", url: url, headers: [HTTPHeader("Content-Type", "application/json")] + headers, body: text)
    }

    /// Five attempts within ten minutes, 1 s doubling to 60 s, retrying
    /// what another attempt can mend: transport errors, timeouts, 408, 429
    /// and 5xx. Every other 4xx is final at once.
    public static let defaultPolicy = RetryPolicy(retryOn: [
        .kind(HTTPCallError.Reason.transport.kind), .kind("timeout"),
        .status(408...408), .status(429...429), .status(500...599),
    ])

    /// "http".
    public static var effectName: String { "http" }

    /// `policy`, or the default.
    public var retryPolicy: RetryPolicy { policy ?? Self.defaultPolicy }

    /// One attempt, through the node's connector.
    public func run(_ attempt: EffectAttempt) async throws -> HTTPCallResponse {
        guard let connector = attempt.services[HTTPConnector.self] else {
            throw HTTPCallError(.noConnector, "this node has no HTTP connector (DurableOptions.services[HTTPConnector.self])")
        }
        return try await connector.send(self, key: attempt.key, deadline: attempt.deadline)
    }
}

/// One header field.
public struct HTTPHeader: Codable, Sendable, Hashable {
    /// Its name.
    public var name: String
    /// Its value.
    public var value: String

    /// A field.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// What an `HTTPCall` received: the status, header fields and body of
/// the final response (journaled as the effect's output).
public struct HTTPCallResponse: Codable, Sendable, Hashable {
    /// The status code.
    public var status: Int
    /// Its header fields, in order.
    public var headers: [HTTPHeader]
    /// Its body's bytes (journaled as text when they are UTF-8, else as base64).
    public var body: [UInt8]

    /// A response.
    public init(status: Int, headers: [HTTPHeader] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A 2xx.
    public var succeeded: Bool { (200...299).contains(status) }

    /// The value of the first field named `name` (any case).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body as UTF-8 text, if it is.
    public var text: String? { String(validating: body, as: UTF8.self) }

    /// The body decoded from JSON.
    public func json<T: Decodable>(as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(body))
    }

    private enum CodingKeys: String, CodingKey { case status, headers, body, bodyBase64 }

    /// Reads the journaled form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decode(Int.self, forKey: .status)
        headers = try container.decodeIfPresent([HTTPHeader].self, forKey: .headers) ?? []
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
        try container.encode(status, forKey: .status)
        try container.encode(headers, forKey: .headers)
        if let text {
            try container.encode(text, forKey: .body)
        } else {
            try container.encode(Data(body).base64EncodedString(), forKey: .bodyBase64)
        }
    }
}
