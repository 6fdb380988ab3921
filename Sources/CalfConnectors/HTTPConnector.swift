import AsyncHTTPClient
import Calf
import FoundationEssentials
import NIOCore
import NIOHTTP1

/// The request connector: the node's HTTP client, through which every
/// `HTTPCall` effect is sent. Give it to the node as a service
/// (`DurableOptions.services[HTTPConnector.self] = connector`), and shut it
/// down after the node has stopped (`shutdown()`).
///
/// It owns one AsyncHTTPClient (a connection pool on its own event loops,
/// off Calf's schedulers) that follows no redirects, checks each URL
/// against its host allow-list, reads at most `maximumResponseBytes` of a
/// response, bounds each attempt by a timeout, and keeps a circuit
/// breaker per destination. Retries, backoff and idempotency are the
/// effect's (AsyncHTTPClient retries only connection establishment).
public final class HTTPConnector: Sendable {
    /// How a connector works.
    public struct Configuration: Sendable {
        /// The hosts requests may go to (empty: none).
        public var allowedHosts: HostAllowList
        /// The largest response body taken; larger is a terminal failure.
        public var maximumResponseBytes: Int
        /// How long one attempt may take when its request says nothing.
        public var attemptTimeout: Duration
        /// How long making a connection may take.
        public var connectTimeout: Duration
        /// Failures in a row that open a destination's circuit.
        public var breakerThreshold: Int
        /// How long an open circuit stays open before a probe.
        public var breakerCoolDown: Duration

        /// A configuration.
        public init(
            allowedHosts: HostAllowList, maximumResponseBytes: Int = 1 << 20, attemptTimeout: Duration = .seconds(30),
            connectTimeout: Duration = .seconds(5), breakerThreshold: Int = 5, breakerCoolDown: Duration = .seconds(30)
        ) {
            self.allowedHosts = allowedHosts
            self.maximumResponseBytes = max(0, maximumResponseBytes)
            self.attemptTimeout = attemptTimeout
            self.connectTimeout = connectTimeout
            self.breakerThreshold = breakerThreshold
            self.breakerCoolDown = breakerCoolDown
        }
    }

    /// How it works.
    public let configuration: Configuration
    private let client: HTTPClient
    private let breakers: CircuitBreakers

