import Calf

/// One of two processes passing a ball back and forth.
struct Player: Behavior {
    enum Message: Sendable {
        /// Sent to the server: learn the peer, report to `done`, serve `count` balls.
        case serve(peer: Address<Message>, count: Int, done: Address<Double>)
        /// Sent by the server to the receiver: learn the peer.
        case meet(Address<Message>)
        case ball(remaining: Int)
    }
    struct State {
        var peer: Address<Message>?
        var done: Address<Double>?
    }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout Context<Message>) {
        switch message {
        case .serve(let peer, let count, let done):
            state.peer = peer
            state.done = done
            context.send(.meet(context.address), to: peer)
            context.send(.ball(remaining: count - 1), to: peer)
        case .meet(let peer):
            state.peer = peer
        case .ball(let remaining):
            guard let peer = state.peer else { return }
            if remaining > 0 {
                context.send(.ball(remaining: remaining - 1), to: peer)
            } else if let done = state.done {
                context.send(now(), to: done)
            } else {
                context.send(.ball(remaining: 0), to: peer)
            }
        }
    }
}

/// The `pingpong` benchmark of `calf bench`.
public enum PingPongBench {
    /// Runs the benchmark and prints its figures to `report`.
    public static func run(messages: Int, report: Report) async throws {
        var sameRate = 0.0
        // Placed on different schedulers at start, the balancer may bring the
        // two together (compaction); pinned, every ball crosses between threads.
        let runs: [(String, Placement, Placement)] = [
            ("pingpong", .pinned(0), .pinned(0)),
            ("pingpong_cross_scheduler", .scheduler(0), .scheduler(1)),
            ("pingpong_cross_scheduler_pinned", .pinned(0), .pinned(1)),
        ]
        for (label, first, second) in runs {
            let node = try Node(schedulers: 2)
            let a = try await node.spawn(Player(), placement: first)
            let b = try await node.spawn(Player(), placement: second)
            let (done, stream) = try await node.receiver(of: Double.self)
            let start = now()
            node.send(.serve(peer: b, count: messages, done: done), to: a)
            var iterator = stream.makeAsyncIterator()
            let end = await iterator.next() ?? now()
            let rate = Double(messages) / (end - start)
            if sameRate == 0 {
                sameRate = rate
                report.figure(label, rate, "msgs/s")
            } else {
                report.figure(label, rate, "msgs/s", note: String(format: "%.1fx slower than one scheduler", sameRate / rate))
            }
            try await node.shutdown()
        }
    }
}
