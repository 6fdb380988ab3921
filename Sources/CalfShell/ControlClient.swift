import FoundationEssentials
import Glibc

/// A connection to a node's control socket.
///
/// ```swift
/// let client = try ControlClient(dataDirectory: "/var/calf")
/// let reply = try client.request(.init(cmd: "state", target: "account-3"))
/// ```
public final class ControlClient {
    /// Why a request failed (the node's own refusals come back as replies).
    public struct ConnectionError: Error, CustomStringConvertible {
        /// What went wrong.
        public let description: String
    }

    private let fd: Int32

    /// Connects to `DIR/node.sock`.
    public convenience init(dataDirectory: String) throws(ConnectionError) {
        try self.init(socketPath: dataDirectory + "/node.sock")
    }

    /// Connects to the socket at `socketPath`.
    public init(socketPath: String) throws(ConnectionError) {
        switch SocketIO.connect(to: socketPath) {
        case .success(let fd): self.fd = fd
        case .failure(let error): throw ConnectionError(description: "cannot attach to \(socketPath): \(error)")
        }
    }

    deinit { close(fd) }

    /// Sends `request` and waits for its reply.
    public func request(_ request: ControlProtocol.Request) throws(ConnectionError) -> ControlProtocol.Reply {
        try send(request)
        return try nextReply()
    }

    /// Sends a streaming `request` (`trace`) and hands each reply to `each`
    /// until the last one (without `more`), which it returns.
    public func stream(_ request: ControlProtocol.Request, each: (ControlProtocol.Reply) -> Void) throws(ConnectionError) -> ControlProtocol.Reply {
        try send(request)
        while true {
            let reply = try nextReply()
            guard reply.more == true else { return reply }
            each(reply)
        }
    }

    /// Tells the node this client sends nothing more: a stream being
    /// answered ends (its last reply still comes). Async-signal-safe
    /// through `descriptor`: a SIGINT handler may do the same.
    public func finishSending() { shutdown(fd, Int32(SHUT_WR)) }

    /// The socket's descriptor (for a signal handler to `shutdown` it).
    public var descriptor: Int32 { fd }

    private var written = true

    private func send(_ request: ControlProtocol.Request) throws(ConnectionError) {
        let frame: [UInt8]
        do {
            frame = try ControlProtocol.frame(request)
        } catch {
            throw ConnectionError(description: "cannot encode the request: \(error)")
        }
        // A node that refuses a connection says why before closing it: read that even if the write failed.
        written = SocketIO.writeAll(fd, frame)
    }

    private func nextReply() throws(ConnectionError) -> ControlProtocol.Reply {
        let body: [UInt8]
        do throws(SocketIO.FrameError) {
            body = try SocketIO.readFrame(fd, maximum: ControlProtocol.maximumReply)
        } catch {
            throw ConnectionError(description: written ? "the node closed the connection before replying" : "the node closed the connection")
        }
        do {
            return try JSONDecoder().decode(ControlProtocol.Reply.self, from: Data(body))
        } catch {
            throw ConnectionError(description: "malformed reply: \(error)")
        }
    }
}
