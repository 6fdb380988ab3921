import AsyncHTTPClient
import CalfLoop
import Foundation
import Glibc

extension ReadinessSpec {
    /// A daemon with no `ready:`: up as soon as it is started.
    public static let up = ReadinessSpec(probe: .delay(0), interval: 250, timeout: 30_000)
}

/// Watches a daemon's run until its readiness check passes, then calls
/// `onReady` once; if `timeout` passes first, `onTimeout` once. A `line`
/// is looked for in the run's output as it comes; `tcp`, `http` and
/// `exec` are tried every `interval` (one try at a time); `delay` waits.
///
/// Thread ownership: its loop's thread only (made there, driven by the
/// loop's timers and the run's output; an `http` try runs in a task and
/// hops back to the loop with its answer).
final class ReadinessCheck: @unchecked Sendable {
    private let loop: EventLoop
    private let spec: ReadinessSpec
    private let command: RunCommand
    private var onReady: (() -> Void)?
    private var onTimeout: ((String) -> Void)?
    private var timers: [LoopTimer] = []
    private var trying = false
    private var probeRun: CommandRun?
    private var lastFailure = "no try has answered yet"

    /// Starts checking `run` (started from `command`) by `spec`.
    init(loop: EventLoop, spec: ReadinessSpec, run: CommandRun, command: RunCommand,
         onReady: @escaping () -> Void, onTimeout: @escaping (String) -> Void) {
        self.loop = loop
        self.spec = spec
        self.command = command
        self.onReady = onReady
        self.onTimeout = onTimeout
        switch spec.probe {
        case .line(let pattern):
            let matches = Self.matcher(pattern)
            run.onLine = { [weak self] line in if matches(line) { self?.passed() } }
            lastFailure = "no line of its output matched /\(pattern)/"
        case .delay(let milliseconds):
            if milliseconds == 0 {
                // Up when started; reported from the loop, after the caller has kept the check.
                loop.execute { [weak self] in self?.passed() }
                return
            }
            after(milliseconds) { [weak self] in self?.passed() }
            return
        case .tcp, .http, .exec:
            tryOnce()
            every(spec.interval) { [weak self] in self?.tryOnce() }
        }
        after(spec.timeout) { [weak self] in self?.timedOut() }
    }

    /// Stops checking (the run ended or was replaced): neither callback comes.
    func close() {
        onReady = nil
        onTimeout = nil
        for timer in timers { timer.close() }
        timers = []
        probeRun?.stop(.cancelled, note: "its daemon's check was closed")
        probeRun = nil
    }

    private func passed() {
        guard let onReady else { return }
        close()
        onReady()
    }

    private func timedOut() {
        guard let onTimeout else { return }
        close()
        onTimeout("it was not ready within \(spec.timeout) ms (\(lastFailure))")
    }

    /// One try of a `tcp`, `http` or `exec` check, unless one is under way.
    private func tryOnce() {
        guard !trying, onReady != nil else { return }
        switch spec.probe {
        case .tcp(let port):
            if Self.connects(port: port) { passed() } else { lastFailure = "127.0.0.1:\(port) refused the connection" }
        case .http(let url):
            trying = true
            let limit = max(spec.interval, 1000)
            Task { [loop] in
                let answer = await Self.get(url, timeout: limit)
                loop.execute { [weak self] in
                    guard let self else { return }
                    trying = false
                    if let status = answer.status, (200..<300).contains(status) { passed() } else { lastFailure = answer.why }
                }
            }
        case .exec(let argv):
            trying = true
            var line = command
            line.arguments = argv
            line.timeout = max(spec.interval * 4, 2000)
            line.killAfter = 500
            probeRun = CommandRun(loop: loop, line: line, logPath: "/dev/null") { [weak self] outcome in
                guard let self else { return }
                trying = false
                probeRun = nil
                if outcome.status == .succeeded { passed() } else {
                    lastFailure = "\(argv.joined(separator: " ")) ended \(outcome.exitCode.map { "with exit \($0)" } ?? outcome.status.rawValue)"
                }
            }
        case .line, .delay:
            break
        }
    }

    private func after(_ milliseconds: Int, _ body: @escaping () -> Void) {
        guard let timer = try? LoopTimer(loop: loop) else { return }
        timers.append(timer)
        try? timer.start(milliseconds: UInt64(max(0, milliseconds)), body)
    }

    private func every(_ milliseconds: Int, _ body: @escaping () -> Void) {
        guard let timer = try? LoopTimer(loop: loop) else { return }
        timers.append(timer)
        try? timer.start(milliseconds: UInt64(milliseconds), repeatMilliseconds: UInt64(milliseconds), body)
    }

    // MARK: The tries

    /// A matcher of lines for `pattern`: a regular expression, or the text
    /// itself when it is not one (the graph file's check says so first).
    static func matcher(_ pattern: String) -> (String) -> Bool {
        guard let expression = try? NSRegularExpression(pattern: pattern) else { return { $0.contains(pattern) } }
        return { line in expression.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil }
    }

    /// Whether a TCP connection to 127.0.0.1:`port` is accepted. On
    /// loopback a connect is answered at once (accepted or refused), so it
    /// is made blocking, and closed straight away.
    static func connects(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { Glibc.close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return result == 0
    }

    /// A GET of `url`: its status, or why there was none.
    static func get(_ url: String, timeout milliseconds: Int) async -> (status: Int?, why: String) {
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .milliseconds(Int64(milliseconds)))
            let status = Int(response.status.code)
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return (status, "GET \(url) answered \(status)")
        } catch {
            return (nil, "GET \(url) failed: \(error)")
        }
    }
}
