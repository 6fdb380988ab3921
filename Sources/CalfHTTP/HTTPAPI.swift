import Calf
import CalfControl
import CalfFlows
import CalfOperator
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// A node's HTTP API (`calf node --http HOST:PORT`): the requests of
/// `calf shell` as JSON over HTTP/1.1, each answered exactly as the
/// control socket answers it (`ControlAnswers`), with the same message and
/// state JSON. Every route but `/healthz` wants the node's bearer token.
/// Built on Hummingbird (SwiftNIO): this module is the only one that
/// imports them, so the runtime does not.
public enum HTTPAPI {
    /// The largest request body taken (a larger one is answered 413).
    public static let bodyLimit = 1 << 20

    /// Connections served at once; the next ones wait in the listen backlog
    /// until one closes (as the control socket's 512).
    public static let connectionLimit = 512

    /// `HOST:PORT` as given to `--http` (`127.0.0.1:0` picks a port).
    public static func address(_ text: String) throws(HTTPAPIError) -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex,
              let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { throw .badAddress(text) }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    /// What `GET /metrics` reports: give `metricsFactory` to the node
    /// (`Node.open(metrics:)`), and `registry` to `service`.
    public static func makeMetrics() -> (registry: PrometheusCollectorRegistry, metricsFactory: PrometheusMetricsFactory) {
        let registry = PrometheusCollectorRegistry()
        return (registry, PrometheusMetricsFactory(registry: registry))
    }

    /// The API of `node` as a service of its group: it listens on
    /// `host:port` once the group runs, calls `onListening` with the port it
    /// bound, and stops taking requests when the group shuts down.
    /// `GET /metrics` gives `registry` in Prometheus's text format;
    /// `/v1/flows` starts and reads the flows of the types in `flows`.
    /// A connection that sends nothing for `idleTimeout` (a client stalled
    /// in the middle of a request, or one that keeps it open and idle) is
    /// closed, so that slow clients cannot hold connections for good.
    public static func service(
        node: Node, host: String, port: Int, token: BearerToken, metrics registry: PrometheusCollectorRegistry,
        flows: FlowCatalog = FlowCatalog(), idleTimeout: Duration = .seconds(30), logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void
    ) -> some Service {
        let idle = idleTimeout.components.seconds &* 1_000_000_000 &+ idleTimeout.components.attoseconds / 1_000_000_000
        let router = Router()
        router.middlewares.add(CountingMiddleware(counters: node.httpCounters))
        router.middlewares.add(RedactingRequestLog())
        router.middlewares.add(BearerTokenMiddleware(token: token))
        HTTPRoutes(node: node).add(to: router)
        FlowRoutes(node: node, catalog: flows).add(to: router)
        CallbackRoute.add(to: router, node: node)
        router.get("/metrics") { _, _ in
            var text: [UInt8] = []
            registry.emit(into: &text)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
        }
        return Application(
            router: router,
            server: .http1(configuration: HTTP1Channel.Configuration(idleTimeout: TimeAmount.nanoseconds(idle))),
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: port), serverName: "calf",
                availableConnectionsDelegate: MaximumAvailableConnections(connectionLimit, logger: logger)),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                node.httpCounters.listening(at: "http://\(host.contains(":") ? "[\(host)]" : host):\(bound)")
                await onListening(bound)
            },
            logger: logger)
    }
}

/// Turns away every request without the token but `GET /healthz` and
/// callbacks (whose URL is their credential), with a 401.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: BearerToken

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path == "/healthz" || path.hasPrefix(CallbackRoute.prefix) || token.admits(request.headers[.authorization]) {
            return try await next(request, context)
        }
        var response = HTTPReply.error(.unauthorized, code: "unauthorized", "this API wants the header Authorization: Bearer TOKEN, with the token of the node's http.token file")
        response.headers[.wwwAuthenticate] = "Bearer"
        return response
    }
}
