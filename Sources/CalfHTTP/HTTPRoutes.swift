import Calf
import CalfControl
import CalfOperator
import HTTPTypes
import Hummingbird

/// The routes of the API, each a request of the control protocol.
struct HTTPRoutes: Sendable {
    let node: Node

    func add(to router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in
            // A node that refuses intake (a failed commit) does so until it restarts.
            if let reason = node.intakeRefusal { return HTTPReply.json(.serviceUnavailable, ["status": "refusing", "reason": .string(reason)]) }
            return HTTPReply.json(.ok, ["status": "serving"])
        }
        router.get("/v1/processes") { request, _ in
            let orderName = request.uri.queryParameters.get("order") ?? "pid"
            guard let order = ProcessOrder(rawValue: orderName) else {
                return HTTPReply.error(.badRequest, code: "bad_request", "order must be one of \(ProcessOrder.allCases.map(\.rawValue).joined(separator: ", ")), not '\(orderName)'")
            }
            // `?active=true`: without the durable processes that left RAM.
            let active = request.uri.queryParameters.get("active") == "true"
            return await answer(.ps(order: order, passivated: !active))
        }
        router.get("/v1/processes/:name") { _, context in
            await answer(.info(try processName(context)))
        }
        router.get("/v1/processes/:name/state") { request, context in
            let name = try processName(context)
            return await answer(.state(of: name, at: try Query(request).unsigned("at")))
        }
        router.get("/v1/processes/:name/journal") { request, context in
            let query = Query(request)
            let limit = try query.unsigned("limit").map { Int(min($0, UInt64(Int.max))) }
            return await answer(.journal(of: try processName(context), from: try query.unsigned("from"), limit: limit))
        }
        router.post("/v1/processes/:name/messages") { request, context in
            let name = try processName(context)
            let message = try await HTTPReply.body(of: request)
            let key = request.headers[HTTPReply.idempotencyKey]
            return HTTPReply.sent(await ControlAnswers.answer(.send(to: name, message: message, key: key), on: node))
        }
        router.post("/v1/processes/:name/calls") { request, context in
            let name = try processName(context)
            let timeout = try Query(request).unsigned("timeoutMs").map { Int(min($0, 3_600_000)) }
            let message = try await HTTPReply.body(of: request)
            return await answer(.call(to: name, message: message, timeoutMilliseconds: timeout))
        }
    }

    private func answer(_ request: ControlRequest) async -> Response {
        HTTPReply.answer(await ControlAnswers.answer(request, on: node))
    }
}

/// The process a route names: `{name}` percent-decoded, so that a name
/// with a `/` (`demo/pool/tally-1`) is sent as `demo%2Fpool%2Ftally-1`.
/// - Throws: a 400 refusal for a malformed escape.
func processName(_ context: BasicRequestContext) throws -> String {
    let raw = try context.parameters.require("name")
    guard let name = percentDecoded(raw) else {
        throw HTTPReply.Refusal(status: .badRequest, code: "bad_request", message: "the process name '\(raw)' has a malformed %-escape")
    }
    return name
}

/// `text` with each `%XX` made the byte it stands for; nil for a `%` not
/// followed by two hexadecimal digits or bytes that are not UTF-8 (written
/// here: Foundation's decoding lets a broken escape through as it is).
func percentDecoded(_ text: String) -> String? {
    func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
    let bytes = Array(text.utf8)
    var decoded: [UInt8] = []
    decoded.reserveCapacity(bytes.count)
    var index = 0
    while index < bytes.count {
        if bytes[index] == UInt8(ascii: "%") {
            guard index + 2 < bytes.count, let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2]) else { return nil }
            decoded.append(high << 4 | low)
            index += 3
        } else {
            decoded.append(bytes[index])
            index += 1
        }
    }
    return String(validating: decoded, as: UTF8.self)
}

/// A request's query, read strictly: a parameter given is well formed or the request is refused.
struct Query {
    let request: Request

    init(_ request: Request) { self.request = request }

    /// The parameter `name` as a whole number, nil if absent.
    /// - Throws: `HTTPError` 400 naming it if it is not one.
    func unsigned(_ name: String) throws -> UInt64? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let value = UInt64(text) else {
            throw HTTPReply.Refusal(status: .badRequest, code: "bad_request", message: "the query parameter \(name) must be a whole number, not '\(text)'")
        }
        return value
    }
}
