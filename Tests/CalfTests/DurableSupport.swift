import Calf
import CalfStore
import Foundation
import Synchronization
import Testing

/// A fresh data directory, removed afterwards.
func withDataDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-durable-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try await body(dir.path)
}

/// Switches tests flip to make a handler fail or behave differently.
enum Switches {
    /// Failures left for `.failOnce` messages.
    static let failuresLeft = Atomic<Int>(0)
    /// When set, `.maybeSend` sends to itself (a nondeterministic handler).
    static let divergent = Atomic<Bool>(false)
}

/// A durable test process: a running total, a log of what it saw, timers.
struct Ledger: DurableBehavior {
    var start = 0
    var every: Int?
    var intervalMilliseconds: Int?

    enum Message: Codable, Sendable, Equatable {
        case add(Int)
        case get
        case failOnce(Int)
        case poison
        case maybeSend
        case after(milliseconds: Int, tag: Int)
        case every(milliseconds: Int)
        case tick
        case fired(Int)
        case forward(Int, to: String)
        case roll
        case quit
        case slowAdd(Int)
        case spawnChild(String)
        case remember(Address<Message>)
        case poke(Int)
    }

    struct State: Codable, Equatable, Sendable {
        var total = 0
        var seen: [Int] = []
        var ticks = 0
        /// When each tick was accepted (its `context.now`), ns since the epoch.
        var tickTimes: [UInt64] = []
        var fired: [Int] = []
        var rolls: [UInt64] = []
        /// `context.now` at each roll.
        var rollTimes: [UInt64] = []
        var children: [Pid] = []
        var peer: Address<Message>?
    }

    var snapshotEvery: Int? { every }
    var snapshotInterval: Duration? { intervalMilliseconds.map { .milliseconds($0) } }

    func initialState() -> State { State(total: start) }

    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .add(let n):
            state.total += n
            state.seen.append(n)
        case .get:
            context.reply(state.total)
        case .failOnce(let n):
            if Switches.failuresLeft.wrappingSubtract(1, ordering: .relaxed).oldValue > 0 { throw Boom(tag: "fail \(n)") }
            state.total += n
            state.seen.append(n)
        case .poison:
            state.total += 1_000_000 // never kept: the handler throws after it
            throw Boom(tag: "poison")
        case .maybeSend:
            if Switches.divergent.load(ordering: .relaxed) { context.send(.add(0), to: context.address) }
        case .after(let ms, let tag):
            context.sendAfter(.fired(tag), after: .milliseconds(ms))
        case .every(let ms):
            context.sendInterval(.tick, every: .milliseconds(ms))
        case .tick:
            state.ticks += 1
            state.tickTimes.append(context.now.nanosecondsSinceEpoch)
        case .fired(let tag):
            state.fired.append(tag)
        case .forward(let n, let name):
            context.send(Message.add(n), to: name)
        case .roll:
            state.rolls.append(context.random.next())
            state.rollTimes.append(context.now.nanosecondsSinceEpoch)
        case .quit:
            context.stop()
        case .spawnChild(let name):
            let child = try context.spawn(Ledger(start: 100), name: name)
            context.send(.add(5), to: child)
            state.children.append(child.pid)
        case .remember(let peer):
            state.peer = peer
        case .poke(let n):
            if let peer = state.peer { context.send(.add(n), to: peer) }
        case .slowAdd(let n):
            let until = ContinuousClock.now + .microseconds(300)
            while ContinuousClock.now < until {}
            state.total += n
            state.seen.append(n)
        }
    }
}

func durableOptions(_ path: String, durability: StoreEnvironment.Durability = .process, snapshotEvery: Int = 1000,
                    checkpointAtShutdown: Bool = false, mapSize: Int = 1 << 20) -> DurableOptions {
    var options = DurableOptions(path: path, durability: durability, behaviors: [Ledger.self], snapshotEvery: snapshotEvery,
                                 checkpointInterval: .seconds(3600), mapSize: mapSize)
    options.checkpointAtShutdown = checkpointAtShutdown
    return options
}

/// The state of the Ledger registered as `name`, once it has handled everything sent so far.
func ledgerState(_ node: Node, _ name: String) async throws -> Ledger.State {
    let address = try #require(node.address(named: name, as: Ledger.Message.self))
    let _: Int = try await node.call(address, .get)
    return try await node.state(of: address, as: Ledger.self)
}
