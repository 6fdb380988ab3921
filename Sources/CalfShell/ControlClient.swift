import CalfControl
import FoundationEssentials
import Glibc

/// A connection to a node's control socket.
///
/// ```swift
/// let client = try ControlClient(dataDirectory: "/var/calf")
/// let balance = try client.request(.state(of: "account-3", at: nil)).get()
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

    /// Sends `request` and waits for its reply, its result decoded as `Answer`.
    public func request<Answer: Codable & Sendable>(_ request: ControlRequest, as type: Answer.Type = JSONValue.self) throws(ConnectionError) -> ControlReply<Answer> {
        try decoded(try exchange(request))
    }

    /// Sends `request` and waits for its reply, as the node wrote it (the frame's JSON).
    public func exchange(_ request: ControlRequest) throws(ConnectionError) -> [UInt8] {
        try send(request)
        return try nextReply()
    }

    /// Sends a streaming `request` (`trace`) and hands each reply's result
    /// to `each` until the last reply (not streamed), which it returns.
    public func stream<Answer: Codable & Sendable>(_ request: ControlRequest, as type: Answer.Type, each: (Answer) -> Void) throws(ConnectionError) -> ControlReply<Answer> {
        try send(request)
        while true {
            let reply: ControlReply<Answer> = try decoded(try nextReply())
            guard case .streamed(let result) = reply else { return reply }
            each(result)
        }
    }

    /// Sends `request` without waiting for its reply: requests may be
    /// pipelined, and the node answers them in the order sent
    /// (`receiveReply` reads the next one).
    public func sendRequest(_ request: ControlRequest) throws(ConnectionError) {
        try send(request)
        guard written else { throw ConnectionError(description: "the node closed the connection") }
    }

    /// Waits for the next reply, as the node wrote it (the frame's JSON).
    public func receiveReply() throws(ConnectionError) -> [UInt8] {
        try nextReply()
    }

    /// `body`, a reply's JSON, decoded.
    public func decoded<Answer: Codable & Sendable>(_ body: [UInt8]) throws(ConnectionError) -> ControlReply<Answer> {
        do {
            return try ControlReply<Answer>.read(body)
        } catch {
            throw ConnectionError(description: "malformed reply: \(error)")
        }
    }

    /// Tells the node this client sends nothing more: a stream being
    /// answered ends (its last reply still comes). Async-signal-safe
    /// through `descriptor`: a SIGINT handler may do the same.
    public func finishSending() { shutdown(fd, Int32(SHUT_WR)) }

    /// The socket's descriptor (for a signal handler to `shutdown` it).
    public var descriptor: Int32 { fd }

    private var written = true

    private func send(_ request: ControlRequest) throws(ConnectionError) {
        let frame: [UInt8]
        do {
            frame = try ControlProtocol.frame(request)
        } catch {
            throw ConnectionError(description: "cannot encode the request: \(error)")
        }
        // A node that refuses a connection says why before closing it: read that even if the write failed.
        written = SocketIO.writeAll(fd, frame)
    }

    private func nextReply() throws(ConnectionError) -> [UInt8] {
        do throws(SocketIO.FrameError) {
            return try SocketIO.readFrame(fd, maximum: ControlProtocol.maximumReply)
        } catch {
            throw ConnectionError(description: written ? "the node closed the connection before replying" : "the node closed the connection")
        }
    }
}
