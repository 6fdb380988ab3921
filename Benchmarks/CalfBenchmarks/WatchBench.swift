import CalfLoop
import Foundation
import Synchronization

/// `calf bench watch`: the recursive watcher under a graph (`TreeWatcher`
/// and `ChangeDebouncer`) on a tree of `directories` directories: the time
/// to watch it and the memory that takes, the latency from a write to its
/// event, and a burst of one new file per directory, debounced: how many
/// were seen, in how many batches, whether the kernel's queue overflowed.
public enum WatchBench {
    /// Runs it in a temporary directory (removed afterwards).
    public static func run(directories: Int, report: Report) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("calf-watch-bench-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let side = max(1, Int(Double(directories).squareRoot().rounded(.up)))
        var leaves: [String] = []
        for outer in 0..<side {
            for inner in 0..<side where leaves.count < directories {
                let path = "\(root)/d\(outer)/d\(inner)"
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                leaves.append(path)
            }
        }
        let loop = try EventLoop(name: "watch-bench")
        let seen = WatchSeen()
        let watchers = UncheckedPair()
        let before = MemoryUse.now()
        let setup: Result<(Duration, Int), BenchFailure> = await onLoop(loop) {
            let debouncer = try? ChangeDebouncer(loop: loop, quiet: 200, maxWait: 10_000) { batch in seen.withLock { $0.batches.append(batch) } }
            let watcher = try? TreeWatcher(loop: loop) { event in
                if case .changes(let changes) = event {
                    let now = ContinuousClock.now
                    seen.withLock { for change in changes where $0.raw[change.path] == nil { $0.raw[change.path] = now } }
                }
                debouncer?.take(event)
            }
            guard let watcher, let debouncer else { return .failure(BenchFailure(description: "the watcher's handles could not be made")) }
            watchers.set(watcher, debouncer)
            let began = ContinuousClock.now
            do throws(TreeWatchError) {
                try watcher.watch(root)
            } catch {
                return .failure(BenchFailure(description: error.description))
            }
            return .success((ContinuousClock.now - began, watcher.watchCount))
        }
        let (setupTime, watches) = try setup.get()
        let after = MemoryUse.now()
        report.figure("watch_setup", seconds(setupTime) * 1000, "ms", note: "\(watches) directories watched (one inotify watch each)")
        report.figure("watch_rss_per_directory", Double(after.resident - before.resident) / Double(max(1, watches)), "bytes",
                      note: "this process's; the kernel keeps about 1 KiB more per watch, not counted in RSS")

        // Latency: one write at a time, from the write to its event.
        var latencies: [Double] = []
        for n in 0..<200 {
            let path = leaves[n * leaves.count / 200] + "/probe"
            let written = ContinuousClock.now
            touch(path)
            while seen.withLock({ $0.raw[path] }) == nil { try await Task.sleep(for: .microseconds(100)) }
            latencies.append(seconds((seen.withLock { $0.raw[path] } ?? written) - written) * 1e6)
        }
        latencies.sort()
        report.figure("watch_event_latency_p50", latencies[latencies.count / 2], "µs", note: "a write to its event on the watcher's loop")
        report.figure("watch_event_latency_p99", latencies[latencies.count * 99 / 100], "µs")
        // The probes' batch goes first.
        while seen.withLock({ $0.batches.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(300))
        seen.withLock { $0.batches.removeAll() }

        // A burst: a new file in every directory, as fast as this thread can make them.
        let burstBegan = ContinuousClock.now
        for leaf in leaves { touch(leaf + "/new") }
        let written = ContinuousClock.now - burstBegan
        while seen.withLock({ $0.batches.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(500))
        let batches = seen.withLock { $0.batches }
        let files = Set(batches.flatMap { $0.changes.map(\.path) }.filter { $0.hasSuffix("/new") })
        let rescans = batches.filter { $0.rescan != nil }.count
        report.figure("watch_burst_seen", Double(files.count), "files",
                      note: "of \(leaves.count) made in \(String(format: "%.0f", seconds(written) * 1000)) ms; \(batches.count) batch(es), \(rescans) with a rescan (the kernel's queue overflowed)")
        await onLoop(loop) { watchers.close() }
        _ = try loop.shutdown()
    }

    /// Makes or rewrites a one-byte file (open, write, close: as an editor or a compiler would).
    private static func touch(_ path: String) {
        let file = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard file >= 0 else { return }
        _ = write(file, "x", 1)
        close(file)
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Runs `body` on `loop`'s thread and returns what it returns.
    private static func onLoop<T: Sendable>(_ loop: EventLoop, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in loop.execute { continuation.resume(returning: body()) } }
    }
}

/// What the bench's watcher saw: each path's first event, and the batches (any thread).
private final class WatchSeen: Sendable {
    private let state = Mutex<(raw: [String: ContinuousClock.Instant], batches: [ChangeDebouncer.Batch])>(([:], []))

    func withLock<T: Sendable>(_ body: (inout (raw: [String: ContinuousClock.Instant], batches: [ChangeDebouncer.Batch])) -> T) -> T {
        state.withLock { body(&$0) }
    }
}

/// The watcher and debouncer the bench made, kept for closing.
///
/// Thread ownership: set and closed on the bench loop's thread only.
private final class UncheckedPair: @unchecked Sendable {
    private var watcher: TreeWatcher?
    private var debouncer: ChangeDebouncer?

    func set(_ watcher: TreeWatcher, _ debouncer: ChangeDebouncer) {
        self.watcher = watcher
        self.debouncer = debouncer
    }

    func close() {
        watcher?.close()
        debouncer?.close()
    }
}
