import CalfDurable
import CalfRuntime
import CalfSupervision
import Dispatch
import Metrics

// Opening a durable node needs every layer: the durable one recovers the
// directory, supervision first stops the commands (ports) a killed
// predecessor left running on it.

extension Node {
    /// Starts a node on a data directory: opens its journal and brings back
    /// every durable process it holds (state, name, mailbox, timers) before
    /// returning. `recovery` tells what was found.
    /// - Throws: `DurableError.dataDirectoryInUse` if another node serves
    ///   the directory, `StoreError` if it cannot be opened, `LoopError` if a
    ///   scheduler cannot start.
    public convenience init(
        schedulers: Int = Node.coreCount, budget: Int = 100, durable options: DurableOptions, metrics: (any MetricsFactory)? = nil,
        clock: ManualClock? = nil
    ) throws {
        try self.init(
            schedulers: schedulers, budget: budget, durable: options, metrics: metrics, clock: clock,
            beforeRecovery: { PortRecords.stopLeftovers(data: $0) })
    }
}

extension Node {
    /// Opens a node on a data directory as `init(durable:)` does, without
    /// holding a thread of Swift's cooperative pool while it recovers (a
    /// large directory takes seconds): recovery runs on a Dispatch thread.
    /// - Throws: what `init(durable:)` throws.
    public static func open(
        schedulers: Int = Node.coreCount, budget: Int = 100, durable options: DurableOptions, metrics: (any MetricsFactory)? = nil
    ) async throws -> Node {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try Node(schedulers: schedulers, budget: budget, durable: options, metrics: metrics) })
            }
        }
    }
}
