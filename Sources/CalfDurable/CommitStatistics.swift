import CalfControl
import CalfRuntime

/// Keys of the `meta` database.
package enum MetaKey {
    /// The seq the log scan at node start begins at.
    package static let scanFrom = "scanFrom"
}

/// Figures about the writer's commits, for benchmarks and `stats`.
public struct CommitStatistics: Sendable {
    /// Group commits done.
    public var commits: UInt64 = 0
    /// Records written.
    public var records: UInt64 = 0
    /// Records dropped from the log (outside the history window).
    public var dropped: UInt64 = 0
    /// Times the LMDB map grew because it was full.
    public var mapGrowths = 0
    /// The LMDB map's size now, in bytes.
    public var mapSize = 0
    /// The latest commit latencies (nanoseconds from a batch's first entry
    /// to the end of its commit), a ring of up to 65,536.
    package var latencies: [UInt64] = []
    private var next = 0

    package mutating func recordLatency(_ nanoseconds: UInt64) {
        if latencies.count < 65_536 {
            latencies.append(nanoseconds)
        } else {
            latencies[next] = nanoseconds
            next = (next + 1) & 65_535
        }
    }

    /// The latency at quantile `q` (0...1) of the latest commits, or nil if none.
    public func latency(quantile q: Double) -> Duration? {
        guard !latencies.isEmpty else { return nil }
        let sorted = latencies.sorted()
        let index = min(sorted.count - 1, Int(Double(sorted.count - 1) * q))
        return .clampedNanoseconds(sorted[index])
    }
}
