import Calf
@testable import CalfDurable
@testable import CalfRuntime
import CalfStore
import Foundation
import Metrics
import MetricsTestKit
import Testing

@Suite(.timeLimit(.minutes(2))) struct MetricsTests {
    /// A backend of the node's own: the figures are exactly this node's,
    /// whatever the other suites' nodes do meanwhile.
    @Test func theFiguresOfStatsReachSwiftMetrics() async throws {
        let metrics = TestMetrics()
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 2, durable: durableOptions(dir, durability: .process), metrics: metrics)
            let ledger = try await node.spawnDurable(Ledger(), name: "metered")
            for n in 1...50 {
                #expect(seqOf(await node.send(.add(n), to: ledger, key: "m\(n)")) != nil)
            }
            _ = try await ledgerState(node, "metered")
            // 50 adds and the get: handled counts reach the counters at a sampling (every second; here, now).
            await node.sampleMetricsNow()
            let handled = metrics.counters(label: "calf_messages_handled").reduce(0) { $0 + $1.totalValue }
            #expect(handled == 51, "\(metrics.counters(label: "calf_messages_handled").map(\.totalValue))")
            let processes = (0..<2).compactMap { try? metrics.expectGauge("calf_scheduler_processes", [("scheduler", String($0))]).lastValue }
            #expect(processes.count == 2 && processes.reduce(0, +) == 1, "\(processes)")
            // Its records: the spawn, 51 accepted messages, and at least one progress record.
            let records = try metrics.expectCounter("calf_log_records").totalValue
            #expect(records >= 53 && records <= 103, "\(records)")
            let commits = try metrics.expectCounter("calf_log_commits").totalValue
            #expect(commits >= 1 && commits <= records)
            let durations = try metrics.expectTimer("calf_commit_duration").values
            #expect(durations.count >= Int(commits) && durations.allSatisfy { $0 > 0 })
            let used = try? metrics.expectGauge("calf_log_used_bytes").lastValue
            #expect((used ?? 0) > 0)
            try await node.shutdown()
        }
    }
}

