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
    /// The bound of its mailbox: a transient process's `MailboxLimit`
    /// capacity, a durable process's limit of mail from outside (nil: unbounded).
    public var mailboxLimit: Int?
    /// What counts against that bound now: a transient process's messages
    /// sent and not yet taken, a durable process's mail from outside not yet
    /// handled (in its mailbox or on its way through the journal).
    public var backlog: Int?
    /// Messages and calls refused for the bound since the process started
    /// (this run of the node).
    public var refused: UInt64?

    /// A report with every field given.
    public init(pid: String, name: String?, behavior: String, scheduler: Int, status: String, mailbox: Int, handled: UInt64, restarts: UInt64,
                memory: Int, durable: Bool, trapsExits: Bool, links: [String], monitoredBy: [String], quarantine: String?,
                mailboxLimit: Int? = nil, backlog: Int? = nil, refused: UInt64? = nil) {
        self.mailboxLimit = mailboxLimit
        self.backlog = backlog
        self.refused = refused
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

extension ProcessReport: JSONWritable, JSONReadable {
    /// Writes the report as its `Codable` form does (keys sorted, nil members left out).
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        if let backlog {
            writer.key("backlog")
            writer.integer(backlog)
        }
        writer.key("behavior")
        writer.string(behavior)
        writer.key("durable")
        writer.bool(durable)
        writer.key("handled")
        writer.unsigned(handled)
        writer.key("links")
        writer.strings(links)
        writer.key("mailbox")
        writer.integer(mailbox)
        if let mailboxLimit {
            writer.key("mailboxLimit")
            writer.integer(mailboxLimit)
        }
        writer.key("memory")
        writer.integer(memory)
        writer.key("monitoredBy")
        writer.strings(monitoredBy)
        if let name {
            writer.key("name")
            writer.string(name)
        }
        writer.key("pid")
        writer.string(pid)
        if let quarantine {
            writer.key("quarantine")
            writer.string(quarantine)
        }
        if let refused {
            writer.key("refused")
            writer.unsigned(refused)
        }
        writer.key("restarts")
        writer.unsigned(restarts)
        writer.key("scheduler")
        writer.integer(scheduler)
        writer.key("status")
        writer.string(status)
        writer.key("trapsExits")
        writer.bool(trapsExits)
        writer.endObject()
    }

    /// Reads what `write(to:)` (or the `Codable` form) wrote.
    public init(reading parser: inout JSONParser) throws(JSONValue.ParseError) {
        var report = ProcessReport(pid: "", name: nil, behavior: "", scheduler: 0, status: "", mailbox: 0, handled: 0, restarts: 0,
                                   memory: 0, durable: false, trapsExits: false, links: [], monitoredBy: [], quarantine: nil)
        // The members read, one bit each in the order of `required`.
        let required = ["pid", "behavior", "scheduler", "status", "mailbox", "handled", "restarts", "memory", "durable", "trapsExits", "links", "monitoredBy"]
        var seen: UInt16 = 0
        try parser.beginObject()
        while let key = try parser.nextKey() {
            switch key {
            case "pid": report.pid = try parser.readString(); seen |= 1 << 0
            case "behavior": report.behavior = try parser.readString(); seen |= 1 << 1
            case "scheduler": report.scheduler = try parser.readInteger(); seen |= 1 << 2
            case "status": report.status = try parser.readString(); seen |= 1 << 3
            case "mailbox": report.mailbox = try parser.readInteger(); seen |= 1 << 4
            case "handled": report.handled = try parser.readUnsigned(); seen |= 1 << 5
            case "restarts": report.restarts = try parser.readUnsigned(); seen |= 1 << 6
            case "memory": report.memory = try parser.readInteger(); seen |= 1 << 7
            case "durable": report.durable = try parser.readBool(); seen |= 1 << 8
            case "trapsExits": report.trapsExits = try parser.readBool(); seen |= 1 << 9
            case "links": report.links = try parser.readStrings(); seen |= 1 << 10
            case "monitoredBy": report.monitoredBy = try parser.readStrings(); seen |= 1 << 11
            case "name": report.name = try parser.readOptionalString()
            case "quarantine": report.quarantine = try parser.readOptionalString()
            case "mailboxLimit": report.mailboxLimit = try parser.readInteger()
            case "backlog": report.backlog = try parser.readInteger()
            case "refused": report.refused = try parser.readUnsigned()
            default: try parser.skipValue()
            }
        }
        guard seen == 1 << required.count - 1 else {
            let missing = required.indices.filter { seen & 1 << $0 == 0 }.map { required[$0] }
            throw parser.failure("a process report without \(missing.joined(separator: ", "))")
        }
        self = report
    }
}
