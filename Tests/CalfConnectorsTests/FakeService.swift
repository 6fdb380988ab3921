import Calf
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// A remote service on loopback for the connector's tests: each route
/// answers as its path says, and every request it saw is kept (path,
/// Idempotency-Key, when).
final class FakeService: Sendable {
    struct Seen: Sendable {
        var path: String
        var key: String?
        var body: String
        var at: ContinuousClock.Instant
    }

    private let seen = Mutex<[Seen]>([])
    private let group = Mutex<ServiceGroup?>(nil)
    private let running = Mutex<Task<Void, any Error>?>(nil)
    let port = Mutex<Int>(0)

    /// The requests to `path` it saw.
    func requests(to path: String) -> [Seen] { seen.withLock { $0.filter { $0.path == path } } }

    /// "http://127.0.0.1:PORT".
    var base: String { "http://127.0.0.1:\(port.withLock { $0 })" }

    /// Starts it; returns once it listens.
    func start() async throws {
        let router = Router()
        router.add(middleware: Recorder(service: self))
        // Fails with 503 (Retry-After: 0) its first two requests per id, then 201 with JSON.
        router.post("/flaky/:id") { [self] request, context -> Response in
            let id = try context.parameters.require("id")
            if requests(to: request.uri.path).count <= 2 {
                return Response(status: .serviceUnavailable, headers: [.retryAfter: "0"], body: ResponseBody(byteBuffer: ByteBuffer(string: "busy")))
            }
            return Response(status: .created, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"job_id\":\"\(id)\"}")))
        }
        router.get("/missing") { _, _ in Response(status: .notFound, body: ResponseBody(byteBuffer: ByteBuffer(string: "no such thing"))) }
        router.get("/down") { _, _ in Response(status: .badGateway) }
        router.get("/big") { _, _ in ByteBuffer(repeating: UInt8(ascii: "x"), count: 2 << 20) }
        router.get("/slow") { _, _ -> String in
            try await Task.sleep(for: .seconds(2))
            return "late"
        }
        let listening = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in listening.continuation.yield(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "fake") { _ in SwiftLogNoOpLogHandler() })
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [app], logger: Logger(label: "fake") { _ in SwiftLogNoOpLogHandler() }))
        self.group.withLock { $0 = group }
        running.withLock { $0 = Task { try await group.run() } }
        for await port in listening.stream {
            self.port.withLock { $0 = port }
            break
        }
    }

    /// Stops it.
    func stop() async {
        await group.withLock { $0 }?.triggerGracefulShutdown()
        _ = try? await running.withLock { $0 }?.value
    }

    fileprivate func record(_ request: Request, body: String) {
        seen.withLock { $0.append(Seen(path: request.uri.path, key: request.headers[HTTPField.Name("Idempotency-Key")!], body: body, at: .now)) }
    }

    private struct Recorder<Context: RequestContext>: RouterMiddleware {
        let service: FakeService
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            service.record(request, body: String(buffer: body))
            return try await next(request, context)
        }
    }
}
