import Calf

/// `top`: the busiest processes, redrawn every interval from two `ps`
/// answers (messages/s is the difference of messages handled), with the
/// node's figures from `stats` above them.
public struct TopView: Sendable {
    /// What the rows are ordered by (largest first); `s` cycles through them.
    public enum Order: String, CaseIterable, Sendable {
        /// Messages handled per second over the last interval.
        case rate = "msgs/s"
        /// Mail waiting, memory held, restarts in place.
        case mailbox, memory, restarts

        /// The next order in the cycle.
        public var next: Order {
            let all = Order.allCases
            return all[(all.firstIndex(of: self)! + 1) % all.count]  // invariant: self is one of allCases
        }
    }

    /// One row: a process and its rate over the last interval.
    public struct Row: Equatable, Sendable {
        /// The process.
        public var report: ProcessReport
        /// Messages handled per second over the last interval.
        public var rate: Double
    }

    /// The order of the rows.
    public var order: Order = .rate
    private var previous: [String: UInt64] = [:]
    private var previousTime: ContinuousClock.Instant?

    /// An empty view (the first frame shows no rates yet).
    public init() {}

    /// The rows of `reports`, taken at `now`, with rates against the last call.
    public mutating func rows(_ reports: [ProcessReport], at now: ContinuousClock.Instant) -> [Row] {
        let elapsed = previousTime.map { Self.seconds(now - $0) } ?? 0
        let rows = reports.map { report -> Row in
            let before = previous[report.pid]
            let rate = elapsed > 0 && before != nil ? Double(report.handled &- before!) / elapsed : 0
            return Row(report: report, rate: rate)
        }
        previous = Dictionary(reports.map { ($0.pid, $0.handled) }, uniquingKeysWith: { first, _ in first })
        previousTime = now
        return rows
    }

    /// `rows` in the view's order.
    public func ordered(_ rows: [Row]) -> [Row] {
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
    public func screen(_ rows: [Row], stats: NodeStats?, size: (columns: Int, rows: Int)) -> [String] {
        var lines = ["calf top — \(rows.count) processes, by \(order.rawValue) (q quits, s changes the order)"]
        if let stats {
            let rate = stats.schedulers.reduce(0) { $0 + $1.messagesPerSecond }
            let queues = stats.schedulers.map { String($0.runQueue) }.joined(separator: " ")
            var figures = "schedulers \(stats.schedulers.count), run queues [\(queues)], \(Int(rate.rounded())) msgs/s"
            if let log = stats.log {
                figures += ", log \(Int(log.recordsPerSecond.rounded())) records/s"
                if let p99 = log.commitP99Milliseconds { figures += ", commit p99 \((p99 * 100).rounded() / 100) ms" }
            }
            lines.append(figures)
        }
        lines.append("")
        let room = max(0, size.rows - lines.count - 1)
        let shown = ordered(rows).prefix(room).map { row in
            [row.report.pid, row.report.name ?? "-", row.report.behavior, row.report.status,
             String(Int(row.rate.rounded())), String(row.report.mailbox), String(row.report.handled),
             String(row.report.restarts), ShellFormat.bytes(row.report.memory)]
        }
        let table = ShellFormat.columns(["PID", "NAME", "BEHAVIOR", "STATUS", "MSGS/S", "MAILBOX", "MSGS", "RESTARTS", "MEMORY"], shown)
        lines += table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return lines.map { String($0.prefix(size.columns)) }
    }

    private static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
