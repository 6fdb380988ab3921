import Calf
import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

/// Serves the control protocol on a node's Unix socket (mode 0600, so only
/// the owner can attach). Each connection has its own thread, so a slow or
/// stuck client holds up only itself.
public final class ControlServer: Sendable {
    /// Why the server could not start.
    public struct StartError: Error, CustomStringConvertible {
        /// What went wrong.
        public let description: String
    }

    /// The socket's path.
    public let path: String
    private let node: Node
    private let listener: Int32
    private let stopped = Atomic<Bool>(false)

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
        guard var address = SocketIO.address(path) else { throw StartError(description: "socket path too long: \(path)") }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartError(description: "socket: \(Errno.text(errno))") }
        let previous = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(previous)
        guard bound == 0, chmod(path, 0o600) == 0, listen(fd, 128) == 0 else {
            let failure = errno
            close(fd)
            throw StartError(description: "cannot serve \(path): \(Errno.text(failure))")
        }
        listener = fd
        let server = self
        startThread { server.acceptLoop() }
    }

    /// Stops accepting and removes the socket file.
    public func stop() {
        guard !stopped.exchange(true, ordering: .sequentiallyConsistent) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(path)
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .sequentiallyConsistent) {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            let server = self
            startThread { server.serve(client) }
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        while true {
            let body: [UInt8]
            do throws(SocketIO.FrameError) {
                body = try SocketIO.readFrame(fd)
            } catch {
                if case .tooLarge(let length) = error {
                    _ = reply(fd, .failure("frame of \(length) bytes is over the \(ControlProtocol.maximumFrame)-byte limit"))
                }
                return
            }
            let request: ControlProtocol.Request
            do {
                request = try JSONDecoder().decode(ControlProtocol.Request.self, from: Data(body))
            } catch {
                _ = reply(fd, .failure("malformed request: \(error)"))
                return
            }
            guard request.v == ControlProtocol.version else {
                _ = reply(fd, .failure("protocol version \(request.v) is not spoken here (this node speaks \(ControlProtocol.version))"))
                return
            }
            guard reply(fd, answer(request)) else { return }
        }
    }

    private func reply(_ fd: Int32, _ reply: ControlProtocol.Reply) -> Bool {
        guard let frame = try? ControlProtocol.frame(reply) else { return false }
        return SocketIO.writeAll(fd, frame)
    }

    /// Runs `request` against the node (blocking this connection's thread).
    private func answer(_ request: ControlProtocol.Request) -> ControlProtocol.Reply {
        let node = self.node
        let box = Mutex<ControlProtocol.Reply?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let reply = await ControlServer.handle(request, on: node)
            box.withLock { $0 = reply }
            done.signal()
        }
        done.wait()
        return box.withLock { $0 } ?? .failure("no answer")
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
                return .success(String(decoding: try await node.stateJSON(of: request.target), as: UTF8.self))
            } catch {
                return .failure("\(error)")
            }
        default:
            return .failure("unknown command '\(request.cmd)' (send, call, state)")
        }
    }
}

extension Errno {
    static func text(_ code: Int32) -> String { String(cString: strerror(code)) }
}

/// Runs `body` on a new detached thread.
func startThread(_ body: @escaping @Sendable () -> Void) {
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let code = pthread_create(&thread, nil, { raw in
        // invariant: raw is the retained ThreadBody passed below.
        let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
        body.run()
        return nil
    }, box)
    if code == 0 {
        pthread_detach(thread)
    } else {
        Unmanaged<ThreadBody>.fromOpaque(box).release()
    }
}

private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
