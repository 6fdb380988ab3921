import Calf

/// `top`'s screen: the busiest processes under the node's figures, as the
/// node's `TopSampler` answered them.
public struct TopView: Sendable {
    /// What the rows are ordered by (largest first); `s` cycles through them.
    public enum Order: String, CaseIterable, Codable, Sendable {
        /// Messages handled per second over the last interval.
        case rate = "msgs/s"
        /// Mail waiting, memory held, restarts in place.
        case mailbox, memory, restarts

        /// The next order in the cycle.
        public var next: Order {
            let all = Order.allCases
            return all[(all.firstIndex(of: self)! + 1) % all.count]  // invariant: self is one of allCases
        }

        /// Its name in a request (`rate`, `mailbox`, `memory`, `restarts`).
        public var name: String { self == .rate ? "rate" : rawValue }

        /// The order a request names (nil: the default, by rate); nil for an unknown name.
        public init?(name: String?) {
            switch name {
            case nil, "rate": self = .rate
            case "mailbox": self = .mailbox
            case "memory": self = .memory
            case "restarts": self = .restarts
            default: return nil
            }
        }
    }

    /// One row: a process and its rate over the last interval.
    public struct Row: Codable, Equatable, Sendable {
        /// The process.
        public var report: ProcessReport
        /// Messages handled per second over the last interval.
        public var rate: Double
    }

    /// The order of the rows.
    public var order: Order = .rate

    /// An empty view.
    public init() {}

    /// `rows` in the view's order.
    public func ordered(_ rows: [Row]) -> [Row] {
        Self.ordered(rows, by: order)
    }

    /// `rows` in `order`, largest first (by pid among equals, as they came).
    static func ordered(_ rows: [Row], by order: Order) -> [Row] {
        rows.sortedStably { a, b in
            switch order {
            case .rate: a.rate > b.rate || (a.rate == b.rate && a.report.mailbox > b.report.mailbox)
            case .mailbox: a.report.mailbox > b.report.mailbox
            case .memory: a.report.memory > b.report.memory
            case .restarts: a.report.restarts > b.report.restarts
            }
        }
    }

    /// The screen: a header of node figures, then as many of the rows as
    /// fit in `size`, in the view's order, each line cut to its width.
    public func screen(_ answer: TopAnswer, size: (columns: Int, rows: Int)) -> [String] {
        var lines = ["calf top — \(answer.processes) processes, by \(order.rawValue) (q quits, s changes the order)"]
        let rate = answer.messagesPerSecond.reduce(0, +)
        let queues = answer.stats.schedulers.map { String($0.runQueue) }.joined(separator: " ")
        var figures = "schedulers \(answer.stats.schedulers.count), run queues [\(queues)], \(ShellFormat.whole(rate)) msgs/s"
        if let log = answer.stats.log {
            figures += ", log \(ShellFormat.whole(answer.recordsPerSecond ?? 0)) records/s"
            if let p99 = log.commitP99Milliseconds { figures += ", commit p99 \((p99 * 100).rounded() / 100) ms" }
        }
        lines += [figures, ""]
        let room = max(0, size.rows - lines.count - 1)
        let shown = ordered(answer.rows).prefix(room).map { row in
            [row.report.pid, row.report.name ?? "-", row.report.behavior, row.report.status,
             ShellFormat.whole(row.rate), String(row.report.mailbox), String(row.report.handled),
             String(row.report.restarts), ShellFormat.bytes(row.report.memory)]
        }
        let table = ShellFormat.columns(["PID", "NAME", "BEHAVIOR", "STATUS", "MSGS/S", "MAILBOX", "MSGS", "RESTARTS", "MEMORY"], shown)
        lines += table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return lines.map { String($0.prefix(size.columns)) }
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
    public var rows: [TopView.Row]
    /// Messages handled per second by each scheduler's processes.
    public var messagesPerSecond: [Double]
    /// Journal records written per second (a node with a data directory).
    public var recordsPerSecond: Double?
    /// The node's figures now (its rates are not used: see the fields above).
    public var stats: NodeStats
}

/// What a connection's `top` keeps between requests, to turn the totals of
/// messages handled into rates on the node: only the top rows cross the
/// socket, whatever the number of processes (observer_cli's way).
struct TopSampler {
    private var handled: [String: UInt64] = [:]
    private var perScheduler: [Int: UInt64] = [:]
    private var records: UInt64?
    private var at: ContinuousClock.Instant?

    /// The answer for `reports` and `stats` taken at `now`, the top `limit` by `order`.
    mutating func answer(_ reports: [ProcessReport], stats: NodeStats, at now: ContinuousClock.Instant, order: TopView.Order, limit: Int) -> TopAnswer {
        let elapsed = at.map { Self.seconds(now - $0) } ?? 0
        var totals: [Int: UInt64] = [:]
        let rows = reports.map { report -> TopView.Row in
            totals[report.scheduler, default: 0] &+= report.handled
            guard elapsed > 0, let before = handled[report.pid], report.handled >= before else { return TopView.Row(report: report, rate: 0) }
            return TopView.Row(report: report, rate: Double(report.handled - before) / elapsed)
        }
        let rates = stats.schedulers.map { scheduler -> Double in
            let now = totals[scheduler.index] ?? 0
            guard elapsed > 0, let before = perScheduler[scheduler.index], now >= before else { return 0 }
            return Double(now - before) / elapsed
        }
        var recordsPerSecond: Double?
        if let log = stats.log {
            if elapsed > 0, let before = records, log.records >= before { recordsPerSecond = Double(log.records - before) / elapsed }
            records = log.records
        }
        handled = Dictionary(reports.map { ($0.pid, $0.handled) }, uniquingKeysWith: { first, _ in first })
        perScheduler = totals
        at = now
        let top = Array(TopView.ordered(rows, by: order).prefix(max(0, limit)))
        return TopAnswer(processes: reports.count, intervalSeconds: elapsed, rows: top, messagesPerSecond: rates,
                         recordsPerSecond: recordsPerSecond ?? (stats.log == nil ? nil : 0), stats: stats)
    }

    private static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
