import Calf

/// A member of a ring: passes the token to the next member.
struct RingMember: Behavior {
    enum Message: Sendable {
        case next(Address<Message>)
        case token(hops: Int)
    }
    struct State { var next: Address<Message>? }
    let done: Address<Double>

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout Context<Message>) {
        switch message {
        case .next(let next): state.next = next
        case .token(let hops):
            guard hops > 0, let next = state.next else {
                context.send(now(), to: done)
                return
            }
            context.send(.token(hops: hops - 1), to: next)
        }
    }
}

/// Builds a ring of `size` members on its own scheduler and replies with its head.
struct RingBuilder: Behavior {
    typealias State = Void
    let size: Int
    let done: Address<Double>

    func handle(_ message: Int, state: inout Void, context: inout Context<Int>) throws {
        let head = try context.spawn(RingMember(done: done))
        var next = head
        for _ in 1..<size {
            let member = try context.spawn(RingMember(done: done))
            context.send(.next(next), to: member)
            next = member
        }
        context.send(.next(next), to: head)
        context.reply(head)
    }
}

/// The `ring` benchmark of `calf bench`.
public enum RingBench {
    /// Runs the benchmark and prints its figures to `report`.
    public static func run(size: Int, laps: Int, report: Report) async throws {
        let node = try Node(schedulers: 1)
        let (done, stream) = try await node.receiver(of: Double.self)
        let builder = try await node.spawn(RingBuilder(size: size, done: done))
        let head: Address<RingMember.Message> = try await node.call(builder, 0, timeout: .seconds(60))
        let hops = size * laps
        let start = now()
        node.send(.token(hops: hops), to: head)
        var iterator = stream.makeAsyncIterator()
        let end = await iterator.next() ?? now()
        report.figure("ring", Double(hops) / (end - start), "hops/s", note: "\(size) processes x \(laps) laps")
        try await node.shutdown()
    }
}
