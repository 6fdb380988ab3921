/// One row of `top`: a process and its rate over the last interval.
public struct TopRow: Codable, Equatable, Sendable {
    /// The process.
    public var report: ProcessReport
    /// Messages handled per second over the last interval.
    public var rate: Double

    /// A row.
    public init(report: ProcessReport, rate: Double) {
        self.report = report
        self.rate = rate
    }
}

/// The node's answer to `top`: the busiest processes and the node's figures,
/// rates over the time since the same connection's previous `top`.
public struct TopAnswer: Codable, Equatable, Sendable {
    /// Live processes in all.
    public var processes: Int
    /// The seconds the rates are over (0 on a connection's first `top`).
    public var intervalSeconds: Double
    /// The top processes in the order asked, at most the limit asked.
    public var rows: [TopRow]
    /// Messages handled per second by each scheduler's processes.
    public var messagesPerSecond: [Double]
    /// Journal records written per second (a node with a data directory).
    public var recordsPerSecond: Double?
    /// The node's figures now (its rates are not used: see the fields above).
    public var stats: NodeStats

    /// An answer.
    public init(processes: Int, intervalSeconds: Double, rows: [TopRow], messagesPerSecond: [Double], recordsPerSecond: Double?, stats: NodeStats) {
        self.processes = processes
        self.intervalSeconds = intervalSeconds
        self.rows = rows
        self.messagesPerSecond = messagesPerSecond
        self.recordsPerSecond = recordsPerSecond
        self.stats = stats
    }
}

extension TopOrder {
    /// `rows` in this order, largest first (equal rows keep the order they came in).
    public func sorted(_ rows: [TopRow]) -> [TopRow] {
        rows.sortedStably { a, b in
            switch self {
            case .rate: a.rate > b.rate || (a.rate == b.rate && a.report.mailbox > b.report.mailbox)
            case .mailbox: a.report.mailbox > b.report.mailbox
            case .memory: a.report.memory > b.report.memory
            case .restarts: a.report.restarts > b.report.restarts
            }
        }
    }
}

extension Array {
    /// Sorted by `before`, equal elements keeping their order.
    public func sortedStably(by before: (Element, Element) -> Bool) -> [Element] {
        enumerated().sorted { before($0.element, $1.element) || (!before($1.element, $0.element) && $0.offset < $1.offset) }.map(\.element)
    }
}
