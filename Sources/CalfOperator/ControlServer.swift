import Calf
import CalfControl
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
/// `maximumConnections`, the one in the middle of a frame the longest is
/// closed to make room, else the one whose client ended the longest ago,
/// else the new one is closed at once. A malformed frame gets
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
        if connections.count >= Self.maximumConnections {
            // Room is made by dropping the connection stuck in the middle of a frame the longest, else the one
            // whose client ended the longest ago (answers still going out to a client that may be gone), so
            // that half-open or departed clients cannot turn a shell away; with neither, the new one is.
            let stuck = connections.values.compactMap { connection in connection.partialFrameSince.map { (connection, $0) } }
            // A client gone whose end the loop has not read yet (a burst of short connections) counts as ended now.
            let ended = connections.values.compactMap { connection in
                connection.endedAt.map { (connection, $0) } ?? (connection.clientLeft ? (connection, ContinuousClock.now) : nil)
            }
            guard let oldest = stuck.min(by: { $0.1 < $1.1 }) ?? ended.min(by: { $0.1 < $1.1 }) else {
                pipe.close()
                return
            }
            oldest.0.close()
        }
        let connection = ControlConnection(server: self, pipe: pipe)
        guard pipe.peerUserID == userID else {
            connection.fail(ControlError(.forbidden, "this node belongs to another user"))
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
}
