import Metrics
import Synchronization
import CalfControl
import CalfRuntime

/// The durable layer's figures in swift-metrics:
/// - gauges `calf_log_used_bytes`, `calf_log_map_bytes`, counters
///   `calf_durable_restarts`, `calf_dead_letters`, sampled with the
///   schedulers every `NodeMetrics.interval` (`DurableCore.sampleMetrics`);
/// - counters `calf_log_commits` and `calf_log_records`, timer
///   `calf_commit_duration` (from a batch's first record to its commit, per
///   batch), recorded by the journal's writer at each group commit.
package enum DurableMetrics {
    /// The handles the writer records into, made once.
    package struct Writer: Sendable {
        package let commits: Counter
        package let records: Counter
        package let commitDuration: Metrics.Timer

        package init(_ factory: any MetricsFactory) {
            commits = Counter(label: "calf_log_commits", factory: factory)
            records = Counter(label: "calf_log_records", factory: factory)
            commitDuration = Metrics.Timer(label: "calf_commit_duration", factory: factory)
        }
    }

    /// The journal's gauges and counters.
    package final class LogSample: Sendable {
        package let used: Gauge
        package let map: Gauge
        package let restarts: Counter
        package let deadLetters: Counter
        private let last = Mutex((restarts: 0, deadLetters: 0))

        package init(_ factory: any MetricsFactory) {
            used = Gauge(label: "calf_log_used_bytes", factory: factory)
            map = Gauge(label: "calf_log_map_bytes", factory: factory)
            restarts = Counter(label: "calf_durable_restarts", factory: factory)
            deadLetters = Counter(label: "calf_dead_letters", factory: factory)
        }

        package func record(_ durable: DurableCore) {
            used.record(durable.journal.environment.usedBytes)
            map.record(durable.journal.environment.mapSize)
            let (restartsNow, deadNow) = (durable.restarts, durable.deadLettered)
            let (restartsBefore, deadBefore) = last.withLock { last in
                defer { last = (restartsNow, deadNow) }
                return last
            }
            if restartsNow > restartsBefore { restarts.increment(by: Int64(restartsNow - restartsBefore)) }
            if deadNow > deadBefore { deadLetters.increment(by: Int64(deadNow - deadBefore)) }
        }
    }
}
