import CLibUV

/// A libuv timer on one loop (`uv_timer_t`).
///
/// Thread ownership: make, start, stop and close it on its loop's thread only.
/// The callback runs on that thread. Close it when done: a timer left open is
/// reported by `EventLoop.shutdown()` as a leaked handle.
public final class LoopTimer: LoopHandle, @unchecked Sendable {
    private var callback: (() -> Void)?

    /// Makes a stopped timer on `loop` (call on the loop's thread).
    public init(loop: EventLoop) throws(LoopError) {
        // invariant: libuv timers must be made on their loop's thread.
        precondition(loop.inEventLoop, "LoopTimer made off its loop's thread")
        let timer = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)
        let code = uv_timer_init(loop.uvLoop, timer)
        if code < 0 {
            timer.deallocate()
            throw LoopError(code: code, operation: "uv_timer_init")
        }
        super.init(loop: loop, raw: UnsafeMutableRawPointer(timer).assumingMemoryBound(to: uv_handle_t.self))
    }

    private var timer: UnsafeMutablePointer<uv_timer_t>? {
        raw.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: uv_timer_t.self) }
    }

    /// Starts (or restarts) the timer: `callback` runs after `milliseconds`,
    /// then every `repeatMilliseconds` if that is above zero.
    public func start(milliseconds: UInt64, repeatMilliseconds: UInt64 = 0, _ callback: @escaping () -> Void) throws(LoopError) {
        guard let timer else { throw LoopError(code: UV_EINVAL.rawValue, operation: "uv_timer_start on a closed timer") }
        self.callback = callback
        uv_update_time(loop.uvLoop)
        try LoopError.check(uv_timer_start(timer, { handle in
            guard let data = handle?.pointee.data else { return }
            let timer = Unmanaged<LoopHandle>.fromOpaque(data).takeUnretainedValue()
            (timer as? LoopTimer)?.callback?()
            timer.loop.timerFired()
        }, milliseconds, repeatMilliseconds), "uv_timer_start")
    }

    /// Stops the timer if it runs; it can be started again.
    public func stop() {
        guard let timer else { return }
        uv_timer_stop(timer)
    }

    /// Closes the timer and drops its callback.
    public override func close() {
        callback = nil
        super.close()
    }
}
