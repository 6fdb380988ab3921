/// A supervisor and its children as the shell's `tree` draws them.
public struct SupervisionReport: Codable, Sendable, Equatable {
    /// One child.
    public struct Child: Codable, Sendable, Equatable {
        /// Its id (the template's id for a dynamic child).
        public var id: String
        /// Its pid, printed, when running.
        public var pid: String?
        /// `worker` or `supervisor`.
        public var kind: String
        /// `running`, `passivated` (a durable child out of RAM, still running as far as its supervisor is concerned), `restarting` or `stopped`.
        public var status: String
        /// Its behavior's name.
        public var behavior: String
        /// Restarts counted by its supervisor.
        public var restarts: Int
        /// Why its last process ended.
        public var lastExit: String?
        /// For a running supervisor child: its own report (zero or one).
        public var supervisor: [SupervisionReport]

        /// A child's report.
        public init(id: String, pid: String?, kind: String, status: String, behavior: String, restarts: Int, lastExit: String?, supervisor: [SupervisionReport]) {
            self.id = id
            self.pid = pid
            self.kind = kind
            self.status = status
            self.behavior = behavior
            self.restarts = restarts
            self.lastExit = lastExit
            self.supervisor = supervisor
        }
    }

    /// Its id.
    public var id: String
    /// Its pid, printed.
    public var pid: String
    /// Its strategy.
    public var strategy: String
    /// Restarts allowed within `periodSeconds`.
    public var intensity: Int
    /// The intensity's window.
    public var periodSeconds: Double
    /// Whether it journals its children.
    public var durable: Bool
    /// Restarts it made since it started (or, durable, ever).
    public var restarts: Int
    /// Its children in order.
    public var children: [Child]

    /// A supervisor's report.
    public init(id: String, pid: String, strategy: String, intensity: Int, periodSeconds: Double, durable: Bool, restarts: Int, children: [Child]) {
        self.id = id
        self.pid = pid
        self.strategy = strategy
        self.intensity = intensity
        self.periodSeconds = periodSeconds
        self.durable = durable
        self.restarts = restarts
        self.children = children
    }
}
