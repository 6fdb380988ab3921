import Calf
import CalfStore
import Foundation
import Synchronization

/// A durable process for the benchmarks: counts what it handles and passes
/// a hop on to another worker by name.
struct BenchWorker: DurableBehavior {
    var workers = 10_000
    enum Message: Codable, Sendable { case hop(remaining: Int, to: Int) }
    struct State: Codable { var handled = 0 }
    func initialState() -> State { State() }
    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) {
        state.handled += 1
        if !context.isReplaying { BenchWorker.handled.wrappingAdd(1, ordering: .relaxed) }
        if case .hop(let remaining, let to) = message, remaining > 0 {
            context.send(Message.hop(remaining: remaining - 1, to: (to &* 7 &+ 1) % workers), to: "w-\(to)")
        }
    }
    static let handled = Atomic<Int>(0)
}

/// The durable benchmarks of the durability issue: `durable`, `replay`, `recover`.
public enum DurableBench {
    static func directory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-bench-durable-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    static func options(_ path: String, _ durability: StoreEnvironment.Durability, snapshotEvery: Int = 1000, checkpointAtShutdown: Bool = true) -> DurableOptions {
        var options = DurableOptions(path: path, durability: durability, behaviors: [BenchWorker.self], snapshotEvery: snapshotEvery,
                                     checkpointInterval: .seconds(3600), mapSize: 1 << 30)
        options.checkpointAtShutdown = checkpointAtShutdown
        return options
    }

