import Calf

// The messaging benchmarks of the Savina suite (Imam & Sarkar, 2014):
// ping-pong, thread ring, counting and big, written as `savina.erl` writes
// them for the BEAM (SavinaErlang.swift), one process for one process.

/// Counts what it is sent and, at `total`, tells `done` the time.
struct SavinaSink: Behavior {
    typealias State = Int
    let total: Int
    let done: Address<Double>

    func initialState() -> Int { 0 }

    func handle(_ message: Int, state: inout Int, context: inout Context<Int>) {
        state += message
        if state == total { context.send(now(), to: done) }
    }
}

/// A ping-pong player: passes the ball on until no hops remain.
struct SavinaPlayer: Behavior {
    enum Message: Sendable {
        case peer(Address<Message>)
        case ball(remaining: Int)
    }
    let done: Address<Double>

    func initialState() -> Address<Message>? { nil }

    func handle(_ message: Message, state: inout Address<Message>?, context: inout Context<Message>) {
        switch message {
        case .peer(let peer): state = peer
        case .ball(let remaining):
            if remaining == 0 {
                context.send(now(), to: done)
            } else if let peer = state {
                context.send(.ball(remaining: remaining - 1), to: peer)
            }
        }
    }
}

/// A member of the thread ring.
struct SavinaRingMember: Behavior {
    enum Message: Sendable {
        case next(Address<Message>)
        case token(Int)
    }
    let done: Address<Double>

    func initialState() -> Address<Message>? { nil }

    func handle(_ message: Message, state: inout Address<Message>?, context: inout Context<Message>) {
        switch message {
        case .next(let next): state = next
        case .token(let hops):
            if hops == 0 {
                context.send(now(), to: done)
            } else if let next = state {
                context.send(.token(hops - 1), to: next)
            }
        }
    }
}

/// Counting: a counter and the producer that sends it `count` increments, then asks for the total.
struct SavinaCounter: Behavior {
    enum Message: Sendable {
        case increment
        case get(Address<Int>)
    }

    func initialState() -> Int { 0 }

    func handle(_ message: Message, state: inout Int, context: inout Context<Message>) {
        switch message {
        case .increment: state += 1
        case .get(let asker): context.send(state, to: asker)
        }
    }
}

/// Sends the counter its increments when told to.
struct SavinaProducer: Behavior {
    typealias State = Void
    let counter: Address<SavinaCounter.Message>
    let count: Int
    let answer: Address<Int>

    func handle(_ message: Int, state: inout Void, context: inout Context<Int>) {
        for _ in 0..<count { context.send(.increment, to: counter) }
        context.send(.get(answer), to: counter)
    }
}

/// Big: each worker pings a random neighbour and waits for its pong, `pings`
/// times, answering the others' pings all along.
struct SavinaBigWorker: Behavior {
    enum Message: Sendable {
        case start(neighbours: [Address<Message>], pings: Int)
        case ping(from: Address<Message>)
        case pong
    }
    struct State {
        var neighbours: [Address<Message>] = []
        var left = 0
        var random: UInt64
    }
    let seed: UInt64
    let done: Address<Int>

    func initialState() -> State { State(random: seed | 1) }

    func handle(_ message: Message, state: inout State, context: inout Context<Message>) {
        switch message {
        case .start(let neighbours, let pings):
            state.neighbours = neighbours
            state.left = pings
            pingSomeone(&state, context)
        case .ping(let from):
            context.send(.pong, to: from)
        case .pong:
            state.left -= 1
            if state.left == 0 {
                context.send(1, to: done)
            } else {
                pingSomeone(&state, context)
            }
        }
    }

    private func pingSomeone(_ state: inout State, _ context: Context<Message>) {
        // xorshift64: the same cheap generator on every run.
        state.random ^= state.random << 13
        state.random ^= state.random >> 7
        state.random ^= state.random << 17
        let neighbour = state.neighbours[Int(state.random % UInt64(state.neighbours.count))]
        context.send(.ping(from: context.address), to: neighbour)
    }
}

extension SavinaBench {
    /// Ping-pong: `hops` passes between two processes placed on different schedulers.
    static func pingPong(hops: Int, schedulers: Int) async throws -> Double {
        try await onFreshNode(schedulers: schedulers) { node, done in
            let a = try await node.spawn(SavinaPlayer(done: done), placement: .scheduler(0))
            let b = try await node.spawn(SavinaPlayer(done: done), placement: .scheduler(1 % node.schedulerCount))
            node.send(.peer(b), to: a)
            node.send(.peer(a), to: b)
            await node.settled()
            let start = now()
            node.send(.ball(remaining: hops), to: a)
            return (start, Double(hops))
        }
    }

    /// Thread ring: a token passed `hops` times around `size` processes.
    static func threadRing(size: Int, hops: Int, schedulers: Int) async throws -> Double {
        try await onFreshNode(schedulers: schedulers) { node, done in
            var members: [Address<SavinaRingMember.Message>] = []
            for _ in 0..<size { members.append(try await node.spawn(SavinaRingMember(done: done))) }
            for (index, member) in members.enumerated() { node.send(.next(members[(index + 1) % size]), to: member) }
            await node.settled()
            let start = now()
            node.send(.token(hops), to: members[0])
            return (start, Double(hops))
        }
    }

    /// Counting: `count` increments from one process to another, then the total asked for.
    static func counting(count: Int, schedulers: Int) async throws -> Double {
        try await onFreshNode(schedulers: schedulers) { node, done in
            let sink = try await node.spawn(SavinaSink(total: count, done: done))
            let counter = try await node.spawn(SavinaCounter(), placement: .scheduler(0))
            let producer = try await node.spawn(SavinaProducer(counter: counter, count: count, answer: sink), placement: .scheduler(1 % node.schedulerCount))
            await node.settled()
            let start = now()
            node.send(0, to: producer)
            return (start, Double(count))
        }
    }

    /// Big: `workers` processes each pinging random ones `pings` times (messages: pings and pongs).
    static func big(workers: Int, pings: Int, schedulers: Int) async throws -> Double {
        try await onFreshNode(schedulers: schedulers) { node, done in
            let sink = try await node.spawn(SavinaSink(total: workers, done: done))
            var all: [Address<SavinaBigWorker.Message>] = []
            for index in 0..<workers {
                all.append(try await node.spawn(SavinaBigWorker(seed: UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15, done: sink)))
            }
            await node.settled()
            let start = now()
            for worker in all { node.send(.start(neighbours: all, pings: pings), to: worker) }
            return (start, Double(workers * pings * 2))
        }
    }
}
