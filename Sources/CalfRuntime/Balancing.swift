/// How a node's schedulers share out their processes (`Scheduler+Balance`).
///
/// Each busy scheduler measures, every `tick`, the share of its time it
/// spent running work (its loop's idle time subtracted), and publishes it
/// with its run queue's length. From those figures:
///
/// - **Stealing.** A scheduler that runs out of work while another has at
///   least `stealAtQueued` runnable processes asks it for half of them;
///   a busy scheduler whose queue stays long gives half to one that idles
///   (at most 64 at a time: small batches, often), or, when both are
///   busy, half the difference to one with less than half its queue.
/// - **Compaction.** When the load of the active schedulers would fit in
///   one fewer, each under `compactBelow`, the least loaded one is parked:
///   its movable processes go to the others and spreading skips it. The
///   processes that talk to each other then share a thread, and no
///   message pays for a wakeup on another core (the BEAM's scheduler load
///   compaction).
/// - **Spreading.** When every active scheduler is busier than
///   `spreadAbove` with work waiting, a parked one comes back and steals.
///
/// A process moved is not moved again for `settle` (no back and forth);
/// pinned processes and kinds that stay put are never moved.
public struct Balancing: Sendable, Equatable {
    /// Whether the node balances at all.
    public var enabled: Bool
    /// How often a busy scheduler measures its load.
    public var tick: Duration
    /// A scheduler is parked when the others could carry the load each under this share (0–1).
    public var compactBelow: Double
    /// A parked scheduler comes back when every active one is busier than this share (0–1) with work waiting.
    public var spreadAbove: Double
    /// Runnable processes a scheduler must have waiting before an idle one takes some.
    public var stealAtQueued: Int
    /// How long a moved process stays where it went before it may move again.
    public var settle: Duration

    /// Balancing with the given figures.
    public init(enabled: Bool = true, tick: Duration = .milliseconds(10), compactBelow: Double = 0.6,
                spreadAbove: Double = 0.9, stealAtQueued: Int = 4, settle: Duration = .milliseconds(20)) {
        self.enabled = enabled
        self.tick = tick
        self.compactBelow = compactBelow
        self.spreadAbove = spreadAbove
        self.stealAtQueued = max(2, stealAtQueued)
        self.settle = settle
    }

    /// The defaults: on.
    public static let automatic = Balancing()

    /// No balancing: processes stay where they were placed unless moved by
    /// hand (`Node.move`), as tests that follow a process's scheduler want.
    public static let off = Balancing(enabled: false)
}

/// Why the balancer moves a process.
public enum BalancerMove: Sendable {
    /// A scheduler that ran out of work asked for some.
    case steal
    /// A busy scheduler whose queue stays long gives some to an idle one
    /// (at its tick, or in the middle of a long run).
    case share
    /// A busy scheduler gives some of its queue to a busy one with far
    /// less waiting (run queues evened out, as the BEAM does).
    case evenOut
    /// Its scheduler was parked (compaction): everything movable leaves.
    case evacuation
}
