/// Work that an `EventLoop` runs on its thread between polls of libuv.
///
/// The Calf runtime's scheduler is a driver: its run queue of processes is
/// ready work. CalfLoop itself knows nothing of processes.
public protocol LoopDriver: AnyObject, Sendable {
    /// Runs a slice of ready work on the loop thread.
    /// - Returns: `true` if more work is ready right now (the loop will not sleep).
    func runReadyWork(on loop: EventLoop) -> Bool

    /// Whether other threads have handed this driver work that is not yet run.
    /// Called on the loop thread just before it sleeps, after it announced
    /// that it is going to sleep; a producer that adds work and then calls
    /// `EventLoop.wake()` is therefore never missed.
    func hasPendingWork() -> Bool

    /// Called on the loop thread when it runs out of work, before it spins
    /// and sleeps; `nanoseconds` is the monotonic clock then. Default: nothing.
    func willIdle(at nanoseconds: UInt64)

    /// Called once on the loop thread when the loop stops, before libuv
    /// handles are closed: the driver closes its own handles here.
    func loopWillStop(_ loop: EventLoop)
}

extension LoopDriver {
    /// Does nothing.
    public func willIdle(at nanoseconds: UInt64) {}
}
