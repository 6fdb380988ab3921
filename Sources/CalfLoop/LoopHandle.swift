import CLibUV

/// Base of the Swift objects that own one libuv handle.
///
/// Thread ownership: the loop thread. The handle's `data` holds a retained
/// reference to this object, so the object lives until libuv's close
/// callback, which is the only place the handle's memory is freed (TRAPS.md:
/// never free a handle before `uv_close` has called back).
public class LoopHandle: @unchecked Sendable {
    /// The loop this handle belongs to.
    public let loop: EventLoop
    /// The libuv handle, `nil` once close has begun.
    var raw: UnsafeMutablePointer<uv_handle_t>?

    init(loop: EventLoop, raw: UnsafeMutablePointer<uv_handle_t>) {
        self.loop = loop
        self.raw = raw
        raw.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    /// Whether `close()` has been called (or the loop closed the handle at stop).
    public var isClosed: Bool { raw == nil }

    /// Closes the handle; its memory is freed when libuv calls back. Idempotent.
    public func close() {
        guard let raw else { return }
        self.raw = nil
        LoopHandle.close(raw)
    }

    /// Closes any handle made by a `LoopHandle` subclass.
    static func close(_ handle: UnsafeMutablePointer<uv_handle_t>) {
        if let data = handle.pointee.data {
            Unmanaged<LoopHandle>.fromOpaque(data).takeUnretainedValue().raw = nil
        }
        uv_close(handle) { handle in
            guard let handle else { return }
            if let data = handle.pointee.data {
                Unmanaged<LoopHandle>.fromOpaque(data).release()
            }
            handle.deallocate()
        }
    }
}
