import CLibUV
import Glibc
import Synchronization

/// One thread running one libuv loop, with a cross-thread submission queue.
///
/// Thread ownership: the `uv_loop_t`, every handle made on it, the driver's
/// calls and `LoopTimer`s belong to the loop thread. Other threads may only
/// call `execute(_:)`, `wake()` and `shutdown()`; those go through a `Mutex`,
/// atomics, and `uv_async_send` (libuv's one thread-safe call).
///
/// The thread alternates between the driver's ready work, a non-blocking
/// libuv poll (timers, I/O), a short spin and, when nothing arrives, a
/// blocking `uv_run(UV_RUN_ONCE)` from which `wake()` rouses it. Wakeups are
/// coalesced: `uv_async_send` is called only when the loop is asleep or about
/// to sleep.
public final class EventLoop: @unchecked Sendable {
    /// A unit of work submitted from any thread.
    public typealias Job = @Sendable () -> Void

    /// What `shutdown()` found when it closed the loop.
    public struct ShutdownReport: Sendable, Equatable {
        /// Handles that were still open when the loop stopped and that the loop
        /// closed itself; anything above zero is a handle its owner leaked.
        public var handlesClosedAtStop: Int
    }

    /// A human-readable name, also given to the OS thread.
    public let name: String

    let uvLoop: UnsafeMutablePointer<uv_loop_t>
    private let wakeup: UnsafeMutablePointer<uv_async_t>
    private let submissions = Mutex<[Job]>([])
    private let hasSubmissions = Atomic<Bool>(false)
    private let sleeping = Atomic<Bool>(false)
    private let stopRequested = Atomic<Bool>(false)
    /// Whether the wakeup handle is closed. `uv_async_send` on a closed handle
    /// aborts inside libuv, so sends and the close take this lock (rare: only
    /// when the loop sleeps).
    private let wakeupClosed = Mutex<Bool>(false)
    /// Loop thread only; dropped when the thread ends, which breaks the
    /// reference cycle between a driver that holds its loop and the loop.
    private var driver: (any LoopDriver)?
    private var thread = pthread_t()
    private let result = Mutex<Result<ShutdownReport, LoopError>?>(nil)
    private let joined = Mutex<Bool>(false)
    /// How long an idle loop looks for work before it sleeps in the kernel.
    private let spinNanoseconds: UInt64
    /// Time the loop spent out of work (spinning or asleep) before its
    /// latest idle spell, in nanoseconds (loop thread only).
    private var idleNanoseconds: UInt64 = 0
    /// Set by the driver after a long slice: poll libuv (timers, I/O) before the next.
    private var pollRequested = false
    /// The loop runs slices (false once it closes): a timer's callback ends the libuv iteration.
    private var runningSlices = false
    /// When the loop last ran out of work, while it is out of work; else 0.
    private var idleSince: UInt64 = 0

    /// Whether jobs submitted from other threads wait to run (any thread).
    public var hasPendingJobs: Bool { hasSubmissions.load(ordering: .relaxed) }

    /// Asks for a libuv poll (timers, I/O) after the current slice rather
    /// than after the usual number of slices: the slice ran long (loop thread only).
    public func pollSoon() { pollRequested = true }

    /// Time the loop spent out of work (spinning or asleep) since it
    /// started, up to `now` (loop thread only: a timer that fires while it
    /// sleeps sees the sleep so far counted).
    public func idleNanoseconds(at now: UInt64) -> UInt64 {
        idleSince == 0 || now < idleSince ? idleNanoseconds : idleNanoseconds &+ (now &- idleSince)
    }

