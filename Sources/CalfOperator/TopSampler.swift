import Calf

/// What a connection's `top` keeps between requests, to turn the totals of
/// messages handled into rates on the node: only the top rows cross the
/// socket, whatever the number of processes (observer_cli's way).
struct TopSampler {
    private var handled: [String: UInt64] = [:]
    private var perScheduler: [Int: UInt64] = [:]
    private var records: UInt64?
    private var at: ContinuousClock.Instant?

    /// The answer for `reports` and `stats` taken at `now`, the top `limit` by `order`.
    mutating func answer(_ reports: [ProcessReport], stats: NodeStats, at now: ContinuousClock.Instant, order: TopOrder, limit: Int) -> TopAnswer {
        let elapsed = at.map { Self.seconds(now - $0) } ?? 0
        var totals: [Int: UInt64] = [:]
        let rows = reports.map { report -> TopRow in
            totals[report.scheduler, default: 0] &+= report.handled
            guard elapsed > 0, let before = handled[report.pid], report.handled >= before else { return TopRow(report: report, rate: 0) }
            return TopRow(report: report, rate: Double(report.handled - before) / elapsed)
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
        let top = Array(order.sorted(rows).prefix(max(0, limit)))
        return TopAnswer(processes: reports.count, intervalSeconds: elapsed, rows: top, messagesPerSecond: rates,
                         recordsPerSecond: recordsPerSecond ?? (stats.log == nil ? nil : 0), stats: stats)
    }

    private static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
