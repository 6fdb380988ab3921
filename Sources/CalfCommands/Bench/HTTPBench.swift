import AsyncHTTPClient
import Calf
import CalfBenchmarks
import CalfConnectors
import CalfHTTP
import CalfStore
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// Messages the benchmark's tallies handled outside replay.
private let tallied = Atomic<Int>(0)

/// A durable process that adds what it is sent: the target of the
/// messages posted to the HTTP API (plain `Codable`, as a user's JSON API
/// would have it).
struct Tally: DurableBehavior {
    enum Message: Codable, Sendable { case add(n: Int) }
    struct State: Codable { var total = 0 }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .add(let n):
            state.total += n
            if !context.isReplaying { tallied.wrappingAdd(1, ordering: .relaxed) }
        }
    }
}

/// Completions the benchmark's callers handled outside replay.
private let called = Atomic<Int>(0)

/// A durable process that GETs `url` through the request connector, and
/// again as each response comes back, `left` times.
struct Caller: DurableBehavior {
    static var effects: [any DurableEffect.Type] { [HTTPCall.self] }

    enum Message: Codable, Sendable, EffectCompletionMessage {
        case start(url: String, count: Int)
        case effectCompleted(EffectCompletion)
    }

    struct State: Codable {
        var url = ""
        var left = 0
    }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .start(let url, let count):
            (state.url, state.left) = (url, count)
        case .effectCompleted(let completion):
            guard completion.succeeded else { throw DurableError.notAccepted("a GET failed: \(completion.failure.map(String.init(describing:)) ?? "?")") }
            if !context.isReplaying { called.wrappingAdd(1, ordering: .relaxed) }
            state.left -= 1
        }
        if state.left > 0 { try context.perform(HTTPCall.get(state.url)) }
    }
}

/// `calf bench http`: the HTTP API against a plain Hummingbird route in the
/// same run, and the request connector against plain AsyncHTTPClient.
///
/// 1. Durable messages through `POST /v1/processes/{name}/messages` (each
///    with its own `Idempotency-Key`, answered 202 after its commit), from
///    `wrk` with 64 keep-alive connections spread over 64 processes, beside
///    a Hummingbird route that reads the body and answers 202 without
///    journaling, in interleaved rounds: requests/s, p50 and p99 of each
///    and their ratio; then every 202 checked against what was handled.
/// 2. GETs of a local route through the request connector (an `HTTPCall`
///    effect: journaled asked-for, sent after the commit, its response
///    journaled and handled) from 64 durable processes, against the same
///    number of GETs from 64 tasks on an AsyncHTTPClient of the same pool.
///
/// `wrk` (Debian's package) is the load generator: a separate process in C
/// that costs the node little, where a load generator on the node's own
/// event loops would measure itself as much as the node.
enum HTTPBench {
    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    /// What wrk measured in one run.
    struct Load {
        var requestsPerSecond: Double
        var requests: Int
        var failures: Int
        var p50Milliseconds: Double
        var p99Milliseconds: Double
    }

    static let connections = 64

