import Calf
import CalfStore
import Synchronization
import Testing

/// A durable process whose message and state write themselves to the
/// journal (`JournalCodable`), an address among them.
struct Meter: DurableBehavior {
    /// Values written through the conformance (so a test knows the fast path ran).
    static let writes = Atomic<Int>(0)
    /// `pass` and `add` messages written (polls of `get` are not counted: their number varies with the machine's speed).
    static let passesAndAdds = Atomic<Int>(0)

    enum Message: Codable, Sendable, Equatable, JournalCodable {
        case add(Int)
        case link(Address<Message>)
        case pass(Int)
        case get

        func write(to writer: inout ByteWriter) {
            Meter.writes.wrappingAdd(1, ordering: .relaxed)
            if case .get = self {} else if case .link = self {} else { Meter.passesAndAdds.wrappingAdd(1, ordering: .relaxed) }
            switch self {
            case .add(let n): writer.byte(0); writer.int(n)
            case .link(let peer): writer.byte(1); writer.address(peer)
            case .pass(let n): writer.byte(2); writer.int(n)
            case .get: writer.byte(3)
            }
        }

        init(reading reader: inout ByteReader) throws {
            switch try reader.byte("case") {
            case 0: self = .add(try reader.int("n"))
            case 1: self = .link(try reader.address("peer"))
            case 2: self = .pass(try reader.int("n"))
            case 3: self = .get
            case let other: throw reader.error("unknown case \(other)")
            }
        }
    }

    struct State: Codable, Equatable, JournalCodable {
        var total = 0
        var peer: Address<Message>?

        init() {}

        func write(to writer: inout ByteWriter) {
            Meter.writes.wrappingAdd(1, ordering: .relaxed)
            writer.int(total)
            writer.bool(peer != nil)
            if let peer { writer.address(peer) }
        }

        init(reading reader: inout ByteReader) throws {
            total = try reader.int("total")
            peer = try reader.bool("has peer") ? try reader.address("peer") : nil
        }
    }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) {
        switch message {
        case .add(let n): state.total += n
        case .link(let peer): state.peer = peer
        case .pass(let n): if let peer = state.peer { context.send(.add(n), to: peer) }
        case .get: context.reply(state.total)
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct JournalCodableDurableTests {
    func options(_ dir: String, checkpointAtShutdown: Bool) -> DurableOptions {
        var options = DurableOptions(path: dir, durability: .process, behaviors: [Meter.self], snapshotEvery: 1000,
                                     checkpointInterval: .seconds(3600), mapSize: 1 << 20)
        options.checkpointAtShutdown = checkpointAtShutdown
        return options
    }

    func total(_ node: Node, _ name: String) async throws -> Int {
        let address = try #require(node.address(named: name, as: Meter.Message.self))
        return try await node.call(address, .get)
    }

    @Test func messagesAndStatesThatWriteThemselvesComeBackByReplayAndBySnapshot() async throws {
        try await withDataDirectory { dir in
            let writesBefore = Meter.passesAndAdds.load(ordering: .relaxed)
            do {
                let node = try Node(schedulers: 2, durable: options(dir, checkpointAtShutdown: false))
                let a = try await node.spawnDurable(Meter(), name: "a")
                let b = try await node.spawnDurable(Meter(), name: "b")
                node.send(.link(b), to: a)
                for n in 1...50 { node.send(.pass(n), to: a) }
                #expect(await node.settled())
                #expect((try? await total(node, "b")) == 1275)
                try await node.shutdown()
            }
            // 50 passes from outside and the 50 adds a sends b, each written by the conformance (a send's
            // bytes may be written again for its output digest); only this suite, serialized, makes Meters.
            #expect(Meter.passesAndAdds.load(ordering: .relaxed) - writesBefore >= 100, "every message went through the conformance")
            // No snapshot: a and b come back by replaying what they handled
            // (a's sends are checked against their digests on the way).
            do {
                let node = try Node(schedulers: 2, durable: options(dir, checkpointAtShutdown: true))
                #expect(node.quarantinedProcesses.isEmpty)
                #expect(node.recoveryReport?.replayed ?? 0 >= 101)
                #expect(try await total(node, "b") == 1275)
                let a = try #require(node.address(named: "a", as: Meter.Message.self))
                let b = try #require(node.address(named: "b", as: Meter.Message.self))
                #expect(try await node.state(of: a, as: Meter.self).peer == b)
                node.send(.pass(1000), to: a)
                #expect(await node.settled())
                #expect((try? await total(node, "b")) == 2275)
                try await node.shutdown()
            }
            // From the snapshots (state written through the conformance, the address in it found again).
            let node = try Node(schedulers: 2, durable: options(dir, checkpointAtShutdown: false))
            #expect(node.recoveryReport?.replayed == 0, "the last start came from snapshots")
            let a = try #require(node.address(named: "a", as: Meter.Message.self))
            node.send(.pass(5), to: a)
            #expect(await node.settled())
            #expect((try? await total(node, "b")) == 2280)
            try await node.shutdown()
        }
    }
}

/// A behavior whose runtime is another's: its cells keep the generic turn
/// (what runs where no specialized copy is installed).
struct GenericTurnMeter: DurableBehavior {
    static var _durableRuntime: DurableRuntime { DurableRuntime(Meter.self) }
    typealias Message = Meter.Message
    typealias State = Meter.State
    func initialState() -> State { State() }
    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) {
        Meter().handle(message, state: &state, context: &context)
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct GenericTurnTests {
    @Test func aCellWithoutItsSpecializedTurnRunsTheGenericOneTheSame() async throws {
        try await withDataDirectory { dir in
            var options = DurableOptions(path: dir, durability: .process, behaviors: [GenericTurnMeter.self], snapshotEvery: 1000,
                                         checkpointInterval: .seconds(3600), mapSize: 1 << 20)
            options.checkpointAtShutdown = false
            do {
                let node = try Node(schedulers: 2, durable: options)
                let a = try await node.spawnDurable(GenericTurnMeter(), name: "a")
                let b = try await node.spawnDurable(GenericTurnMeter(), name: "b")
                node.send(.link(b), to: a)
                for n in 1...20 { node.send(.pass(n), to: a) }
                #expect(await node.settled())
                #expect((try? await node.call(b, .get) as Int) == 210)
                try await node.shutdown()
            }
            // Replayed through the generic turn too (digests checked).
            let node = try Node(schedulers: 2, durable: options)
            #expect(node.quarantinedProcesses.isEmpty)
            #expect(node.recoveryReport?.replayed ?? 0 >= 41)
            let b = try #require(node.address(named: "b", as: Meter.Message.self))
            #expect(try await node.call(b, .get) as Int == 210)
            try await node.shutdown()
        }
    }
}
