/// The node's figures, for the shell's `stats`.
public struct NodeStats: Codable, Sendable, Equatable {
    /// One scheduler.
    public struct SchedulerStats: Codable, Sendable, Equatable {
        /// Its index.
        public var index: Int
        /// Processes it hosts.
        public var processes: Int
        /// Processes waiting in its run queue.
        public var runQueue: Int
        /// Messages its processes handled per second, over the sampling window.
        public var messagesPerSecond: Double
    }

    /// The journal's figures (a node with a data directory).
    public struct LogStats: Codable, Sendable, Equatable {
        /// Group commits since the node started.
        public var commits: UInt64
        /// Records written since the node started.
        public var records: UInt64
        /// Records per second, over the sampling window.
        public var recordsPerSecond: Double
        /// Commit latency of the latest commits, median and 99th percentile (ms).
        public var commitP50Milliseconds: Double?
        /// See `commitP50Milliseconds`.
        public var commitP99Milliseconds: Double?
        /// Bytes of the map in use.
        public var usedBytes: Int
        /// The map's size.
        public var mapBytes: Int
        /// Times the map grew.
        public var mapGrowths: Int
        /// Durable processes restarted in place since the node started.
        public var restarts: Int
        /// Messages set aside as dead letters since the node started.
        public var deadLettered: Int
    }

    /// The schedulers.
    public var schedulers: [SchedulerStats]
    /// Live processes by status (`waiting`, `runnable`, `suspended`, …).
    public var processesByStatus: [String: Int]
    /// The journal, if the node has one.
    public var log: LogStats?
    /// The sampling window the rates are over, in seconds.
    public var windowSeconds: Double
}

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
        let first = await sample()
        let firstLog = commitStatistics
        // A zero window (top keeps its own rates) samples once.
        if window > .zero { try? await Task.sleep(for: window) }
        let second = window > .zero ? await sample() : first
        let lastLog = commitStatistics
        let elapsed = ContinuousClock.now - began
        let seconds = max(1e-9, elapsed.seconds)
        var statuses: [String: Int] = [:]
        for entry in second { statuses.merge(entry.statuses, uniquingKeysWith: +) }
        let schedulerStats = zip(first, second).enumerated().map { index, pair in
            NodeStats.SchedulerStats(
                index: index, processes: pair.1.processes, runQueue: pair.1.runQueue,
                messagesPerSecond: Double(pair.1.handled &- min(pair.1.handled, pair.0.handled)) / seconds)
        }
        var log: NodeStats.LogStats?
        if let durable = core.durable, let firstLog, let lastLog {
            func milliseconds(_ duration: Duration?) -> Double? {
                duration.map { $0.seconds * 1000 }
            }
            log = NodeStats.LogStats(
                commits: lastLog.commits, records: lastLog.records,
                recordsPerSecond: Double(lastLog.records &- min(lastLog.records, firstLog.records)) / seconds,
                commitP50Milliseconds: milliseconds(lastLog.latency(quantile: 0.5)),
                commitP99Milliseconds: milliseconds(lastLog.latency(quantile: 0.99)),
                usedBytes: durable.journal.environment.usedBytes, mapBytes: lastLog.mapSize, mapGrowths: lastLog.mapGrowths,
                restarts: durable.restarts, deadLettered: durable.deadLettered)
        }
        return NodeStats(schedulers: schedulerStats, processesByStatus: statuses, log: log, windowSeconds: seconds)
    }
}

/// What a scheduler hosts, counted on its thread (for `stats` and the metrics).
struct SchedulerCensus: Sendable {
    /// Processes it hosts.
    var processes: Int
    /// Processes in its run queue.
    var runQueue: Int
    /// Messages its live processes have handled, in all.
    var handled: UInt64
    /// Its processes by status (`ProcessCell.reportedStatus`).
    var statuses: [String: Int]
}

extension Scheduler {
    /// Counts its processes (its own thread).
    func census() -> SchedulerCensus {
        var statuses: [String: Int] = [:]
        var handled: UInt64 = 0
        for cell in processes.values {
            handled &+= cell.handled
            statuses[cell.reportedStatus, default: 0] += 1
        }
        return SchedulerCensus(processes: processes.count, runQueue: runQueue.count, handled: handled, statuses: statuses)
    }
}