    static func run(seconds: Int, rounds: Int, calls: Int, durability: StoreEnvironment.Durability, report: Report) async throws {
        guard let wrk = findProgram("wrk") else {
            throw Missing(description: "calf bench http needs wrk on the PATH (Debian: apt-get install wrk)")
        }
        let dir = try DurableBench.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = DurableOptions(path: dir, durability: durability, behaviors: [Tally.self, Caller.self], checkpointInterval: .seconds(5), mapSize: 1 << 32)
        let connector = HTTPConnector(configuration: HTTPConnector.Configuration(allowedHosts: HostAllowList(["127.0.0.1"])))
        options.services[HTTPConnector.self] = connector
        options.effects.append(HTTPCall.self)
        options.checkpointAtShutdown = false
        let node = try Node(durable: options)
        for k in 0..<connections { _ = try await node.spawnDurable(Tally(), name: "tally-\(k)") }

        var logger = Logger(label: "calf.bench")
        logger.logLevel = .error
        let token = BearerToken(value: String(repeating: "ab", count: 32))
        let ports = PortBox()
        let api = HTTPAPI.service(node: node, host: "127.0.0.1", port: 0, token: token, metrics: HTTPAPI.makeMetrics().registry,
                                  logger: logger, onListening: { ports.set("api", $0) })
        let plain = plainServer(logger: logger) { ports.set("plain", $0) }
        let group = ServiceGroup(services: [api, plain], logger: logger)
        let running = Task { try await group.run() }
        defer { running.cancel() }
        let apiPort = try await ports.wait("api")
        let plainPort = try await ports.wait("plain")

        // 1. Messages: interleaved rounds, plain route first in each.
        var plainRuns: [Load] = []
        var calfRuns: [Load] = []
        var answered = 0
        let before = tallied.load(ordering: .relaxed)
        for round in 0..<rounds {
            plainRuns.append(try await load(wrk, port: plainPort, seconds: seconds, token: token.value, round: round))
            let run = try await load(wrk, port: apiPort, seconds: seconds, token: token.value, round: round)
            calfRuns.append(run)
            answered += run.requests - run.failures
        }
        // Requests wrk cut at its end may have been accepted unseen: at least as many handled as answered.
        let deadline = ContinuousClock.now + .seconds(10)
        while tallied.load(ordering: .relaxed) - before < answered, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let handled = tallied.load(ordering: .relaxed) - before
        let plainMedian = median(plainRuns)
        let calfMedian = median(calfRuns)
        report.figure("http_plain_202", plainMedian.requestsPerSecond, "requests/s",
                      note: "Hummingbird route reading the body, \(connections) keep-alive connections, median of \(rounds) runs of \(seconds) s")
        report.figure("http_plain_202_p50", plainMedian.p50Milliseconds, "ms")
        report.figure("http_plain_202_p99", plainMedian.p99Milliseconds, "ms")
        report.figure("http_durable_messages_\(durability.rawValue)", calfMedian.requestsPerSecond, "requests/s",
                      note: "POST /v1/processes/tally-N/messages with an Idempotency-Key, 202 after the commit; \(calfRuns.map(\.failures).reduce(0, +)) not 2xx")
        report.figure("http_durable_messages_\(durability.rawValue)_p50", calfMedian.p50Milliseconds, "ms")
        report.figure("http_durable_messages_\(durability.rawValue)_p99", calfMedian.p99Milliseconds, "ms")
        report.figure("http_durable_vs_plain", calfMedian.requestsPerSecond / max(1, plainMedian.requestsPerSecond), "ratio", note: "target ≥ 0.5")
        report.figure("http_answered_202_handled", Double(handled) / Double(max(1, answered)), "ratio",
                      note: "\(handled) messages handled for \(answered) answered 202 (≥ 1: wrk does not count answers it cut at its end)")

        // 2. The request connector against plain AsyncHTTPClient, same route, same pool.
        let url = "http://127.0.0.1:\(plainPort)/ok"
        let raw = try await rawGets(url, total: calls)
        let connected = try await connectorGets(node, url: url, total: calls)
        report.figure("http_get_async_http_client", raw, "requests/s", note: "\(calls) GETs from \(connections) tasks, one client")
        report.figure("http_get_request_connector", connected, "requests/s", note: "\(calls) HTTPCall effects from \(connections) durable processes, each journaled asked-for and answered")
        report.figure("http_request_connector_overhead", (1 / connected - 1 / raw) * 1e6, "µs/request", note: "wall time per request at saturation, beyond the client's own")

        await group.triggerGracefulShutdown()
        _ = try? await running.value
        try await node.shutdown()
        try await connector.shutdown()
    }

