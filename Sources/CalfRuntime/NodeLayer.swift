import CalfControl

/// A layer built on the runtime that a node carries: the durable layer
/// (`DurableCore`), supervision (`SupervisionLayer`). The runtime knows
/// them only through this protocol: it finds one by its type
/// (`NodeCore.layer(_:)`) and tells each of them when the node settles,
/// samples its metrics and stops.
///
/// Attached once (`NodeCore.attach(_:)`) and kept for the node's life.
package protocol NodeLayer: AnyObject, Sendable {
    /// Before the node stops its processes, in reverse order of attachment
    /// (supervision stops its trees, then the durable layer takes its last
    /// checkpoint).
    func nodeWillStopProcesses() async
    /// After the schedulers have stopped.
    func nodeDidStop() async
    /// The start of a round of `Node.settled()`: returns what to ask once
    /// the schedulers have handed over what their runs collected — true if
    /// the layer was idle through the round.
    func beginSettleRound() -> (@Sendable () async -> Bool)
    /// Samples the layer's figures into swift-metrics (each second).
    func sampleMetrics()
    /// The start of a `Node.stats(window:)` sample: returns what gives the
    /// layer's part of the figures at its end, given the window in seconds.
    func beginStats() -> (@Sendable (Double) -> NodeStats.LogStats?)
    /// The node is gone (a layer that refers to its schedulers lets go of them).
    func nodeDeinit()
    /// The live process `target` (a registered name or a printed pid) names
    /// if this layer keeps it out of the schedulers' tables and can bring
    /// it back (the durable layer's passivated processes); nil otherwise.
    func activate(_ target: String) async -> ProcessCell?
    /// Runs `body` on the owner's thread of the live process `target`
    /// names, if this layer keeps that process (brought back in the same
    /// job if it is out of RAM, so that it cannot leave in between); nil
    /// if the layer keeps no process of that name or pid.
    func withLiveProcess<T: Sendable>(_ target: String, _ body: @escaping @Sendable (ProcessCell) -> T) async -> T?
}

extension NodeLayer {
    package func nodeWillStopProcesses() async {}
    package func nodeDidStop() async {}
    package func beginSettleRound() -> (@Sendable () async -> Bool) { { true } }
    package func sampleMetrics() {}
    package func beginStats() -> (@Sendable (Double) -> NodeStats.LogStats?) { { _ in nil } }
    package func nodeDeinit() {}
    package func activate(_ target: String) async -> ProcessCell? { nil }
    package func withLiveProcess<T: Sendable>(_ target: String, _ body: @escaping @Sendable (ProcessCell) -> T) async -> T? { nil }
}

/// What a layer above the runtime keeps on one scheduler, on its thread
/// (the durable layer's commit batch): told when each run of ready work
/// ends, so that what the run collected goes on, and when the loop stops.
///
/// Thread ownership: made and used on the scheduler's thread only.
package protocol SchedulerAttachment: AnyObject {
    /// A run of ready work ended, or someone (`Node.settled()`) asks for
    /// what the runs collected so far to go on (loop thread).
    func runEnded(_ scheduler: Scheduler)
    /// The loop is stopping (loop thread).
    func loopWillStop(_ scheduler: Scheduler)
}

extension SchedulerAttachment {
    package func loopWillStop(_ scheduler: Scheduler) { runEnded(scheduler) }
}
