import Calf
import Testing

/// A ledger whose message and state `@JournalCoded` codes, an address and a
/// dictionary among them; and the same ledger as first deployed, plain
/// `Codable` (same behavior name, same fields), to upgrade from.
struct CodedLedger: DurableBehavior {
    static var behaviorName: String { "Ledger" }

    @JournalCoded
    enum Message: Codable, Sendable, Equatable {
        case add(Int, account: String)
        case link(Address<Message>)
        case pass(Int)
        case get(account: String)
    }

    @JournalCoded
    struct State: Codable, Equatable {
        var balances: [String: Int] = [:]
        var peer: Address<Message>?
    }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) {
        switch message {
        case .add(let amount, let account): state.balances[account, default: 0] += amount
        case .link(let peer): state.peer = peer
        case .pass(let amount): if let peer = state.peer { context.send(.add(amount, account: "passed-\(amount % 3)"), to: peer) }
        case .get(let account): context.reply(state.balances[account] ?? 0)
        }
    }
}

/// `CodedLedger` before `@JournalCoded` was added: the same types, `Codable` only.
struct PlainLedger: DurableBehavior {
    static var behaviorName: String { "Ledger" }

    enum Message: Codable, Sendable, Equatable {
        case add(Int, account: String)
        case link(Address<Message>)
        case pass(Int)
        case get(account: String)
    }

    struct State: Codable, Equatable {
        var balances: [String: Int] = [:]
        var peer: Address<Message>?
    }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) {
        switch message {
        case .add(let amount, let account): state.balances[account, default: 0] += amount
        case .link(let peer): state.peer = peer
        case .pass: break // Sends nothing: its outputs' digests would cover Codable bytes, which a replay by CodedLedger does not write.
        case .get(let account): context.reply(state.balances[account] ?? 0)
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct JournalCodedDurableTests {
    func options<B: DurableBehavior>(_ dir: String, _: B.Type, checkpointAtShutdown: Bool) -> DurableOptions {
        var options = DurableOptions(path: dir, durability: .process, behaviors: [B.self], snapshotEvery: 1000,
                                     checkpointInterval: .seconds(3600), mapSize: 1 << 20)
        options.checkpointAtShutdown = checkpointAtShutdown
        return options
    }

    func balance(_ node: Node, _ name: String, _ account: String) async throws -> Int {
        let address = try #require(node.address(named: name, as: CodedLedger.Message.self))
        return try await node.call(address, .get(account: account))
    }

    @Test func macroCodedMessagesAndStateComeBackByReplayAndBySnapshotWithTheirAddresses() async throws {
        try await withDataDirectory { dir in
            do {
                let node = try Node(schedulers: 2, durable: options(dir, CodedLedger.self, checkpointAtShutdown: false))
                let a = try await node.spawnDurable(CodedLedger(), name: "a")
                let b = try await node.spawnDurable(CodedLedger(), name: "b")
                node.send(.link(b), to: a)
                for n in 1...60 { node.send(.pass(n), to: a) }
                #expect(await node.settled())
                #expect(try await balance(node, "b", "passed-0") == (1...60).filter { $0 % 3 == 0 }.reduce(0, +))
                try await node.shutdown()
            }
            let expected = (0..<3).map { k in (1...60).filter { $0 % 3 == k }.reduce(0, +) }
            // Replay: every message decoded through the macro's code, a's sends checked against their digests
            // (b's dictionary grows differently in a new node: its bytes must not).
            do {
                let node = try Node(schedulers: 2, durable: options(dir, CodedLedger.self, checkpointAtShutdown: true))
                #expect(node.quarantinedProcesses.isEmpty)
                #expect(node.recoveryReport?.replayed ?? 0 >= 121)
                for k in 0..<3 { #expect(try await balance(node, "b", "passed-\(k)") == expected[k]) }
                let a = try #require(node.address(named: "a", as: CodedLedger.Message.self))
                let b = try #require(node.address(named: "b", as: CodedLedger.Message.self))
                #expect(try await node.state(of: a, as: CodedLedger.self).peer == b)
                try await node.shutdown()
            }
            // From the snapshots the last shutdown wrote through the macro's code.
            let node = try Node(schedulers: 2, durable: options(dir, CodedLedger.self, checkpointAtShutdown: false))
            #expect(node.recoveryReport?.replayed == 0, "the last start came from snapshots")
            #expect(node.quarantinedProcesses.isEmpty)
            for k in 0..<3 { #expect(try await balance(node, "b", "passed-\(k)") == expected[k]) }
            try await node.shutdown()
        }
    }

    @Test func aJournalWrittenBeforeTheMacroWasAddedReplaysAndItsSnapshotsRead() async throws {
        try await withDataDirectory { dir in
            // First deployed without the macro: one process snapshotted, then more mail left in the log.
            do {
                let node = try Node(schedulers: 2, durable: options(dir, PlainLedger.self, checkpointAtShutdown: false))
                let a = try await node.spawnDurable(PlainLedger(), name: "a")
                let b = try await node.spawnDurable(PlainLedger(), name: "b")
                node.send(.link(b), to: a)
                for n in 1...10 { node.send(.add(n, account: "x"), to: a) }
                #expect(await node.settled())
                try await node.checkpoint()
                for n in 1...5 { node.send(.add(n, account: "y"), to: a) }
                #expect(await node.settled())
                try await node.shutdown()
            }
            // The upgrade: Codable snapshots and log records, read by the macro-coded types.
            do {
                let node = try Node(schedulers: 2, durable: options(dir, CodedLedger.self, checkpointAtShutdown: false))
                #expect(node.quarantinedProcesses.isEmpty)
                #expect(node.recoveryReport?.replayed ?? 0 >= 5)
                #expect(try await balance(node, "a", "x") == 55)
                #expect(try await balance(node, "a", "y") == 15)
                let a = try #require(node.address(named: "a", as: CodedLedger.Message.self))
                let b = try #require(node.address(named: "b", as: CodedLedger.Message.self))
                #expect(try await node.state(of: a, as: CodedLedger.self).peer == b)
                node.send(.add(100, account: "z"), to: a)
                #expect(await node.settled())
                try await node.shutdown()
            }
            // Old and new records side by side in the log, both replayed.
            let node = try Node(schedulers: 2, durable: options(dir, CodedLedger.self, checkpointAtShutdown: false))
            #expect(node.quarantinedProcesses.isEmpty)
            #expect(try await balance(node, "a", "y") == 15)
            #expect(try await balance(node, "a", "z") == 100)
            try await node.shutdown()
        }
    }
}
