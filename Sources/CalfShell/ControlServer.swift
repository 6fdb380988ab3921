import Calf
import CalfLoop
import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// Serves the control protocol on a node's Unix socket (mode 0600, and a
/// peer of another user is refused), on a libuv loop thread of its own.
///
/// Many clients at once, each bounded: a connection holds at most one frame
/// being read (≤ `ControlProtocol.maximumFrame`), answers its requests in
/// order with at most `ControlServer.queuedPerConnection` waiting (it stops
/// reading meanwhile), gets no further answer while more than
/// `maximumBacklog` bytes of its replies are unread, is closed when none of
/// its replies has moved for `stalledReplyTimeout` or when it sits in the
/// middle of a frame for `partialFrameTimeout`; beyond
/// `maximumConnections`, new ones are closed at once. A malformed frame gets
/// an error reply and the connection is closed. Nothing a client does
/// blocks the node or another client.
public final class ControlServer: Sendable {
    /// Why the server could not start.
    public struct StartError: Error, CustomStringConvertible {
        /// What went wrong.
        public let description: String
    }

    /// Connections served at once.
    public static let maximumConnections = 512
    /// Requests a connection may have waiting behind the one being answered.
    public static let queuedPerConnection = 16
    /// Reply bytes a client may leave unread before its next answer waits.
    public static let maximumBacklog = 4 << 20
    /// How long a reply may sit unread, nothing written meanwhile, before the client is dropped.
    public static let stalledReplyTimeout: Duration = .seconds(30)
    /// How long a connection may sit in the middle of a frame.
    public static let partialFrameTimeout: Duration = .seconds(10)

    /// The socket's path.
    public let path: String
    let node: Node
    let loop: EventLoop
    // invariant: touched on `loop`'s thread only (set up there, closed there).
    nonisolated(unsafe) var listener: LoopPipeServer?
    nonisolated(unsafe) var sweeper: LoopTimer?
    nonisolated(unsafe) var connections: [ObjectIdentifier: ControlConnection] = [:]
    private let stopped = Atomic<Bool>(false)
    let userID = getuid()

    /// Binds `path` (refusing if a live node answers there, replacing a
    /// stale socket file) and starts accepting connections.
    public init(node: Node, path: String) throws(StartError) {
        self.node = node
        self.path = path
        if case .success(let fd) = SocketIO.connect(to: path) {
            close(fd)
            throw StartError(description: "a live node is already serving \(path)")
        }
        unlink(path)
        do {
            loop = try EventLoop(name: "calf-control")
        } catch {
            throw StartError(description: "cannot start the control loop: \(error)")
        }
        let failure = Mutex<String?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let server = self
        loop.execute {
            defer { ready.signal() }
            do {
                server.listener = try LoopPipeServer(loop: server.loop, path: path) { pipe in server.accept(pipe) }
                let sweeper = try LoopTimer(loop: server.loop)
                try sweeper.start(milliseconds: 1000, repeatMilliseconds: 1000) { server.sweep() }
                server.sweeper = sweeper
            } catch {
                failure.withLock { $0 = "cannot serve \(path): \(error)" }
            }
        }
        ready.wait()
        if let reason = failure.withLock({ $0 }) {
            _ = try? loop.shutdown()
            throw StartError(description: reason)
        }
    }

    /// Stops accepting, closes every connection and removes the socket file.
    public func stop() {
        guard !stopped.exchange(true, ordering: .sequentiallyConsistent) else { return }
        let server = self
        loop.execute {
            server.listener?.close()
            server.listener = nil
            server.sweeper?.close()
            server.sweeper = nil
            for connection in server.connections.values { connection.close() }
            server.connections.removeAll()
        }
        _ = try? loop.shutdown()
        unlink(path)
    }

    /// How many clients are connected (loop thread).
    var connectionCount: Int { connections.count }

    private func accept(_ pipe: LoopPipe) {
        guard connections.count < Self.maximumConnections else {
            pipe.close()
            return
        }
        let connection = ControlConnection(server: self, pipe: pipe)
        guard pipe.peerUserID == userID else {
            connection.fail("this node belongs to another user")
            return
        }
        connections[ObjectIdentifier(connection)] = connection
        connection.start()
    }

    func forget(_ connection: ControlConnection) {
        connections[ObjectIdentifier(connection)] = nil
    }

    /// Drops the connections stuck mid-frame or not reading their replies.
    private func sweep() {
        let now = ContinuousClock.now
        for connection in Array(connections.values) {
            if connection.isStuck(now: now) { connection.close() }
        }
    }

