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
        let frame: [UInt8]
        do {
            frame = try ControlProtocol.frame(request)
        } catch {
            throw ConnectionError(description: "cannot encode the request: \(error)")
        }
        // A node that refuses a connection says why before closing it: read that even if the write failed.
        let written = SocketIO.writeAll(fd, frame)
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