    /// A write to a pipe or socket whose reader is gone (a client that hung
    /// up, a port whose command exited) fails with `EPIPE` instead of
    /// killing the whole process with SIGPIPE, as libuv expects. Set once,
    /// when the first loop is made.
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Starts a loop thread.
    /// - Parameters:
    ///   - name: the thread's name (the OS shows 15 bytes).
    ///   - driver: work to run on the thread between libuv polls.
    ///   - spin: how long an idle loop keeps looking for work before it
    ///     sleeps in the kernel; spinning keeps cross-thread latency low.
    public init(name: String, driver: (any LoopDriver)? = nil, spin: Duration = .microseconds(50)) throws(LoopError) {
        self.name = name
        self.driver = driver
        _ = EventLoop.ignoreBrokenPipes
        let (seconds, attoseconds) = spin.components
        self.spinNanoseconds = seconds < 0 ? 0 : UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
        uvLoop = .allocate(capacity: 1)
        wakeup = .allocate(capacity: 1)
        let initCode = uv_loop_init(uvLoop)
        if initCode < 0 {
            uvLoop.deallocate()
            wakeup.deallocate()
            throw LoopError(code: initCode, operation: "uv_loop_init")
        }
        let asyncCode = uv_async_init(uvLoop, wakeup) { handle in
            guard let handle, let loop = EventLoop.owner(of: handle) else { return }
            loop.drainSubmissions()
        }
        if asyncCode < 0 {
            uv_loop_close(uvLoop)
            uvLoop.deallocate()
            wakeup.deallocate()
            throw LoopError(code: asyncCode, operation: "uv_async_init")
        }
        // The loop's data points at its owner without retaining it: the thread
        // holds a strong reference for as long as it runs.
        uvLoop.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let retained = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, nil, { raw in
            // invariant: pthread_create passes back the pointer it was given.
            let loop = Unmanaged<EventLoop>.fromOpaque(raw!).takeRetainedValue()
            loop.threadMain()
            return nil
        }, retained)
        if created != 0 {
            Unmanaged<EventLoop>.fromOpaque(retained).release()
            uv_close(UnsafeMutableRawPointer(wakeup).assumingMemoryBound(to: uv_handle_t.self), nil)
            uv_run(uvLoop, UV_RUN_DEFAULT)
            uv_loop_close(uvLoop)
            uvLoop.deallocate()
            wakeup.deallocate()
            throw LoopError(code: -created, operation: "pthread_create")
        }
    }

    deinit {
        uvLoop.deallocate()
        wakeup.deallocate()
    }

    static func owner(of handle: UnsafeMutablePointer<uv_async_t>) -> EventLoop? {
        guard let raw = handle.pointee.loop?.pointee.data else { return nil }
        return Unmanaged<EventLoop>.fromOpaque(raw).takeUnretainedValue()
    }

    /// The CPU time the loop's thread has used so far (any thread; nil once
    /// the thread has ended or if the system cannot tell).
    public func threadCPUTime() -> Duration? {
        guard !joined.withLock({ $0 }) else { return nil }
        var clock = clockid_t()
        guard pthread_getcpuclockid(thread, &clock) == 0 else { return nil }
        var time = timespec()
        guard clock_gettime(clock, &time) == 0 else { return nil }
        return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
    }

    /// The loop whose thread is calling, if the caller is a loop thread.
    public static var current: EventLoop? { CurrentLoop.loop }

    /// The driver of the loop whose thread is calling, if the caller is a loop thread.
    public static var currentDriver: (any LoopDriver)? { CurrentLoop.loop?.driver }

    /// A timer's callback ran (loop thread): what it did may have made work
    /// for the driver, so the libuv iteration under way must not block.
    /// libuv (1.44) runs due timers at the start of an iteration and then
    /// polls with a timeout that knows nothing of the driver's work: a timer
    /// already due when the loop went to sleep fired, and its process then
    /// waited for the next wakeup (the next I/O, job or timer, possibly never).
    func timerFired() {
        if runningSlices { uv_stop(uvLoop) }
    }

    /// Whether the caller runs on this loop's thread.
    public var inEventLoop: Bool { CurrentLoop.loop === self }

    /// Runs `job` on the loop thread, soon. Callable from any thread; jobs run
    /// in submission order. Jobs submitted after the loop stopped never run.
    public func execute(_ job: @escaping Job) {
        submissions.withLock { $0.append(job) }
        hasSubmissions.store(true, ordering: .sequentiallyConsistent)
        wake()
    }

    /// Wakes the loop if it sleeps or is about to: call after handing the
    /// driver work from another thread. Cheap when the loop is awake.
    public func wake() {
        // Load first: an exchange would write the line the loop thread keeps
        // reading while it spins. Both sides use sequentially consistent
        // operations (the producer's publish, then this load; the loop's
        // `sleeping = true`, then its look for work), so one sees the other.
        if sleeping.load(ordering: .sequentiallyConsistent),
           sleeping.exchange(false, ordering: .sequentiallyConsistent) {
            sendWakeup()
        }
    }

    private func sendWakeup() {
        wakeupClosed.withLock { closed in
            if !closed { uv_async_send(wakeup) }
        }
    }

    /// Asks the loop to stop, waits for its thread, and reports how it closed.
    ///
    /// Jobs already submitted run first, then the driver's `loopWillStop`;
    /// then every handle still open is closed, and the loop is closed. Must not
    /// be called from the loop's own thread. Calling it again returns the same result.
    @discardableResult
    public func shutdown() throws(LoopError) -> ShutdownReport {
        // invariant: joining the current thread would deadlock; this is a programming error.
        precondition(!inEventLoop, "EventLoop.shutdown() called on its own thread")
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        sleeping.store(false, ordering: .sequentiallyConsistent)
        sendWakeup()
        let mustJoin = joined.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if mustJoin { pthread_join(thread, nil) }
        let outcome = result.withLock { $0 } ?? .failure(LoopError(code: UV_EINVAL.rawValue, operation: "EventLoop.shutdown"))
        return try outcome.get()
    }

    // MARK: - The loop thread

    private func threadMain() {
        let threadName = String(decoding: name.utf8.prefix(15), as: UTF8.self)
        _ = pthread_setname_np(pthread_self(), threadName)
        CurrentLoop.set(self)
        runningSlices = true
        runUntilStopped()
        runningSlices = false
        let outcome = close()
        driver = nil
        CurrentLoop.set(nil)
        result.withLock { $0 = outcome }
    }

    private func pendingWork(_ driver: (any LoopDriver)?) -> Bool {
        if hasSubmissions.load(ordering: .sequentiallyConsistent) { return true }
        return driver?.hasPendingWork() ?? false
    }

    private func runUntilStopped() {
        // A non-blocking poll is a syscall (epoll_wait): while work keeps
        // coming, poll libuv every `pollInterval` slices, not after each one.
        let pollInterval = 64
        // Read the driver once: loading the stored property in the spin loop
        // retains and releases it each time, and its reference count is a cache
        // line that producers on other threads write too.
        let driver = self.driver
        var slicesSincePoll = 0
        while !stopRequested.load(ordering: .relaxed) {
            if hasSubmissions.load(ordering: .relaxed) { drainSubmissions() }
            let busy = driver?.runReadyWork(on: self) ?? false
            slicesSincePoll += 1
            if slicesSincePoll >= pollInterval || pollRequested {
                slicesSincePoll = 0
                pollRequested = false
                uv_run(uvLoop, UV_RUN_NOWAIT)
            }
            if busy { continue }
            // Out of work: from here to the next slice is idle time (one clock
            // read each way, only when the loop runs dry).
            let idleStart = Self.monotonicNanoseconds()
            idleSince = idleStart
            driver?.willIdle(at: idleStart)
            defer {
                idleNanoseconds &+= Self.monotonicNanoseconds() &- idleStart
                idleSince = 0
            }
            if spinUntilWork(driver, from: idleStart) { continue }
            sleeping.store(true, ordering: .sequentiallyConsistent)
            if pendingWork(driver) || stopRequested.load(ordering: .sequentiallyConsistent) {
                sleeping.store(false, ordering: .relaxed)
                continue
            }
            uv_run(uvLoop, UV_RUN_ONCE)
            sleeping.store(false, ordering: .relaxed)
        }
    }

    /// Looks for work for up to `spinNanoseconds` from `start` before
    /// sleeping; returns whether some arrived.
    private func spinUntilWork(_ driver: (any LoopDriver)?, from start: UInt64) -> Bool {
        guard spinNanoseconds > 0 else { return false }
        while true {
            for _ in 0..<64 where pendingWork(driver) || stopRequested.load(ordering: .relaxed) {
                return true
            }
            if Self.monotonicNanoseconds() &- start > spinNanoseconds { return false }
        }
    }

    /// The monotonic clock, in nanoseconds (what the idle figures are measured on).
    public static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    func drainSubmissions() {
        hasSubmissions.store(false, ordering: .sequentiallyConsistent)
        let jobs = submissions.withLock { queue -> [Job] in
            let taken = queue
            queue.removeAll()
            return taken
        }
        for job in jobs { job() }
    }

    private func close() -> Result<ShutdownReport, LoopError> {
        // Jobs submitted before the stop still run: a submitter may wait on them.
        drainSubmissions()
        driver?.loopWillStop(self)
        drainSubmissions()
        uv_run(uvLoop, UV_RUN_NOWAIT)
        wakeupClosed.withLock { closed in
            closed = true
            uv_close(UnsafeMutableRawPointer(wakeup).assumingMemoryBound(to: uv_handle_t.self), nil)
        }
        // Every handle still open now was left open by its owner (the wakeup is closing).
        var leaked = 0
        withUnsafeMutablePointer(to: &leaked) { counter in
            uv_walk(uvLoop, { handle, arg in
                guard let handle, let arg, uv_is_closing(handle) == 0 else { return }
                arg.assumingMemoryBound(to: Int.self).pointee += 1
                LoopHandle.close(handle)
            }, counter)
        }
        uv_run(uvLoop, UV_RUN_DEFAULT)
        let code = uv_loop_close(uvLoop)
        if code < 0 { return .failure(LoopError(code: code, operation: "uv_loop_close")) }
        return .success(ShutdownReport(handlesClosedAtStop: leaked))
    }
}