    /// The reason `kill P REASON` names: `normal`, `shutdown`, `killed`, or the operator's own words.
    static func exitReason(_ text: String) -> ExitReason? {
        switch text {
        case "normal": .normal
        case "shutdown": .shutdown
        case "killed", "kill": nil
        default: .error(OperatorExit(reason: text))
        }
    }

    static func encoded(_ value: some Encodable) -> ControlProtocol.Reply {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return .success(String(decoding: try encoder.encode(value), as: UTF8.self))
        } catch {
            return .failure("cannot encode the answer: \(error)")
        }
    }

    static func handle(_ request: ControlProtocol.Request, on node: Node) async -> ControlProtocol.Reply {
        switch request.cmd {
        case "send":
            guard let json = request.json else { return .failure("send needs a JSON message") }
            switch await node.sendJSON(Array(json.utf8), to: request.target, key: request.key) {
            case .accepted: return .success("ok")
            case .duplicate: return .success("ok duplicate")
            case .failed(let reason): return .failure(reason)
            }
        case "call":
            guard let json = request.json else { return .failure("call needs a JSON message") }
            let timeout = Duration.milliseconds(request.timeoutMilliseconds ?? 5000)
            do {
                return .success(String(decoding: try await node.callJSON(Array(json.utf8), to: request.target, timeout: timeout), as: UTF8.self))
            } catch {
                return .failure("\(error)")
            }
        case "state":
            do {
                let json: [UInt8]
                if let at = request.at {
                    json = try await node.stateJSON(of: request.target, at: at)
                } else {
                    json = try await node.stateJSON(of: request.target)
                }
                return .success(String(decoding: json, as: UTF8.self))
            } catch {
                return .failure("\(error)")
            }
        case "ps":
            guard let order = ProcessOrder(request.sort) else {
                return .failure("ps sorts by mailbox, msgs, memory or restarts, not '\(request.sort ?? "")'")
            }
            return encoded(order.sorted(await node.processReports()))
        case "info":
            guard let report = await node.processReport(request.target) else { return .failure("no process \(request.target)") }
            return encoded(report)
        case "tree":
            return encoded(await node.supervisionTrees())
        case "mailbox":
            guard let mail = await node.mailboxJSON(of: request.target) else { return .failure("no process \(request.target)") }
            return .success("[" + mail.joined(separator: ",") + "]")
        case "kill", "restart":
            let reason: ExitReason? = request.cmd == "restart" ? nil : request.reason.flatMap(Self.exitReason)
            return await node.exit(request.target, reason: reason) ? .success("ok") : .failure("no process \(request.target)")
        case "stats":
            return encoded(await node.stats())
        case "journal":
            do {
                let limit = min(max(request.limit ?? 100, 1), 100_000)
                return encoded(try await node.journalEntries(of: request.target, from: request.from ?? 0, limit: limit))
            } catch {
                return .failure("\(error)")
            }
        case "dead":
            do {
                return encoded(try await node.deadLetterReports(of: request.target.isEmpty ? nil : request.target))
            } catch {
                return .failure("\(error)")
            }
        case "dead-retry":
            guard let id = UInt64(request.target) else { return .failure("dead retry needs the id of a dead letter, not '\(request.target)'") }
            switch await node.retryDeadLetter(id) {
            case .accepted: return .success("ok")
            case .duplicate: return .success("ok duplicate")
            case .failed(let reason): return .failure(reason)
            }
        case "names":
            let names = node.registeredNames.mapValues(\.description)
            return encoded(NameList(names: names, pids: await node.livePids().map(\.description)))
        case "trace", "top":
            // invariant: a connection answers these itself (ControlConnection: a stream, a sampler of its own).
            return .failure("\(request.cmd) is answered by a connection, not here")
        case "suspend":
            return await node.suspend(request.target) ? .success("ok") : .failure("no process \(request.target)")
        case "resume":
            return await node.resume(request.target) ? .success("ok") : .failure("no process \(request.target)")
        default:
            return .failure("unknown command '\(request.cmd)' (send, call, state, ps, info, tree, mailbox, kill, restart, suspend, resume, dead, dead-retry, journal, stats, names, trace)")
        }
    }
}

/// The answer to `names`: registered names with their pids, and every live pid.
public struct NameList: Codable, Sendable, Equatable {
    /// Registered name → pid.
    public var names: [String: String]
    /// Every live process's pid, in order.
    public var pids: [String]
}

extension Errno {
    static func text(_ code: Int32) -> String { String(cString: strerror(code)) }
}
