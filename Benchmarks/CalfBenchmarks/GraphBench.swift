import Calf
import CalfGraphs
import Foundation

/// `calf bench graph`: a graph on a node in this process, on a temporary
/// project. The latency from a saved file to its job's command running
/// (the watcher, the debounce, the graph's journaled decision, the run's
/// effect, fork and exec), one save at a time; then a burst of `burst`
/// file writes: how many runs it gave and whether the last one saw every file.
public enum GraphBench {
    /// Debounce of the latency's watch set, in milliseconds (the smallest a graph file takes).
    static let quiet = 10

    /// Runs it (the project and data removed afterwards).
    public static func run(samples: Int, burst: Int, report: Report) async throws {
        let root = try DurableBench.directory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for directory in ["src", "burst", "data"] { try FileManager.default.createDirectory(atPath: root + "/" + directory, withIntermediateDirectories: true) }
        try "0".write(toFile: root + "/src/a.txt", atomically: false, encoding: .utf8)
        let text = """
            graph: bench
            parallel: 2
            watches:
              - watch: sources
                paths: [src/]
                debounce: \(quiet)
              - watch: many
                paths: [burst/]
            tasks:
              - job: mark
                command: [date, "+%s%N"]
                inputs: [sources]
              - job: count
                shell: "ls burst | wc -l"
                inputs: [many]
                onStart: never
            """
        let graph = try GraphFile(path: root + "/bench.yaml", text: text, behaviors: [])
        let runner = try GraphRunner()
        defer { runner.shutdown() }
        var options = DurableOptions(path: root + "/data", durability: .process, behaviors: [GraphProcess.self])
        options.services[GraphRunner.self] = runner
        let node = try await Node.open(durable: options)
        let host = try await GraphHost(spec: graph.spec, version: graph.version, file: root + "/bench.yaml", behaviors: [], node: node, runner: runner)
        let logs = root + "/data/graph/bench/logs"

        // The start's run of `mark` first; then one save at a time.
        _ = try await startTime(of: logs + "/mark/1.log")
        var latencies: [Double] = []
        for sample in 1...samples {
            let saved = realtimeNanoseconds()
            try "\(sample)".write(toFile: root + "/src/a.txt", atomically: false, encoding: .utf8)
            let started = try await startTime(of: logs + "/mark/\(sample + 1).log")
            latencies.append(Double(started - saved) / 1e6)
            try await Task.sleep(for: .milliseconds(20))
        }
        latencies.sort()
        report.figure("graph_change_to_start_p50", latencies[latencies.count / 2], "ms",
                      note: "a save to its job's command running, \(samples) saves one at a time, debounce \(quiet) ms included")
        report.figure("graph_change_to_start_p99", latencies[min(latencies.count - 1, latencies.count * 99 / 100)], "ms")

        // A burst: `burst` writes, as fast as this thread makes them.
        let began = Date()
        for n in 0..<burst { try "x".write(toFile: root + "/burst/f\(n)", atomically: false, encoding: .utf8) }
        let writing = Date().timeIntervalSince(began)
        // Quiet for the debounce (200 ms), then the run: wait until runs stop coming.
        var runs = 0
        var settledAt = Date()
        while Date().timeIntervalSince(settledAt) < 2 {
            let now = runCount(logs + "/count")
            if now != runs { runs = now; settledAt = Date() }
            try await Task.sleep(for: .milliseconds(50))
        }
        let lastSaw = (try? String(contentsOfFile: logs + "/count/\(runs).log", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        report.figure("graph_burst_runs", Double(runs), "runs", note: "\(burst) file writes in \(String(format: "%.0f", writing * 1000)) ms; its last run saw \(lastSaw) files of \(burst)")
        host.stop()
        try await node.shutdown()
    }

    /// The nanoseconds `date +%s%N` printed into the log at `path`, once it has.
    private static func startTime(of path: String) async throws -> Int64 {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let value = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) { return value }
            try await Task.sleep(for: .microseconds(200))
        }
        throw BenchFailure(description: "no run wrote \(path) within 30 s")
    }

    /// How many runs of a task have a log file (ended or not).
    private static func runCount(_ directory: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".log") }.count
    }

    private static func realtimeNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
