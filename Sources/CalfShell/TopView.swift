import CalfControl

/// `top`'s screen: the busiest processes under the node's figures, as the
/// node's `TopSampler` answered them.
public struct TopView: Sendable {
    /// What the rows are ordered by (largest first); `s` cycles through them.
    public typealias Order = TopOrder
    /// One row: a process and its rate over the last interval.
    public typealias Row = TopRow

    /// The order of the rows.
    public var order: Order = .rate

    /// An empty view.
    public init() {}

    /// `rows` in the view's order.
    public func ordered(_ rows: [Row]) -> [Row] { order.sorted(rows) }

    /// The screen: a header of node figures, then as many of the rows as
    /// fit in `size`, in the view's order, each line cut to its width.
    public func screen(_ answer: TopAnswer, size: (columns: Int, rows: Int)) -> [String] {
        var lines = ["calf top — \(answer.processes) processes, by \(order.title) (q quits, s changes the order)"]
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