    /// A route that answers 202 to a POST once it read the body, and 200 to `GET /ok`.
    static func plainServer(logger: Logger, onListening: @escaping @Sendable (Int) -> Void) -> some Service {
        let router = Router()
        router.post("/v1/processes/:name/messages") { request, _ -> Response in
            _ = try await request.body.collect(upTo: HTTPAPI.bodyLimit)
            return Response(status: .accepted, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: "{}")))
        }
        router.get("/ok") { _, _ in "ok" }
        return Application(router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
                           onServerRunning: { onListening($0.localAddress?.port ?? 0) }, logger: logger)
    }

    /// Runs wrk for `seconds` against the messages route on `port`: one
    /// thread, 64 connections, a distinct key on every request.
    static func load(_ wrk: String, port: Int, seconds: Int, token: String, round: Int) async throws -> Load {
        let script = NSTemporaryDirectory() + "calf-bench-http-\(getpid()).lua"
        try """
        local n = 0
        request = function()
          n = n + 1
          return wrk.format("POST", "/v1/processes/tally-" .. (n % \(connections)) .. "/messages",
            {["Authorization"] = "Bearer \(token)", ["Content-Type"] = "application/json", ["Idempotency-Key"] = "r\(round)-" .. n},
            '{"add":{"n":1}}')
        end
        """.write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        let output = try await capture(wrk, ["-t1", "-c\(connections)", "-d\(seconds)s", "--latency", "-s", script, "http://127.0.0.1:\(port)"])
        return try parse(output)
    }

    /// wrk's figures from its report.
    static func parse(_ text: String) throws -> Load {
        func number(after label: String) -> Double? {
            guard let line = text.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(label) }) else { return nil }
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(label.split(separator: " ").count).first.flatMap(milliseconds)
        }
        guard let rate = number(after: "Requests/sec:"), let p50 = number(after: "50%"), let p99 = number(after: "99%"),
              let requests = text.firstMatch(of: /(\d+) requests in/).flatMap({ Int($0.1) }) else {
            throw Missing(description: "wrk's report lacks its figures:\n\(text)")
        }
        let failures = text.firstMatch(of: /Non-2xx or 3xx responses: (\d+)/).flatMap { Int($0.1) } ?? 0
        let errors = text.firstMatch(of: /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/)
            .map { [$0.1, $0.2, $0.3, $0.4].compactMap { Int($0) }.reduce(0, +) } ?? 0
        return Load(requestsPerSecond: rate, requests: requests, failures: failures + errors, p50Milliseconds: p50, p99Milliseconds: p99)
    }

    /// "1.23ms", "850.00us", "1.02s" or a plain number, in milliseconds (plain numbers as they are).
    static func milliseconds(_ text: Substring) -> Double? {
        for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count)).map { $0 * scale }
        }
        return Double(text)
    }

    static func median(_ runs: [Load]) -> Load {
        runs.sorted { $0.requestsPerSecond < $1.requestsPerSecond }[runs.count / 2]
    }

    /// `total` GETs of `url` from 64 tasks on one AsyncHTTPClient; GETs/s.
    static func rawGets(_ url: String, total: Int) async throws -> Double {
        var pool = HTTPClient.Configuration.ConnectionPool()
        pool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, connectionPool: pool))
        let start = now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<connections {
                group.addTask {
                    for _ in stride(from: task, to: total, by: connections) {
                        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 20)
                    }
                }
            }
            try await group.waitForAll()
        }
        let rate = Double(total) / (now() - start)
        try await client.shutdown()
        return rate
    }

    /// `total` GETs of `url` as HTTPCall effects of 64 durable callers; GETs/s.
    static func connectorGets(_ node: Node, url: String, total: Int) async throws -> Double {
        var callers: [Address<Caller.Message>] = []
        for k in 0..<connections { callers.append(try await node.spawnDurable(Caller(), name: "caller-\(k)")) }
        let before = called.load(ordering: .relaxed)
        let start = now()
        for (k, caller) in callers.enumerated() {
            node.send(.start(url: url, count: (total - k + connections - 1) / connections), to: caller)
        }
        let deadline = ContinuousClock.now + .seconds(300)
        while called.load(ordering: .relaxed) - before < total {
            guard ContinuousClock.now < deadline else { throw Missing(description: "the request connector's GETs did not finish in 300 s") }
            try await Task.sleep(for: .milliseconds(1))
        }
        return Double(total) / (now() - start)
    }

    /// The path of `name` on the PATH, if it is there.
    static func findProgram(_ name: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `program` to its end (on a thread of its own); its standard output.
    static func capture(_ program: String, _ arguments: [String]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: program)
                process.arguments = arguments
                let pipe = Pipe()
                process.standardOutput = pipe
                do {
                    try process.run()
                    let data = pipe.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    continuation.resume(returning: String(decoding: data, as: UTF8.self))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}

/// Ports the servers bound, by name, once they listen.
///
/// Thread-safe: its one field is a `Mutex`.
final class PortBox: Sendable {
    private let ports = Mutex<[String: Int]>([:])

    func set(_ name: String, _ port: Int) { ports.withLock { $0[name] = port } }

    /// Waits (10 s at most) for `name`'s port.
    func wait(_ name: String) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let port = ports.withLock({ $0[name] }) { return port }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw HTTPBench.Missing(description: "the \(name) server did not listen within 10 s")
    }
}
