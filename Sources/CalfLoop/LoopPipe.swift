import CLibUV
import Glibc

/// A libuv pipe (`uv_pipe_t`): one end of a child process's stdin, stdout
/// or stderr, or a connection accepted by a `LoopPipeServer`.
///
/// Thread ownership: make, read, write and close it on its loop's thread only.
public final class LoopPipe: LoopHandle, @unchecked Sendable {
    private var onData: (([UInt8]?) -> Void)?
    /// The read buffer libuv fills; freed with the object (after libuv's close callback).
    private let buffer = UnsafeMutableRawPointer.allocate(byteCount: 65_536, alignment: 16)

    /// Makes a pipe on `loop` (call on the loop's thread).
    public init(loop: EventLoop) throws(LoopError) {
        // invariant: libuv handles must be made on their loop's thread.
        precondition(loop.inEventLoop, "LoopPipe made off its loop's thread")
        let pipe = UnsafeMutablePointer<uv_pipe_t>.allocate(capacity: 1)
        let code = uv_pipe_init(loop.uvLoop, pipe, 0)
        if code < 0 {
            pipe.deallocate()
            buffer.deallocate()
            throw LoopError(code: code, operation: "uv_pipe_init")
        }
        super.init(loop: loop, raw: UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: uv_handle_t.self))
    }

    deinit { buffer.deallocate() }

    var stream: UnsafeMutablePointer<uv_stream_t>? {
        raw.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: uv_stream_t.self) }
    }

    /// Calls `onData` with each chunk read, then once with nil at the end
    /// of the stream (or on a read error).
    public func startReading(_ onData: @escaping ([UInt8]?) -> Void) throws(LoopError) {
        guard let stream else { throw LoopError(code: UV_EINVAL.rawValue, operation: "uv_read_start on a closed pipe") }
        self.onData = onData
        try LoopError.check(uv_read_start(stream, { handle, _, buf in
            guard let handle, let data = handle.pointee.data, let buf else { return }
            let pipe = Unmanaged<LoopHandle>.fromOpaque(data).takeUnretainedValue() as? LoopPipe
            buf.pointee.base = pipe?.buffer.assumingMemoryBound(to: CChar.self)
            buf.pointee.len = pipe == nil ? 0 : 65_536
        }, { stream, count, buf in
            guard let stream, let data = stream.pointee.data else { return }
            guard let pipe = Unmanaged<LoopHandle>.fromOpaque(data).takeUnretainedValue() as? LoopPipe else { return }
            if count > 0, let base = buf?.pointee.base {
                pipe.onData?(Array(UnsafeRawBufferPointer(start: base, count: count)))
            } else if count < 0 {
                uv_read_stop(stream)
                let callback = pipe.onData
                pipe.onData = nil
                callback?(nil)
            }
        }), "uv_read_start")
    }

    /// Writes `bytes` (copied; written in order with earlier writes), then
    /// calls `done` (if given) once they are handed to the kernel or failed.
    public func write(_ bytes: [UInt8], then done: (() -> Void)? = nil) throws(LoopError) {
        guard let stream else { throw LoopError(code: UV_EPIPE.rawValue, operation: "write to a closed pipe") }
        guard !bytes.isEmpty else {
            done?()
            return
        }
        let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
        let pending = PendingWrite(bytes, done)
        request.pointee.data = Unmanaged.passRetained(pending).toOpaque()
        var buf = uv_buf_init(pending.copy.assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
        let code = uv_write(request, stream, &buf, 1) { request, _ in
            guard let request else { return }
            if let data = request.pointee.data {
                let pending = Unmanaged<PendingWrite>.fromOpaque(data).takeRetainedValue()
                pending.done?()
            }
            request.deallocate()
        }
        if code < 0 {
            Unmanaged<PendingWrite>.fromOpaque(request.pointee.data!).release()
            request.deallocate()
            throw LoopError(code: code, operation: "uv_write")
        }
    }

    /// Stops reading (`startReading` resumes with the same callback or another).
    public func stopReading() {
        guard let stream else { return }
        uv_read_stop(stream)
    }

    /// Bytes written but not yet handed to the kernel (a slow reader's backlog).
    public var pendingWriteBytes: Int {
        guard let stream else { return 0 }
        return uv_stream_get_write_queue_size(stream)
    }

    /// The user id of the process at the other end of a Unix socket (nil if unknown).
    public var peerUserID: UInt32? {
        guard let raw else { return nil }
        var descriptor = uv_os_fd_t()
        guard uv_fileno(raw, &descriptor) == 0 else { return nil }
        var credentials = calf_ucred()
        var size = socklen_t(MemoryLayout<calf_ucred>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &size) == 0 else { return nil }
        return credentials.uid
    }

    /// Whether the other end has closed (or shut down its writing), though
    /// this side may not have read that end yet (a poll of its descriptor, at once).
    public var peerHasHungUp: Bool {
        guard let raw else { return true }
        var descriptor = uv_os_fd_t()
        guard uv_fileno(raw, &descriptor) == 0 else { return true }
        // POLLRDHUP (0x2000): the peer closed or shut down writing.
        var entry = pollfd(fd: descriptor, events: Int16(0x2000), revents: 0)
        guard poll(&entry, 1, 0) == 1 else { return false }
        return entry.revents & (Int16(0x2000) | Int16(POLLHUP) | Int16(POLLERR)) != 0
    }

    /// Closes the pipe and drops its callback.
    public override func close() {
        onData = nil
        super.close()
    }
}

/// The bytes of one write and what to do after it (kept alive by the write request).
private final class PendingWrite {
    let copy: UnsafeMutableRawPointer
    let done: (() -> Void)?

    init(_ bytes: [UInt8], _ done: (() -> Void)?) {
        let copy = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 1)
        bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        self.copy = copy
        self.done = done
    }

    deinit { copy.deallocate() }
}
