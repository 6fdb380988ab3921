import Calf
import CalfStore
import Foundation
import Synchronization

/// The message the benchmark workers pass: a hop with hops left and the next worker.
protocol HopMessage: Codable, Sendable {
    static func hop(remaining: Int, to: Int) -> Self
    var remaining: Int { get }
    var to: Int { get }
}

/// A hop journaled through `Codable` (`BinaryEncoder`).
enum CodableHop: HopMessage {
    case hop(remaining: Int, to: Int)
    var remaining: Int { if case .hop(let remaining, _) = self { remaining } else { 0 } }
    var to: Int { if case .hop(_, let to) = self { to } else { 0 } }
}

/// A hop that writes itself to the journal (`JournalCodable`).
enum FastHop: HopMessage, JournalCodable {
    case hop(remaining: Int, to: Int)
    var remaining: Int { if case .hop(let remaining, _) = self { remaining } else { 0 } }
    var to: Int { if case .hop(_, let to) = self { to } else { 0 } }

    func write(to writer: inout ByteWriter) {
        writer.int(remaining)
        writer.int(to)
    }

    init(reading reader: inout ByteReader) throws {
        self = .hop(remaining: try reader.int("remaining"), to: try reader.int("to"))
    }
}

/// A hop whose `JournalCodable` conformance `@JournalCoded` writes.
@JournalCoded
enum MacroHop: HopMessage {
    case hop(remaining: Int, to: Int)
    var remaining: Int { if case .hop(let remaining, _) = self { remaining } else { 0 } }
    var to: Int { if case .hop(_, let to) = self { to } else { 0 } }
}

/// Messages handled by benchmark workers outside replay.
let benchHandled = Atomic<Int>(0)

/// The state of a benchmark worker.
struct HopState: Codable { var handled = 0 }

/// A durable process for the benchmarks: counts what it handles and passes
/// a hop on to another worker by name. Two concrete workers, one per
/// message coding: a behavior's turn is specialized for its types only
/// where the behavior is a concrete type, as users' behaviors are.
protocol HopWorker: DurableBehavior where Message: HopMessage, State == HopState {
    var workers: Int { get }
    init(workers: Int)
}

extension HopWorker {
    func initialState() -> HopState { HopState() }

    func handle(_ message: Message, state: inout HopState, context: inout DurableContext<Message>) {
        state.handled += 1
        if !context.isReplaying { benchHandled.wrappingAdd(1, ordering: .relaxed) }
        if message.remaining > 0 {
            let to = message.to
            context.send(Message.hop(remaining: message.remaining - 1, to: (to &* 7 &+ 1) % workers), to: "w-\(to)")
        }
    }
}

/// A worker whose messages write themselves.
struct FastWorker: HopWorker {
    typealias Message = FastHop
    var workers = 10_000
}

/// A worker whose messages' coding the macro wrote.
struct MacroWorker: HopWorker {
    typealias Message = MacroHop
    var workers = 10_000
}

/// A worker whose messages go through `Codable`.
struct CodableWorker: HopWorker {
    typealias Message = CodableHop
    var workers = 10_000
}

/// How the benchmark's messages are journaled.
enum HopCoding: String, CaseIterable {
    /// `Codable` through `BinaryEncoder`.
    case codable
    /// `JournalCodable`, written by hand.
    case fast
    /// `JournalCodable`, written by `@JournalCoded`.
    case macro

    /// The figure's name with this coding's suffix (none for the hand-written fast path).
    func name(_ base: String) -> String { self == .fast ? base : "\(base)_\(rawValue)" }
}

/// The durable benchmarks of the durability issue: `durable`, `replay`, `recover`.
public enum DurableBench {
    /// A fresh temporary directory for a benchmark's data (the caller removes it).
    public static func directory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-bench-durable-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    static func options<W: HopWorker>(
        _ path: String, _ durability: StoreEnvironment.Durability, _: W.Type, snapshotEvery: Int = 1000, checkpointAtShutdown: Bool = true
    ) -> DurableOptions {
        var options = DurableOptions(path: path, durability: durability, behaviors: [W.self], snapshotEvery: snapshotEvery,
                                     checkpointInterval: .seconds(3600), mapSize: 1 << 30)
        options.checkpointAtShutdown = checkpointAtShutdown
        // The flood sends all its messages from outside at once and measures the
        // pipeline's rate with them queued, so neither bound may refuse them
        // (back-pressure's own figures are FloodTests'). Per worker it is far under a mailbox limit.
        options.writerQueueLimit = .max
        return options
    }

