import Calf
import CalfStore
import Foundation
import Metrics
import MetricsTestKit
import Testing

/// The test metrics backend, bootstrapped once for the whole test process
/// (swift-metrics allows one bootstrap); nodes made earlier keep reporting nowhere.
let testMetrics: TestMetrics = {
    let metrics = TestMetrics()
    MetricsSystem.bootstrap(metrics)
    return metrics
}()

@Suite(.serialized) struct MetricsTests {
    @Test func theFiguresOfStatsReachSwiftMetrics() async throws {
        let metrics = testMetrics
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 2, durable: durableOptions(dir, durability: .process))
            let ledger = try await node.spawnDurable(Ledger(), name: "metered")
            for n in 1...50 {
                #expect(seqOf(await node.send(.add(n), to: ledger, key: "m\(n)")) != nil)
            }
            _ = try await ledgerState(node, "metered")
            // Handled counts reach the counters at the next sampling (every second).
            let handled = await eventuallyValue(timeout: .seconds(5)) { () -> Int64? in
                let total = metrics.counters(label: "calf_messages_handled").reduce(0) { $0 + $1.totalValue }
                return total >= 51 ? total : nil
            }
            #expect(handled != nil)
            // Other suites' nodes report into the same backend meanwhile: gauges are checked to be there, counters to have grown enough.
            let processes = (0..<2).compactMap { try? metrics.expectGauge("calf_scheduler_processes", [("scheduler", String($0))]).lastValue }
            #expect(processes.count == 2)
            #expect(!metrics.counters(label: "calf_messages_handled").isEmpty)
            #expect(try metrics.expectCounter("calf_log_records").totalValue >= 50)
            #expect(try metrics.expectCounter("calf_log_commits").totalValue >= 1)
            let durations = try metrics.expectTimer("calf_commit_duration").values
            #expect(!durations.isEmpty && durations.allSatisfy { $0 > 0 })
            let used = await eventuallyValue(timeout: .seconds(5)) { try? metrics.expectGauge("calf_log_used_bytes").lastValue }
            #expect((used ?? 0) > 0)
            try await node.shutdown()
        }
    }
}

/// Polls `probe` until it gives a value or `timeout` passes.
func eventuallyValue<T>(timeout: Duration, _ probe: () -> T?) async -> T? {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = probe() { return value }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return probe()
}
