import CalfControl

extension Node {
    /// Samples the node's figures twice, `window` apart, for rates (once,
    /// its rates zero, when `window` is zero).
    public func stats(window: Duration = .milliseconds(250)) async -> NodeStats {
        func sample() async -> [SchedulerCensus] {
            var samples: [SchedulerCensus] = []
            for scheduler in schedulers {
                samples.append(await onLoop(scheduler) { $0.census() })
            }
            return samples
        }
        let began = ContinuousClock.now
        let layerStats = core.attachedLayers.map { $0.beginStats() }
        let first = await sample()
        // A zero window (top keeps its own rates) samples once.
        if window > .zero { try? await Task.sleep(for: window) }
        let second = window > .zero ? await sample() : first
        let elapsed = ContinuousClock.now - began
        let seconds = max(1e-9, elapsed.seconds)
        let log = layerStats.lazy.compactMap { $0(seconds) }.first
        var statuses: [String: Int] = [:]
        for entry in second { statuses.merge(entry.statuses, uniquingKeysWith: +) }
        let schedulerStats = zip(first, second).enumerated().map { index, pair in
            NodeStats.SchedulerStats(
                index: index, processes: pair.1.processes, runQueue: pair.1.runQueue,
                messagesPerSecond: Double(pair.1.handled &- min(pair.1.handled, pair.0.handled)) / seconds,
                parked: schedulers[index].parked.load(ordering: .relaxed))
        }
        return NodeStats(schedulers: schedulerStats, processesByStatus: statuses, log: log, windowSeconds: seconds,
                         processesMoved: core.processesMoved.load(ordering: .relaxed), http: core.httpCounters.report)
    }
}

/// What a scheduler hosts, counted on its thread (for `stats` and the metrics).
package struct SchedulerCensus: Sendable {
    /// Processes it hosts.
    package var processes: Int
    /// Processes in its run queue.
    package var runQueue: Int
    /// Messages its live processes have handled, in all.
    package var handled: UInt64
    /// Its processes by status (`ProcessCell.reportedStatus`).
    package var statuses: [String: Int]
}

extension Scheduler {
    /// Counts its processes (its own thread).
    package func census() -> SchedulerCensus {
        var statuses: [String: Int] = [:]
        var handled: UInt64 = 0
        for cell in processes.values {
            handled &+= cell.handled
            statuses[cell.reportedStatus, default: 0] += 1
        }
        return SchedulerCensus(processes: processes.count, runQueue: runQueue.count, handled: handled, statuses: statuses)
    }
}