    /// Spawns `count` workers named w-0… (many spawns per group commit).
    static func spawnWorkers<W: HopWorker>(_ node: Node, count: Int, _: W.Type) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < count {
                let upper = min(count, next + 512)
                for k in next..<upper {
                    group.addTask { _ = try await node.spawnDurable(W(workers: count), name: "w-\(k)") }
                }
                try await group.waitForAll()
                next = upper
            }
        }
    }

    static func addresses<W: HopWorker>(_ node: Node, count: Int, _: W.Type) throws -> [Address<W.Message>] {
        try (0..<count).map { k in
            guard let address = node.address(named: "w-\(k)", as: W.Message.self) else { throw DurableError.notAccepted("no worker w-\(k)") }
            return address
        }
    }

    /// `calf bench durable`: `workers` durable processes take `messages`
    /// from outside, each passed on once to another worker (so 2 handled
    /// per message sent), at both durability levels, with messages that
    /// write themselves (`JournalCodable` by hand) and, for comparison in
    /// the same run, coded by `@JournalCoded` and through `Codable`; then
    /// steady senders' accept latency.
    public static func run(workers: Int, messages: Int, levels: [StoreEnvironment.Durability] = [.fsync, .process], report: Report) async throws {
        for durability in levels {
            try await flood(workers: workers, messages: messages, durability: durability, FastWorker.self, coding: .fast, steady: true, report: report)
            try await flood(workers: workers, messages: messages, durability: durability, MacroWorker.self, coding: .macro, steady: false, report: report)
            try await flood(workers: workers, messages: messages, durability: durability, CodableWorker.self, coding: .codable, steady: false, report: report)
        }
    }

    static func flood<W: HopWorker>(
        workers: Int, messages: Int, durability: StoreEnvironment.Durability, _: W.Type, coding: HopCoding, steady measureSteady: Bool, report: Report
    ) async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = try Node(durable: options(dir, durability, W.self))
        try await spawnWorkers(node, count: workers, W.self)
        let addresses = try addresses(node, count: workers, W.self)
        benchHandled.store(0, ordering: .relaxed)
        let before = node.commitStatistics
        let start = now()
        for i in 0..<messages {
            node.send(W.Message.hop(remaining: 1, to: (i &* 31) % workers), to: addresses[i % workers])
        }
        while benchHandled.load(ordering: .relaxed) < 2 * messages {
            try await Task.sleep(for: .milliseconds(1))
        }
        let elapsed = now() - start
        let stats = node.commitStatistics
        let name = coding.name("durable_\(durability.rawValue)")
        report.figure(name, Double(2 * messages) / elapsed, "msgs/s",
                      note: "\(workers) processes, \(messages) from outside + \(messages) between them, accepted and handled, \(coding) messages")
        if let stats, let p99 = stats.latency(quantile: 0.99) {
            let commits = stats.commits - (before?.commits ?? 0)
            report.figure("\(name)_flood_commit_p99", milliseconds(p99), "ms",
                          note: "\(commits) group commits; queueing behind a flood of \(messages) sends")
        }
        if measureSteady { try await steady(node, addresses: addresses, durability: durability, report: report) }
        try await node.shutdown()
    }

    /// Senders that each wait for their message's commit before the next:
    /// the latency a sender sees from `send` to "accepted".
    static func steady<M: HopMessage>(_ node: Node, addresses: [Address<M>], durability: StoreEnvironment.Durability, report: Report) async throws {
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
                        let outcome = await node.send(M.hop(remaining: 1, to: i % addresses.count), to: addresses[i % addresses.count], key: nil)
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
    /// (no snapshot since they were handled): `JournalCodable` messages
    /// written by hand and by `@JournalCoded`, and `Codable` ones.
    public static func replay(workers: Int, messages: Int, report: Report) async throws {
        try await replay(workers: workers, messages: messages, FastWorker.self, coding: .fast, report: report)
        try await replay(workers: workers, messages: messages, MacroWorker.self, coding: .macro, report: report)
        try await replay(workers: workers, messages: messages, CodableWorker.self, coding: .codable, report: report)
    }

    static func replay<W: HopWorker>(workers: Int, messages: Int, _: W.Type, coding: HopCoding, report: Report) async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let node = try Node(durable: options(dir, .process, W.self, snapshotEvery: 1 << 30, checkpointAtShutdown: false))
            try await spawnWorkers(node, count: workers, W.self)
            try await node.checkpoint()
            let addresses = try addresses(node, count: workers, W.self)
            benchHandled.store(0, ordering: .relaxed)
            for i in 0..<messages { node.send(W.Message.hop(remaining: 0, to: 0), to: addresses[i % workers]) }
            while benchHandled.load(ordering: .relaxed) < messages { try await Task.sleep(for: .milliseconds(1)) }
            try await node.shutdown()
        }
        benchHandled.store(0, ordering: .relaxed)
        let start = now()
        let node = try Node(durable: options(dir, .process, W.self))
        let elapsed = now() - start
        let replayed = node.recoveryReport?.replayed ?? 0
        report.figure(coding.name("replay"), Double(replayed) / elapsed, "msgs/s",
                      note: "\(replayed) \(coding) messages of \(workers) processes, scan + decode + handler; node start \(String(format: "%.2f", elapsed)) s, \(node.recoveryReport?.scanned ?? 0) records, scan \(String(format: "%.2f", node.recoveryReport?.scanSeconds ?? 0)) s, revive \(String(format: "%.2f", node.recoveryReport?.reviveSeconds ?? 0)) s")
        try await node.shutdown()
    }

    /// `calf bench recover`: start time of a node holding `workers` durable
    /// processes, each with a snapshot and a log tail of `tail` messages.
    public static func recover(workers: Int, tail: Int, report: Report) async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let node = try Node(durable: options(dir, .process, FastWorker.self, checkpointAtShutdown: false))
            try await spawnWorkers(node, count: workers, FastWorker.self)
            let addresses = try addresses(node, count: workers, FastWorker.self)
            benchHandled.store(0, ordering: .relaxed)
            for address in addresses { node.send(.hop(remaining: 0, to: 0), to: address) }
            while benchHandled.load(ordering: .relaxed) < workers { try await Task.sleep(for: .milliseconds(1)) }
            try await node.checkpoint()
            for _ in 0..<tail { for address in addresses { node.send(.hop(remaining: 0, to: 0), to: address) } }
            while benchHandled.load(ordering: .relaxed) < workers * (1 + tail) { try await Task.sleep(for: .milliseconds(1)) }
            try await node.shutdown()
        }
        let start = now()
        let node = try Node(durable: options(dir, .process, FastWorker.self))
        // Serving: the last process answers a call.
        guard let last = node.address(named: "w-\(workers - 1)", as: FastHop.self) else { throw DurableError.notAccepted("no worker w-\(workers - 1)") }
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
