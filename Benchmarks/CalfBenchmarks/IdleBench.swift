import Calf
import Foundation

/// The `idle` benchmark of `calf bench`: how much CPU a node burns with
/// nothing to do (its schedulers' spin before they sleep in the kernel,
/// timers, the durable writer, the metrics sampler), as a share of one core.
/// An idle node must not burn a core; a busy one must not pay a kernel
/// wakeup per message (the spin) — this is the first half of that trade.
public enum IdleBench {
    /// Runs the benchmark and prints its figures to `report`.
    public static func run(seconds: Double, report: Report) async throws {
        do {
            let node = try Node(schedulers: Node.coreCount)
            for index in 0..<10_000 { _ = try await node.spawn(Idle(), on: index % Node.coreCount) }
            let share = try await cpuShare(over: seconds)
            report.figure("idle_cpu_transient", share * 100, "% of a core", note: "10000 waiting processes on \(Node.coreCount) schedulers, \(seconds) s")
            try await node.shutdown()
        }
        let dir = try DurableBench.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = try Node(durable: DurableBench.options(dir, .fsync, FastWorker.self))
        try await DurableBench.spawnWorkers(node, count: 1_000, FastWorker.self)
        let share = try await cpuShare(over: seconds)
        report.figure("idle_cpu_durable", share * 100, "% of a core", note: "1000 waiting durable processes, writer and checkpoints on, \(seconds) s")
        try await node.shutdown()
    }

    /// This OS process's CPU time (user and system, all threads) over
    /// `seconds` of wall time after a settling pause, divided by that time.
    static func cpuShare(over seconds: Double) async throws -> Double {
        try await Task.sleep(for: .milliseconds(500))
        let (cpuBefore, wallBefore) = (cpuSeconds(), now())
        try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
        return (cpuSeconds() - cpuBefore) / (now() - wallBefore)
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