    /// A connector with its own client (shut it down with `shutdown()`).
    public init(configuration: Configuration) {
        self.configuration = configuration
        var pool = HTTPClient.Configuration.ConnectionPool()
        // A refused connection fails the attempt at once (the pool would
        // retry it until the attempt's deadline): the effect's policy
        // decides on another attempt, and the breaker counts it.
        pool.retryConnectionEstablishment = false
        client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: HTTPClient.Configuration.Timeout(connect: Self.timeAmount(configuration.connectTimeout)),
                connectionPool: pool))
        breakers = CircuitBreakers(threshold: configuration.breakerThreshold, coolDown: configuration.breakerCoolDown)
    }

    /// Closes its connections; call it once nothing is sent any more (after the node stopped).
    public func shutdown() async throws {
        try await client.shutdown()
    }

    /// Whether the circuit of `host:port` is open now.
    public func circuitIsOpen(host: String, port: Int) -> Bool {
        breakers.isOpen("\(host.lowercased()):\(port)")
    }

    /// One attempt at `request`, with `key` as its `Idempotency-Key`:
    /// the final response, or the error that says whether to try again.
    func send(_ request: HTTPCall, key: String, deadline: WallTime) async throws -> HTTPCallResponse {
        let target = try Self.target(of: request, allowed: configuration.allowedHosts)
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for field in request.headers {
            guard Self.isToken(field.name), !field.value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) else {
                throw HTTPCallError(.invalidRequest, "header field '\(field.name)' is not a valid HTTP field")
            }
            outgoing.headers.add(name: field.name, value: field.value)
        }
        if !outgoing.headers.contains(name: "Idempotency-Key") { outgoing.headers.add(name: "Idempotency-Key", value: key) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(string: body)) }

        let probe = try await admission(to: target.destination, until: deadline)
        do {
            let response = try await attempt(outgoing, timeout: request.attemptTimeout ?? configuration.attemptTimeout)
            breakers.report(target.destination, probe: probe, failed: (500...599).contains(response.status))
            if response.status == 408 || response.status == 429 || (500...599).contains(response.status) {
                let excerpt = response.text.map { " \(String($0.prefix(200)))" } ?? ""
                throw HTTPCallError(
                    .status(response.status), "\(request.method) \(target.display) answered \(response.status)\(excerpt)",
                    retryAfter: response.header("Retry-After").flatMap { RetryAfter.parse($0, now: WallTime.now) })
            }
            return response
        } catch let error as HTTPCallError {
            if case .status = error.reason {} else {
                let counts = error.reason == .transport || error.reason == .timeout
                breakers.report(target.destination, probe: probe, failed: counts ? true : nil)
            }
            throw error
        } catch {
            breakers.report(target.destination, probe: probe, failed: nil)
            throw error
        }
    }

    /// Sends and reads the response whole, within `timeout`.
    private func attempt(_ request: HTTPClientRequest, timeout: Duration) async throws -> HTTPCallResponse {
        let deadline = NIODeadline.now() + Self.timeAmount(timeout)
        do {
            let response = try await client.execute(request, deadline: deadline)
            let body: ByteBuffer
            do {
                body = try await response.body.collect(upTo: configuration.maximumResponseBytes)
            } catch is NIOTooManyBytesError {
                throw HTTPCallError(.responseTooLarge, "the response of \(request.method) \(request.url) is larger than \(configuration.maximumResponseBytes) bytes")
            }
            return HTTPCallResponse(
                status: Int(response.status.code),
                headers: response.headers.map { HTTPHeader($0.name, $0.value) },
                body: Array(body.readableBytesView))
        } catch let error as HTTPCallError {
            throw error
        } catch let error as HTTPClientError {
            if Task.isCancelled { throw CancellationError() }
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout:
                throw HTTPCallError(.timeout, "\(request.method) \(request.url): no response within \(timeout) (\(error))")
            case .invalidURL, .emptyHost, .emptyScheme:
                throw HTTPCallError(.invalidRequest, "\(request.method) \(request.url) cannot be sent: \(error)")
            default:
                throw HTTPCallError(.transport, "\(request.method) \(request.url): \(error)")
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw HTTPCallError(.transport, "\(request.method) \(request.url): \(error)")
        }
    }

    /// Waits while the destination's circuit is open (never past
    /// `deadline`); whether this request goes as its probe.
    private func admission(to destination: String, until deadline: WallTime) async throws -> Bool {
        while true {
            switch breakers.admit(destination) {
            case .go(let probe):
                return probe
            case .wait(let wait):
                let left = deadline - WallTime.now
                guard deadline > WallTime.now, wait < left else {
                    throw HTTPCallError(.circuitOpen, "the circuit of \(destination) is open (\(configuration.breakerThreshold) failures in a row) until past the effect's deadline")
                }
                try await Task.sleep(for: wait)
            }
        }
    }

    /// Where `request` goes, once its URL is checked.
    private static func target(of request: HTTPCall, allowed: HostAllowList) throws -> (destination: String, display: String) {
        guard isToken(request.method) else {
            throw HTTPCallError(.invalidRequest, "'\(request.method)' is not an HTTP method")
        }
        guard let url = URL(string: request.url), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else {
            throw HTTPCallError(.invalidRequest, "'\(request.url)' is not an absolute http or https URL")
        }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        guard allowed.allows(host: host, port: port) else {
            throw HTTPCallError(.notAllowed, "\(host):\(port) is not in the connector's allow-list (it allows \(allowed))")
        }
        return ("\(host.lowercased()):\(port)", "\(scheme)://\(host):\(port)\(url.path)")
    }

    /// Whether `text` is an HTTP token (a method or a field name).
    private static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(Int64(clamping: duration.nanoseconds))
    }
}
