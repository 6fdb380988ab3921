import CLibUV
import Glibc

/// A Unix socket server on a libuv loop: binds a path (mode 0600: only this
/// user can connect), listens, and hands each accepted connection to
/// `onConnection` as a `LoopPipe`.
///
/// Thread ownership: make, use and close it on its loop's thread only.
public final class LoopPipeServer: LoopHandle, @unchecked Sendable {
    /// The socket's path.
    public let path: String
    private var onConnection: ((LoopPipe) -> Void)?

    /// Binds `path` (which must not exist) and starts listening.
    /// - Throws: `LoopError` when it cannot bind or listen.
    public init(loop: EventLoop, path: String, backlog: Int32 = 128, onConnection: @escaping (LoopPipe) -> Void) throws(LoopError) {
        // invariant: libuv handles must be made on their loop's thread.
        precondition(loop.inEventLoop, "LoopPipeServer made off its loop's thread")
        self.path = path
        let pipe = UnsafeMutablePointer<uv_pipe_t>.allocate(capacity: 1)
        let code = uv_pipe_init(loop.uvLoop, pipe, 0)
        if code < 0 {
            pipe.deallocate()
            throw LoopError(code: code, operation: "uv_pipe_init")
        }
        super.init(loop: loop, raw: UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_handle_t.self))
        // The socket file is made by bind with the umask's mode: none for others from the start.
        let previous = umask(0o177)
        let bound = uv_pipe_bind(pipe, path)
        umask(previous)
        do throws(LoopError) {
            try LoopError.check(bound, "uv_pipe_bind \(path)")
            try LoopError.check(chmod(path, 0o600) == 0 ? 0 : -errno, "chmod \(path)")
            self.onConnection = onConnection
            try LoopError.check(uv_listen(UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_stream_t.self), backlog) { server, status in
                guard let server, status >= 0, let data = server.pointee.data else { return }
                guard let listener = Unmanaged<LoopHandle>.fromOpaque(data).takeUnretainedValue() as? LoopPipeServer else { return }
                listener.accept(from: server)
            }, "uv_listen \(path)")
        } catch {
            close()
            throw error
        }
    }

    private func accept(from server: UnsafeMutablePointer<uv_stream_t>) {
        guard let client = try? LoopPipe(loop: loop), let stream = client.stream else { return }
        guard uv_accept(server, stream) == 0 else {
            client.close()
            return
        }
        onConnection?(client)
    }

    /// Stops listening and drops the callback (the socket file stays: the owner removes it).
    public override func close() {
        onConnection = nil
        super.close()
    }
}
