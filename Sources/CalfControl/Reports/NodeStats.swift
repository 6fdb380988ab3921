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
        /// Whether the balancer parked it (compaction): it runs what
        /// is left on it, and nothing moves or spreads to it.
        public var parked: Bool

        /// A scheduler's figures.
        public init(index: Int, processes: Int, runQueue: Int, messagesPerSecond: Double, parked: Bool = false) {
            self.index = index
            self.processes = processes
            self.runQueue = runQueue
            self.messagesPerSecond = messagesPerSecond
            self.parked = parked
        }
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

        /// The journal's figures.
        public init(commits: UInt64, records: UInt64, recordsPerSecond: Double, commitP50Milliseconds: Double?, commitP99Milliseconds: Double?,
                    usedBytes: Int, mapBytes: Int, mapGrowths: Int, restarts: Int, deadLettered: Int) {
            self.commits = commits
            self.records = records
            self.recordsPerSecond = recordsPerSecond
            self.commitP50Milliseconds = commitP50Milliseconds
            self.commitP99Milliseconds = commitP99Milliseconds
            self.usedBytes = usedBytes
            self.mapBytes = mapBytes
            self.mapGrowths = mapGrowths
            self.restarts = restarts
            self.deadLettered = deadLettered
        }
    }

    /// The HTTP API's figures (a node serving one).
    public struct HTTPStats: Codable, Sendable, Equatable {
        /// Where it listens: `http://HOST:PORT`.
        public var address: String
        /// Requests answered since the node started.
        public var requests: UInt64
        /// Of those, answered with a 4xx.
        public var clientErrors: UInt64
        /// Of those, answered with a 5xx (a refusal under load, a failed commit).
        public var serverErrors: UInt64
        /// Requests being served now.
        public var inFlight: Int

        /// The API's figures.
        public init(address: String, requests: UInt64, clientErrors: UInt64, serverErrors: UInt64, inFlight: Int) {
            self.address = address
            self.requests = requests
            self.clientErrors = clientErrors
            self.serverErrors = serverErrors
            self.inFlight = inFlight
        }
    }

    /// The schedulers.
    public var schedulers: [SchedulerStats]
    /// Live processes by status (`waiting`, `runnable`, `suspended`, …).
    public var processesByStatus: [String: Int]
    /// The journal, if the node has one.
    public var log: LogStats?
    /// The sampling window the rates are over, in seconds.
    public var windowSeconds: Double
    /// Processes moved between schedulers since the node started (by the
    /// balancer, a placement or an operator's `move`).
    public var processesMoved: Int
    /// The HTTP API, if the node serves one.
    public var http: HTTPStats?

    /// The node's figures.
    public init(schedulers: [SchedulerStats], processesByStatus: [String: Int], log: LogStats?, windowSeconds: Double, processesMoved: Int = 0,
                http: HTTPStats? = nil) {
        self.schedulers = schedulers
        self.processesByStatus = processesByStatus
        self.log = log
        self.windowSeconds = windowSeconds
        self.processesMoved = processesMoved
        self.http = http
    }
}
