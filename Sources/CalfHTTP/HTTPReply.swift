import CalfControl
import HTTPTypes
import Hummingbird
import NIOCore

/// How the API's answers are written: JSON bodies, errors as
/// `{"error": {"code": "…", "message": "…"}}` with the status their code stands for.
enum HTTPReply {
    /// The header a sender names its message with, so that a resend is taken once.
    // invariant: the name is a valid token.
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!

    /// A request refused before it reached the node (thrown by a route:
    /// Hummingbird answers with the response it makes).
    struct Refusal: Error, HTTPResponseError {
        let status: HTTPResponse.Status
        let code: String
        let message: String

        func response(from request: Request, context: some RequestContext) throws -> Response {
            HTTPReply.error(status, code: code, message)
        }
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        raw(status, value.bytes)
    }

    static func raw(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func error(_ status: HTTPResponse.Status, code: String, _ message: String) -> Response {
        json(status, ["error": ["code": .string(code), "message": .string(message)]])
    }

    /// The body of `request` as one JSON value.
    /// - Throws: a `Refusal`: 413 past `HTTPAPI.bodyLimit`, 400 for a body cut
    ///   short or naming what is wrong where.
    static func body(of request: Request) async throws(Refusal) -> JSONValue {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: HTTPAPI.bodyLimit)
        } catch is NIOTooManyBytesError {
            throw Refusal(status: .contentTooLarge, code: "too_large", message: "the body is over \(HTTPAPI.bodyLimit) bytes")
        } catch {
            throw Refusal(status: .badRequest, code: "bad_request", message: "the body did not arrive whole: \(error)")
        }
        do {
            return try JSONValue(parsing: Array(buffer.readableBytesView))
        } catch {
            throw Refusal(status: .badRequest, code: "bad_json", message: "the body is not JSON: \(error)")
        }
    }

    /// The control protocol's reply as an HTTP response: its result as the body, or its error.
    static func answer(_ reply: EncodedReply, success: HTTPResponse.Status = .ok) -> Response {
        switch envelope(reply) {
        case .result(let result): return raw(success, result.bytes)
        case .refused(let response): return response
        }
    }

    /// The reply to a message sent: `202 {"seq": N}` once committed, or
    /// `200 {"duplicate": true, "seq": N}` for a key already taken; `202 {}`
    /// once in a transient process's mailbox.
    static func sent(_ reply: EncodedReply) -> Response {
        switch envelope(reply) {
        case .result(let result):
            // A transient process's mailbox took it: no seq.
            guard let seq = result["seq"] else { return json(.accepted, [:]) }
            if case .bool(true)? = result["duplicate"] { return json(.ok, ["duplicate": true, "seq": seq]) }
            return json(.accepted, ["seq": seq])
        case .refused(let response): return response
        }
    }

    /// A reply's result, or the response its error makes.
    private enum Envelope {
        case result(JSONValue)
        case refused(Response)
    }

    private static func envelope(_ reply: EncodedReply) -> Envelope {
        // invariant: a frame is a 4-byte length, then the reply's JSON (ControlProtocol.frame).
        guard reply.frame.count > 4, let value = try? JSONValue(parsing: Array(reply.frame.dropFirst(4))), case .bool(let ok)? = value["ok"] else {
            return .refused(error(.internalServerError, code: "encoding_failed", "the node's answer could not be read"))
        }
        if ok { return .result(value["result"] ?? .null) }
        let failure = value["error"] ?? .null
        let code = failure["code"]?.stringValue ?? "unknown"
        var response = json(status(for: code), ["error": failure])
        if code == ControlError.Code.notAccepted.rawValue || code == ControlError.Code.storeFailed.rawValue {
            response.headers[.retryAfter] = "1"
        } else if code == ControlError.Code.overloaded.rawValue {
            // Whole seconds, rounded up (RFC 9110's delay-seconds).
            let milliseconds = failure["retryAfterMilliseconds"]?.integerValue ?? 1000
            response.headers[.retryAfter] = String(max(1, (milliseconds + 999) / 1000))
        }
        return .refused(response)
    }

    /// The status a control error's code stands for.
    static func status(for code: String) -> HTTPResponse.Status {
        switch ControlError.Code(rawValue: code) {
        case .noProcess, .noDeadLetter: .notFound
        case .badRequest, .badMessage, .notDurable, .unsupportedVersion: .badRequest
        case .quarantined, .exited, .notMoved, .alreadyTraced: .conflict
        case .historyGone: .gone
        case .timeout: .gatewayTimeout
        case .notAccepted, .storeFailed, .cancelled: .serviceUnavailable
        case .forbidden: .forbidden
        case .overloaded: .tooManyRequests
        default: .internalServerError
        }
    }
}
