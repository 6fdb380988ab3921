import Metrics
import Synchronization

/// The figures of the shell's `stats`, reported to swift-metrics (whatever
/// backend the program bootstraps with `MetricsSystem.bootstrap`; none: no
/// cost beyond the sampling).
///
/// Sampled every `NodeMetrics.interval` from each scheduler's own thread:
/// - gauges `calf_scheduler_processes`, `calf_scheduler_run_queue` (dimension `scheduler`),
///   `calf_processes` (dimensions `scheduler`, `status`);
/// - counter `calf_messages_handled` (dimension `scheduler`);
/// - gauges `calf_log_used_bytes`, `calf_log_map_bytes`, counters
///   `calf_durable_restarts`, `calf_dead_letters` (a node with a data directory).
///
/// Recorded by the journal's writer at each group commit: counters
/// `calf_log_commits` and `calf_log_records`, timer `calf_commit_duration`
/// (from a batch's first record to its commit, per batch).
enum NodeMetrics {
    /// How often the schedulers are sampled.
    static let interval: Duration = .seconds(1)

    /// The handles the writer records into, made once.
    struct Writer: Sendable {
        let commits: Counter
        let records: Counter
        let commitDuration: Metrics.Timer

        init(_ factory: any MetricsFactory) {
            commits = Counter(label: "calf_log_commits", factory: factory)
            records = Counter(label: "calf_log_records", factory: factory)
            commitDuration = Metrics.Timer(label: "calf_commit_duration", factory: factory)
        }
    }

    /// What one scheduler reported last, to turn totals into increments.
    final class SchedulerSample {
        let processes: Gauge
        let runQueue: Gauge
        let handled: Counter
        var lastHandled: UInt64 = 0
        var statuses: [String: Gauge] = [:]
        let index: String
        let factory: any MetricsFactory

        init(index: Int, factory: any MetricsFactory) {
            self.index = String(index)
            self.factory = factory
            let dimensions = [("scheduler", self.index)]
            processes = Gauge(label: "calf_scheduler_processes", dimensions: dimensions, factory: factory)
            runQueue = Gauge(label: "calf_scheduler_run_queue", dimensions: dimensions, factory: factory)
            handled = Counter(label: "calf_messages_handled", dimensions: dimensions, factory: factory)
        }

        /// Records `scheduler`'s figures (its thread).
        func record(_ scheduler: Scheduler) {
            let census = scheduler.census()
            processes.record(census.processes)
            runQueue.record(census.runQueue)
            // Exited processes take their counts with them: never a negative increment.
            if census.handled > lastHandled { handled.increment(by: Int64(census.handled - lastHandled)) }
            lastHandled = census.handled
            for status in Set(statuses.keys).union(census.statuses.keys) {
                let gauge = statuses[status] ?? Gauge(label: "calf_processes", dimensions: [("scheduler", index), ("status", status)], factory: factory)
                statuses[status] = gauge
                gauge.record(census.statuses[status] ?? 0)
            }
        }
    }

    /// The journal's gauges and counters.
    final class LogSample: Sendable {
        let used: Gauge
        let map: Gauge
        let restarts: Counter
        let deadLetters: Counter
        private let last = Mutex((restarts: 0, deadLetters: 0))

        init(_ factory: any MetricsFactory) {
            used = Gauge(label: "calf_log_used_bytes", factory: factory)
            map = Gauge(label: "calf_log_map_bytes", factory: factory)
            restarts = Counter(label: "calf_durable_restarts", factory: factory)
            deadLetters = Counter(label: "calf_dead_letters", factory: factory)
        }

        func record(_ durable: DurableCore) {
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

extension Node {
    /// Samples the schedulers into swift-metrics every `NodeMetrics.interval`
    /// until the node stops (or is gone).
    func startMetricsSampling() {
        let boxed = metricSamples
        let log = metricLogSample
        Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: NodeMetrics.interval)
                guard let node = self, node.isRunning else { return }
                await node.sampleMetrics(boxed, log: log)
            }
        }
    }

    /// Takes the metrics' sample now rather than at the next second (tests).
    package func sampleMetricsNow() async {
        await sampleMetrics(metricSamples, log: metricLogSample)
    }

    private func sampleMetrics(_ samples: UncheckedBox<[NodeMetrics.SchedulerSample]>, log: NodeMetrics.LogSample) async {
        for (scheduler, sample) in zip(schedulers, samples.value) {
            // invariant: each sample is touched only on its scheduler's thread (here, one at a time).
            let one = UncheckedBox(sample)
            await onLoop(scheduler) { scheduler in one.value.record(scheduler) }
        }
        if let durable = core.durable { log.record(durable) }
    }
}
