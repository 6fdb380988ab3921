import Metrics
import Synchronization
import CalfControl

/// The figures of the shell's `stats`, reported to swift-metrics (whatever
/// backend the program bootstraps with `MetricsSystem.bootstrap`; none: no
/// sampling at all).
///
/// Sampled every `NodeMetrics.interval` from each scheduler's own thread:
/// - gauges `calf_scheduler_processes`, `calf_scheduler_run_queue` (dimension `scheduler`),
///   `calf_processes` (dimensions `scheduler`, `status`);
/// - counter `calf_messages_handled` (dimension `scheduler`);
/// - and each layer's own (`NodeLayer.sampleMetrics`; the durable layer's:
///   `DurableMetrics`).
package enum NodeMetrics {
    /// How often the schedulers are sampled.
    package static let interval: Duration = .seconds(1)

    /// What one scheduler reported last, to turn totals into increments.
    package final class SchedulerSample {
        package let processes: Gauge
        package let runQueue: Gauge
        package let handled: Counter
        package var lastHandled: UInt64 = 0
        package var statuses: [String: Gauge] = [:]
        package let index: String
        package let factory: any MetricsFactory

        package init(index: Int, factory: any MetricsFactory) {
            self.index = String(index)
            self.factory = factory
            let dimensions = [("scheduler", self.index)]
            processes = Gauge(label: "calf_scheduler_processes", dimensions: dimensions, factory: factory)
            runQueue = Gauge(label: "calf_scheduler_run_queue", dimensions: dimensions, factory: factory)
            handled = Counter(label: "calf_messages_handled", dimensions: dimensions, factory: factory)
        }

        /// Records `scheduler`'s figures (its thread).
        package func record(_ scheduler: Scheduler) {
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
}

extension Node {
    /// Samples the schedulers into swift-metrics every `NodeMetrics.interval`
    /// until the node stops (or is gone).
    package func startMetricsSampling() {
        // No backend, nobody to report to: a sample walks every process, so
        // it is not taken for nothing (a node of a million processes would
        // pay ~100 ms of a scheduler's time each second).
        guard !(core.metrics is NOOPMetricsHandler) else { return }
        let boxed = metricSamples
        Task.detached { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: NodeMetrics.interval)
                guard let node = self, node.isRunning else { return }
                await node.sampleMetrics(boxed)
            }
        }
    }

    /// Takes the metrics' sample now rather than at the next second (tests).
    package func sampleMetricsNow() async {
        await sampleMetrics(metricSamples)
    }

    private func sampleMetrics(_ samples: UncheckedBox<[NodeMetrics.SchedulerSample]>) async {
        for (scheduler, sample) in zip(schedulers, samples.value) {
            // invariant: each sample is touched only on its scheduler's thread (here, one at a time).
            let one = UncheckedBox(sample)
            await onLoop(scheduler) { scheduler in one.value.record(scheduler) }
        }
        for layer in core.attachedLayers { layer.sampleMetrics() }
    }
}
