import CalfLoop
import Synchronization
import CalfControl

/// A clock a test moves by hand, for a node whose timers should fire when
/// the test says, not when the wall clock does: `sendAfter`, `sendInterval`,
/// call timeouts, a supervisor's backoff and restart window, a durable
/// process's restart backoff (the model is swift-nio's `EmbeddedEventLoop`,
/// whose time moves only by `advanceTime`).
///
/// ```swift
/// let clock = ManualClock()
/// let node = try Node(schedulers: 1, clock: clock)
/// // … a child crashes; its backoff is 4 s …
/// await clock.advance(by: .seconds(4))   // the restart timer has fired
/// ```
///
/// Time starts at the system's monotonic and wall times when the clock is
/// made and moves only by `advance(by:)`; the node's wall time (when mail
/// is accepted, when a durable timer is due, how old an idempotency key
/// is) moves with it. A clock drives one node at a time: a node made later
/// with the same clock takes it over (a test of a node restart advances it
/// between the two nodes, for the time the node was down).
public final class ManualClock: Sendable {
    private let nanoseconds: Atomic<UInt64>
    private let monotonicStart: UInt64
    private let wallStart: UInt64
    private let driven = Mutex<[Scheduler]>([])

    /// A clock at the system's monotonic and wall times now.
    public init() {
        monotonicStart = monotonicNanoseconds()
        wallStart = WallTime.now.nanosecondsSinceEpoch
        nanoseconds = Atomic(monotonicStart)
    }

    /// Its time, in nanoseconds on the monotonic scale.
    package var now: UInt64 { nanoseconds.load(ordering: .acquiring) }

    /// Its wall time: the wall time it was made at, plus how far it was advanced.
    public var wallNow: WallTime { WallTime(nanosecondsSinceEpoch: wallStart &+ (now &- monotonicStart)) }

    /// The node's schedulers, whose timers it fires (Node.init).
    package func drive(_ schedulers: [Scheduler]) {
        driven.withLock { $0 = schedulers }
    }

    /// Moves time forward by `duration` and fires, on each scheduler's
    /// thread, every timer due by then (in deadline order); returns once
    /// they have run. What they cause (messages, turns) follows as usual.
    public func advance(by duration: Duration) async {
        nanoseconds.wrappingAdd(duration.nanoseconds, ordering: .acquiringAndReleasing)
        for scheduler in driven.withLock({ $0 }) {
            guard !scheduler.closed.load(ordering: .sequentiallyConsistent) else { continue }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                scheduler.loop.execute {
                    scheduler.fireTimers()
                    continuation.resume()
                }
            }
        }
    }
}
