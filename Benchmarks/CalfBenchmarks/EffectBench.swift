import Calf
import CalfStore
import Foundation
import Synchronization

/// An effect that does nothing: what the round trip costs on its own.
struct NoOpEffect: DurableEffect, JournalCodable {
    var n: Int
    var retryPolicy: RetryPolicy { .never }
    func run(_ attempt: EffectAttempt) async throws -> Int { n }

    init(n: Int) { self.n = n }
    func write(to writer: inout ByteWriter) { writer.int(n) }
    init(reading reader: inout ByteReader) throws { n = try reader.int("n") }
}

/// Completions handled by the benchmark's effect chains outside replay.
let effectCompletions = Atomic<Int>(0)

/// A durable process that asks for a no-op effect, and another as each one
/// completes, until its chain is done.
struct EffectChain: DurableBehavior {
    static var effects: [any DurableEffect.Type] { [NoOpEffect.self] }

    /// Hot messages write themselves (`JournalCodable`), the completion too.
    enum Message: Codable, Sendable, EffectCompletionMessage, JournalCodable {
        case start(Int)
        case effectCompleted(EffectCompletion)

        func write(to writer: inout ByteWriter) {
            switch self {
            case .start(let count):
                writer.varint(0)
                writer.int(count)
            case .effectCompleted(let completion):
                writer.varint(1)
                completion.write(to: &writer)
            }
        }

        init(reading reader: inout ByteReader) throws {
            switch try reader.varint("case") {
            case 0: self = .start(try reader.int("count"))
            case 1: self = .effectCompleted(try EffectCompletion(reading: &reader))
            case let other: throw reader.error("unknown case \(other)")
            }
        }
    }

    struct State: Codable { var left = 0 }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .start(let count):
            state.left = count
            try context.perform(NoOpEffect(n: count))
        case .effectCompleted(let completion):
            if !context.isReplaying { effectCompletions.wrappingAdd(1, ordering: .relaxed) }
            guard completion.succeeded else { throw DurableError.notAccepted("a no-op effect failed: \(completion.failure.map(String.init(describing:)) ?? "?")") }
            state.left -= 1
            if state.left > 0 { try context.perform(NoOpEffect(n: state.left)) }
        }
    }
}

/// A transient process that runs a no-op effect, and another as each one's
/// outcome comes back, until its chain is done.
struct TransientEffectChain: Behavior {
    enum Message: Sendable {
        case start(Int)
        case done(Int)
    }

    func handle(_ message: Message, state: inout Int, context: inout Context<Message>) {
        switch message {
        case .start(let count):
            state = count
        case .done:
            effectCompletions.wrappingAdd(1, ordering: .relaxed)
            state -= 1
        }
        guard state > 0 else { return }
        let n = state
        context.run({ _ in n }, then: { .done((try? $0.get()) ?? 0) })
    }

    func initialState() -> Int { 0 }
}

/// `calf bench effects`: the round trip of an effect that does nothing —
/// asked for by a handler, journaled, run after the commit, its completion
/// journaled and handled — with `chains` processes each asking for the next
/// as the last completes; and the same for transient processes (no journal).
public enum EffectBench {
    public static func run(chains: Int, perChain: Int, report: Report) async throws {
        for durability in [StoreEnvironment.Durability.process, .fsync] {
            let dir = try DurableBench.directory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var options = DurableOptions(path: dir, durability: durability, behaviors: [EffectChain.self], checkpointInterval: .seconds(5), mapSize: 1 << 30)
            options.checkpointAtShutdown = false
            let node = try Node(durable: options)
            var addresses: [Address<EffectChain.Message>] = []
            for _ in 0..<chains { addresses.append(try await node.spawnDurable(EffectChain())) }
            effectCompletions.store(0, ordering: .relaxed)
            let before = node.commitStatistics
            let start = now()
            for address in addresses { node.send(.start(perChain), to: address) }
            let total = chains * perChain
            while effectCompletions.load(ordering: .relaxed) < total { try await Task.sleep(for: .milliseconds(1)) }
            let elapsed = now() - start
            let commits = (node.commitStatistics?.commits ?? 0) - (before?.commits ?? 0)
            report.figure("effects_durable_\(durability.rawValue)", Double(total) / elapsed, "round trips/s",
                          note: "\(chains) processes × \(perChain) no-op effects, each journaled asked-for and completed; \(commits) group commits")
            try await node.shutdown()
        }
        let node = try Node()
        var addresses: [Address<TransientEffectChain.Message>] = []
        for _ in 0..<chains { addresses.append(try await node.spawn(TransientEffectChain())) }
        effectCompletions.store(0, ordering: .relaxed)
        let start = now()
        for address in addresses { node.send(.start(perChain), to: address) }
        let total = chains * perChain
        while effectCompletions.load(ordering: .relaxed) < total { try await Task.sleep(for: .milliseconds(1)) }
        report.figure("effects_transient", Double(total) / (now() - start), "round trips/s",
                      note: "\(chains) processes × \(perChain) no-op effects, outcome back as a message")
        try await node.shutdown()
    }
}
