import Calf
import HTTPTypes
import Hummingbird
import NIOCore

/// `POST /v1/callbacks/{token}`: the callback connector's side of the API.
/// No bearer token (the URL's token is the credential); the body (any
/// content type, at most `HTTPAPI.bodyLimit`) goes to the process that
/// minted the callback, exactly once, answered only after it committed.
enum CallbackRoute {
    /// The path prefix of callback URLs.
    static let prefix = "/v1/callbacks/"

    static func add(to router: Router<BasicRequestContext>, node: Node) {
        router.post("/v1/callbacks/:token") { request, context -> Response in
            let token = try context.parameters.require("token")
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: HTTPAPI.bodyLimit)
            } catch is NIOTooManyBytesError {
                return HTTPReply.error(.contentTooLarge, code: "too_large", "the body is over \(HTTPAPI.bodyLimit) bytes")
            } catch {
                return HTTPReply.error(.badRequest, code: "bad_request", "the body did not arrive whole: \(error)")
            }
            let answer = await node.deliverCallback(token: token, body: Array(body.readableBytesView), contentType: request.headers[.contentType])
            return response(for: answer)
        }
    }

    static func response(for answer: CallbackAnswer) -> Response {
        switch answer {
        case .delivered(let seq): return HTTPReply.json(.ok, ["delivered": true, "seq": .unsigned(seq)])
        case .duplicate: return HTTPReply.json(.ok, ["delivered": true, "duplicate": true])
        case .conflict: return HTTPReply.error(.conflict, code: "conflict", "this callback was delivered before with a different body")
        case .gone(let why): return HTTPReply.error(.gone, code: "gone", why)
        case .unknown: return HTTPReply.error(.notFound, code: "not_found", "no callback has this URL")
        case .refused(let why):
            var response = HTTPReply.error(.serviceUnavailable, code: "unavailable", "the node cannot take it now (send it again): \(why)")
            response.headers[.retryAfter] = "1"
            return response
        }
    }

    /// `path` with a callback token cut to its first characters (what logs may show).
    static func redacted(_ path: String) -> String {
        guard path.hasPrefix(prefix) else { return path }
        let token = path.dropFirst(prefix.count)
        return prefix + token.prefix(7) + (token.count > 7 ? "…" : "")
    }
}

/// Logs each request (method, path with callback tokens cut short, status,
/// milliseconds) at debug level. Hummingbird's `LogRequestsMiddleware`
/// writes the whole path, which for a callback URL is its secret.
struct RedactingRequestLog<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard context.logger.logLevel <= .debug else { return try await next(request, context) }
        let start = ContinuousClock.now
        let path = CallbackRoute.redacted(request.uri.path)
        do {
            let response = try await next(request, context)
            context.logger.debug("\(request.method) \(path) \(response.status.code) \((ContinuousClock.now - start).milliseconds) ms")
            return response
        } catch {
            context.logger.debug("\(request.method) \(path) failed: \(error)")
            throw error
        }
    }
}

extension Duration {
    fileprivate var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
