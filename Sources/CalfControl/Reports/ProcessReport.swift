/// What the runtime knows of one live process, for the shell's `ps` and `info`.
public struct ProcessReport: Codable, Sendable, Equatable {
    /// Its pid, printed (`<0.7>`, or `<0.SEQ.I>` for a durable one).
    public var pid: String
    /// Its registered name, if any.
    public var name: String?
    /// Its behavior's name.
    public var behavior: String
    /// The scheduler it runs on.
    public var scheduler: Int
    /// `runnable` (in a run queue), `waiting` (for mail), `suspended` (by
    /// the operator), or a durable process's `recovering`, `stopping` or `quarantined`.
    public var status: String
    /// Messages waiting in its mailbox.
    public var mailbox: Int
    /// Messages handled so far (this run of the node).
    public var handled: UInt64
    /// Restarts in place (a durable process's rebuilds).
    public var restarts: UInt64
    /// Bytes it holds (the process object and its mailbox buffer; an estimate).
    public var memory: Int
    /// Whether it is durable.
    public var durable: Bool
    /// Traps exits.
    public var trapsExits: Bool
    /// Processes it is linked to.
    public var links: [String]
    /// Processes monitoring it.
    public var monitoredBy: [String]
    /// Why it is quarantined (durable only).
    public var quarantine: String?

    /// A report with every field given.
    public init(pid: String, name: String?, behavior: String, scheduler: Int, status: String, mailbox: Int, handled: UInt64, restarts: UInt64,
                memory: Int, durable: Bool, trapsExits: Bool, links: [String], monitoredBy: [String], quarantine: String?) {
        self.pid = pid
        self.name = name
        self.behavior = behavior
        self.scheduler = scheduler
        self.status = status
        self.mailbox = mailbox
        self.handled = handled
        self.restarts = restarts
        self.memory = memory
        self.durable = durable
        self.trapsExits = trapsExits
        self.links = links
        self.monitoredBy = monitoredBy
        self.quarantine = quarantine
    }
}
