import Calf
import Foundation

// The fork-join and chameneos benchmarks of the Savina suite, written as
// `savina.erl` writes them for the BEAM.

/// Fork-join throughput: a worker that does a little arithmetic per message
/// and reports after `expected` of them.
struct SavinaForkJoinWorker: Behavior {
    struct State {
        var left: Int
        var sum = 0.0
    }
    let expected: Int
    let done: Address<Int>

    func initialState() -> State { State(left: expected) }

    func handle(_ message: Int, state: inout State, context: inout Context<Int>) {
        state.sum += sin(state.sum + 1)
        state.left -= 1
        if state.left == 0 { context.send(1, to: done) }
    }
}

/// Sends each worker its messages, round-robin, when told to.
struct SavinaForkJoinDriver: Behavior {
    typealias State = Void
    let workers: [Address<Int>]
    let perWorker: Int

    func handle(_ message: Int, state: inout Void, context: inout Context<Int>) {
        for round in 0..<perWorker {
            for worker in workers { context.send(round, to: worker) }
        }
    }
}

/// Fork-join creation: a process made for one message, which it handles, reports and ends.
struct SavinaForkJoinLeaf: Behavior {
    typealias State = Void
    let done: Address<Int>

    func handle(_ message: Int, state: inout Void, context: inout Context<Int>) {
        let value = sin(Double(message) + 37.2)
        context.send(value > 2 ? 0 : 1, to: done)
        context.stop()
    }
}

/// Creates `count` leaves, sending each its message, when told to.
struct SavinaForkJoinCreator: Behavior {
    typealias State = Void
    let count: Int
    let done: Address<Int>

    func handle(_ message: Int, state: inout Void, context: inout Context<Int>) throws {
        for index in 0..<count {
            let leaf = try context.spawn(SavinaForkJoinLeaf(done: done))
            context.send(index, to: leaf)
        }
    }
}

/// Chameneos: creatures that meet in pairs at the mall, each taking on the
/// complement of the two colours, until the mall has hosted its meetings.
struct SavinaChameneo: Behavior {
    enum Message: Sendable {
        case start(mall: Address<SavinaMall.Message>)
        case met(colour: Int)
        case stop
    }
    struct State {
        var colour: Int
        var mall: Address<SavinaMall.Message>?
    }
    let colour: Int

    func initialState() -> State { State(colour: colour) }

    func handle(_ message: Message, state: inout State, context: inout Context<Message>) {
        switch message {
        case .start(let mall):
            state.mall = mall
            context.send(.meet(context.address, colour: state.colour), to: mall)
        case .met(let other):
            state.colour = state.colour == other ? other : 3 - state.colour - other
            if let mall = state.mall { context.send(.meet(context.address, colour: state.colour), to: mall) }
        case .stop:
            context.stop()
        }
    }
}

/// The mall: pairs the creatures that come, `meetings` times, then sends each home.
struct SavinaMall: Behavior {
    enum Message: Sendable {
        case meet(Address<SavinaChameneo.Message>, colour: Int)
    }
    struct State {
        var left: Int
        var waiting: (Address<SavinaChameneo.Message>, Int)?
        var gone = 0
    }
    let meetings: Int
    let creatures: Int
    let done: Address<Double>

    func initialState() -> State { State(left: meetings) }

    func handle(_ message: Message, state: inout State, context: inout Context<Message>) {
        guard case .meet(let creature, let colour) = message else { return }
        if state.left == 0 {
            context.send(.stop, to: creature)
            state.gone += 1
            if state.gone == creatures { context.send(now(), to: done) }
        } else if let (other, otherColour) = state.waiting {
            state.waiting = nil
            state.left -= 1
            context.send(.met(colour: colour), to: other)
            context.send(.met(colour: otherColour), to: creature)
        } else {
            state.waiting = (creature, colour)
        }
    }
}

extension SavinaBench {
    /// Fork-join throughput: `perWorker` messages to each of `workers` processes.
    static func forkJoinThroughput(workers: Int, perWorker: Int, schedulers: Int) async throws -> Double {
        try await onFreshNode(schedulers: schedulers) { node, done in
            let sink = try await node.spawn(SavinaSink(total: workers, done: done))
            var all: [Address<Int>] = []
            for _ in 0..<workers { all.append(try await node.spawn(SavinaForkJoinWorker(expected: perWorker, done: sink))) }
            let driver = try await node.spawn(SavinaForkJoinDriver(workers: all, perWorker: perWorker))
            await node.settled()
            let start = now()
            node.send(0, to: driver)
            return (start, Double(workers * perWorker))
        }
    }

    /// Fork-join creation: `count` processes made, each for one message.
    static func forkJoinCreation(count: Int, schedulers: Int) async throws -> Double {
        try await onFreshNode(schedulers: schedulers) { node, done in
            let sink = try await node.spawn(SavinaSink(total: count, done: done))
            let creator = try await node.spawn(SavinaForkJoinCreator(count: count, done: sink))
            await node.settled()
            let start = now()
            node.send(0, to: creator)
            return (start, Double(count))
        }
    }

    /// Chameneos: `creatures` meeting `meetings` times at one mall.
    static func chameneos(creatures: Int, meetings: Int, schedulers: Int) async throws -> Double {
        try await onFreshNode(schedulers: schedulers) { node, done in
            let mall = try await node.spawn(SavinaMall(meetings: meetings, creatures: creatures, done: done))
            var all: [Address<SavinaChameneo.Message>] = []
            for index in 0..<creatures { all.append(try await node.spawn(SavinaChameneo(colour: index % 3))) }
            await node.settled()
            let start = now()
            for creature in all { node.send(.start(mall: mall), to: creature) }
            return (start, Double(meetings))
        }
    }
}
