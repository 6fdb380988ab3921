import Metrics
import CalfControl
import CalfRuntime

extension NodeCore {
    /// The durable layer, for a node with a data directory.
    @usableFromInline package var durable: DurableCore? { layer(DurableCore.self) }
}

/// The durable layer as the runtime sees it (`NodeLayer`): what it does as
/// the node settles, samples its figures and stops.
extension DurableCore: NodeLayer {
    /// The effects under way are cancelled (not ended: they run again at
    /// the next start); the last checkpoint, when the options ask for one; then no round
    /// finishes any more. The processes about to stop leave their
    /// schedulers' tables: a round after that would report none of them,
    /// move the log scan's start past what they handled since their last
    /// snapshot and drop those records (measured: the last ticks of a
    /// periodic timer lost at the next start).
    package func nodeWillStopProcesses() async {
        // Effects under way stay in the journal: they run again at the next start.
        effects.stop()
        if options.checkpointAtShutdown { await checkpoint() }
        writer.closeRounds()
    }

    /// Commits what is left, stops the writer, closes the store.
    package func nodeDidStop() async { await close() }

    /// Idle if this round's own (empty) commit is the only one: nothing was
    /// released meanwhile.
    package func beginSettleRound() -> (@Sendable () async -> Bool) {
        let commitsBefore = writer.statistics.withLock { $0.commits }
        return { [self] in
            await drain()
            return writer.statistics.withLock { $0.commits } == commitsBefore + 1
        }
    }

    package func sampleMetrics() { logSample.record(self) }

    /// A passivated process, brought back (for an address of it).
    package func activate(_ target: String) async -> ProcessCell? { await activeCell(target) }

    /// The operator's commands on a durable process, live or passivated.
    package func withLiveProcess<T: Sendable>(_ target: String, _ body: @escaping @Sendable (ProcessCell) -> T) async -> T? {
        guard let pid = durablePid(target) else { return nil }
        return await withLiveCell(pid, body)
    }

    /// The journal's part of `stats`: commits and records over the window,
    /// commit latencies, the store's size, restarts and dead letters.
    package func beginStats() -> (@Sendable (Double) -> NodeStats.LogStats?) {
        let first = commitStatistics
        return { [self] seconds in
            let last = commitStatistics
            func milliseconds(_ duration: Duration?) -> Double? { duration.map { $0.seconds * 1000 } }
            return NodeStats.LogStats(
                commits: last.commits, records: last.records,
                recordsPerSecond: Double(last.records &- min(last.records, first.records)) / seconds,
                commitP50Milliseconds: milliseconds(last.latency(quantile: 0.5)),
                commitP99Milliseconds: milliseconds(last.latency(quantile: 0.99)),
                usedBytes: journal.environment.usedBytes, mapBytes: last.mapSize, mapGrowths: last.mapGrowths,
                restarts: restarts, deadLettered: deadLettered)
        }
    }

    /// The schedulers and this core refer to each other: let go of them.
    package func nodeDeinit() { schedulers = [] }

    /// Figures about the journal's group commits.
    package var commitStatistics: CommitStatistics {
        var statistics = writer.statistics.withLock { $0 }
        statistics.mapGrowths = journal.environment.mapGrowths
        statistics.mapSize = journal.environment.mapSize
        return statistics
    }
}