    /// Spawns `count` workers named w-0… (many spawns per group commit).
    static func spawnWorkers(_ node: Node, count: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < count {
                let upper = min(count, next + 512)
                for k in next..<upper {
                    group.addTask { _ = try await node.spawnDurable(BenchWorker(workers: count), name: "w-\(k)") }
                }
                try await group.waitForAll()
                next = upper
            }
        }
    }

    /// `calf bench durable`: `workers` durable processes take `messages`
    /// from outside, each passed on once to another worker (so 2 handled
    /// per message sent), at both durability levels.
    public static func run(workers: Int, messages: Int, report: Report) async throws {
        for durability in [StoreEnvironment.Durability.fsync, .process] {
            let dir = try directory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let node = try Node(durable: options(dir, durability))
            try await spawnWorkers(node, count: workers)
            let addresses = (0..<workers).map { node.address(named: "w-\($0)", as: BenchWorker.Message.self)! }
            BenchWorker.handled.store(0, ordering: .relaxed)
            let before = node.commitStatistics
            let start = now()
            for i in 0..<messages {
                node.send(.hop(remaining: 1, to: (i &* 31) % workers), to: addresses[i % workers])
            }
            while BenchWorker.handled.load(ordering: .relaxed) < 2 * messages {
                try await Task.sleep(for: .milliseconds(1))
            }
            let elapsed = now() - start
            let stats = node.commitStatistics
            report.figure("durable_\(durability.rawValue)", Double(2 * messages) / elapsed, "msgs/s",
                          note: "\(workers) processes, \(messages) from outside + \(messages) between them, accepted and handled")
            if let stats, let p99 = stats.latency(quantile: 0.99) {
                let commits = stats.commits - (before?.commits ?? 0)
                report.figure("durable_\(durability.rawValue)_flood_commit_p99", milliseconds(p99), "ms",
                              note: "\(commits) group commits; queueing behind a flood of \(messages) sends")
            }
            try await steady(node, addresses: addresses, durability: durability, report: report)
            try await node.shutdown()
        }
    }

    /// Senders that each wait for their message's commit before the next:
    /// the latency a sender sees from `send` to "accepted".
    static func steady(_ node: Node, addresses: [Address<BenchWorker.Message>], durability: StoreEnvironment.Durability, report: Report) async throws {
        let senders = 256
        let seconds = 2.0
        let start = now()
        let samples = try await withThrowingTaskGroup(of: [Double].self) { group in
            for sender in 0..<senders {
                group.addTask {
                    var latencies: [Double] = []
                    var i = sender
                    while now() - start < seconds {
                        let sent = now()
                        let outcome = await node.send(.hop(remaining: 1, to: i % addresses.count), to: addresses[i % addresses.count], key: nil)
                        guard case .accepted = outcome else { throw DurableError.notAccepted("\(outcome)") }
                        latencies.append(now() - sent)
                        i += senders
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: []) { $0.append(contentsOf: $1) }
        }
        let elapsed = now() - start
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return }
        report.figure("durable_\(durability.rawValue)_steady", Double(2 * sorted.count) / elapsed, "msgs/s",
                      note: "\(senders) senders, each waiting for its commit; each message passed on once")
        report.figure("durable_\(durability.rawValue)_steady_accept_p50", sorted[sorted.count / 2] * 1000, "ms", note: "send to accepted (commit included)")
        report.figure("durable_\(durability.rawValue)_steady_accept_p99", sorted[min(sorted.count - 1, sorted.count * 99 / 100)] * 1000, "ms")
    }

    /// `calf bench replay`: messages replayed through handlers at a node start
    /// (no snapshot since they were handled).
    public static func replay(workers: Int, messages: Int, report: Report) async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let node = try Node(durable: options(dir, .process, snapshotEvery: 1 << 30, checkpointAtShutdown: false))
            try await spawnWorkers(node, count: workers)
            try await node.checkpoint()
            let addresses = (0..<workers).map { node.address(named: "w-\($0)", as: BenchWorker.Message.self)! }
            BenchWorker.handled.store(0, ordering: .relaxed)
            for i in 0..<messages { node.send(.hop(remaining: 0, to: 0), to: addresses[i % workers]) }
            while BenchWorker.handled.load(ordering: .relaxed) < messages { try await Task.sleep(for: .milliseconds(1)) }
            try await node.shutdown()
        }
        BenchWorker.handled.store(0, ordering: .relaxed)
        let start = now()
        let node = try Node(durable: options(dir, .process))
        let elapsed = now() - start
        let replayed = node.recoveryReport?.replayed ?? 0
        report.figure("replay", Double(replayed) / elapsed, "msgs/s",
                      note: "\(replayed) messages of \(workers) processes, scan + decode + handler; node start \(String(format: "%.2f", elapsed)) s, scan \(String(format: "%.2f", node.recoveryReport?.scanSeconds ?? 0)) s, revive \(String(format: "%.2f", node.recoveryReport?.reviveSeconds ?? 0)) s")
        try await node.shutdown()
    }

    /// `calf bench recover`: start time of a node holding `workers` durable
    /// processes, each with a snapshot and a log tail of `tail` messages.
    public static func recover(workers: Int, tail: Int, report: Report) async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let node = try Node(durable: options(dir, .process, checkpointAtShutdown: false))
            try await spawnWorkers(node, count: workers)
            let addresses = (0..<workers).map { node.address(named: "w-\($0)", as: BenchWorker.Message.self)! }
            BenchWorker.handled.store(0, ordering: .relaxed)
            for address in addresses { node.send(.hop(remaining: 0, to: 0), to: address) }
            while BenchWorker.handled.load(ordering: .relaxed) < workers { try await Task.sleep(for: .milliseconds(1)) }
            try await node.checkpoint()
            for _ in 0..<tail { for address in addresses { node.send(.hop(remaining: 0, to: 0), to: address) } }
            while BenchWorker.handled.load(ordering: .relaxed) < workers * (1 + tail) { try await Task.sleep(for: .milliseconds(1)) }
            try await node.shutdown()
        }
        let start = now()
        let node = try Node(durable: options(dir, .process))
        // Serving: the last process answers a call.
        let last = node.address(named: "w-\(workers - 1)", as: BenchWorker.Message.self)!
        _ = await node.send(.hop(remaining: 0, to: 0), to: last, key: nil)
        let elapsed = now() - start
        let recovered = node.recoveryReport
        report.figure("recover", elapsed, "s",
                      note: "\(recovered?.processes ?? 0) processes serving, \(recovered?.replayed ?? 0) messages replayed, \(recovered?.scanned ?? 0) records scanned")
        try await node.shutdown()
    }

    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
