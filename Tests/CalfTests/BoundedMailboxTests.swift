import Calf
import Glibc
import Synchronization
import Testing

/// A process that keeps what it is sent, with a mailbox bound of its own
/// (nil: the node's default).
struct Sink: Behavior {
    var limit: MailboxLimit?
    /// Sleeps this long per message (a slow consumer; asleep, not spinning).
    var microseconds: UInt32 = 0
    enum Message: Sendable { case add(Int), get, watch(Address<Step>) }
    func initialState() -> [Int] { [] }
    var mailboxLimit: MailboxLimit? { limit }
    func handle(_ message: Message, state: inout [Int], context: inout Context<Message>) {
        switch message {
        case .add(let n):
            if microseconds > 0 { usleep(microseconds) }
            state.append(n)
        case .get: context.reply(state)
        case .watch(let target): context.monitor(target)
        }
    }
    func handle(signal: Signal, state: inout [Int], context: inout Context<Message>) {
        if case .down = signal { state.append(-1) }
    }
}

/// Bounded mailboxes of transient processes (`MailboxLimit`): what a send
/// to a full one does under each `MailboxOverflow`, that places come back
/// as the process takes its mail, and that the bound holds across threads.
@Suite(.timeLimit(.minutes(2))) struct BoundedMailboxTests {
    /// The sink's kept numbers, asked again while its full mailbox refuses the call.
    static func contents(_ node: Node, _ sink: Address<Sink.Message>) async throws -> [Int] {
        for _ in 1..<2000 {
            do {
                return try await node.call(sink, .get, timeout: .seconds(10), as: [Int].self)
            } catch .mailboxFull {
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        return try await node.call(sink, .get, timeout: .seconds(10), as: [Int].self)
    }

    /// Whether `body` failed with `mailboxFull`.
    static func failsMailboxFull(_ body: () async throws(CallError) -> [Int]) async -> Bool {
        do {
            _ = try await body()
            return false
        } catch {
            if case .mailboxFull = error { return true }
            Issue.record("expected mailboxFull, got \(error)")
            return false
        }
    }

    @Test func dropNewestCountsTheOverflowAsDeadLettersAndFailsCallsAtOnce() async throws {
        let node = try Node(schedulers: 2)
        let sink = try await node.spawn(Sink(limit: MailboxLimit(capacity: 3, overflow: .dropNewest)))
        #expect(await node.suspend(sink.pid.description))
        let deadBefore = node.deadLetters
        let sent = (1...5).map { node.send(Sink.Message.add($0), to: sink) }
        #expect(sent == [true, true, true, false, false])
        #expect(node.deadLetters == deadBefore + 2, "each dropped message is a dead letter")
        // A call to the full mailbox fails at once, not at its timeout.
        #expect(await Self.failsMailboxFull { () async throws(CallError) in try await node.call(sink, .get, timeout: .seconds(60), as: [Int].self) })

        let report = try #require(await node.processReport(sink.pid.description))
        #expect(report.mailboxLimit == 3)
        #expect(report.backlog == 3)
        #expect(report.refused == 3, "two sends and a call")

        #expect(await node.resume(sink.pid.description))
        #expect(try await Self.contents(node, sink) == [1, 2, 3])
        // Its places came back as it took its mail.
        #expect(node.send(Sink.Message.add(6), to: sink))
        #expect(try await Self.contents(node, sink) == [1, 2, 3, 6])
        #expect(await node.processReport(sink.pid.description)?.backlog == 0)
        try await node.shutdown()
    }

    @Test func failSenderTellsTheSenderAndCountsNoDeadLetter() async throws {
        let node = try Node(schedulers: 2)
        let sink = try await node.spawn(Sink(limit: MailboxLimit(capacity: 2, overflow: .failSender)))
        #expect(await node.suspend(sink.pid.description))
        let deadBefore = node.deadLetters
        #expect(node.send(Sink.Message.add(1), to: sink))
        #expect(node.send(Sink.Message.add(2), to: sink))
        #expect(!node.send(Sink.Message.add(3), to: sink))

        // A process sending to it hears the refusal too, on either scheduler.
        let (puppet, _) = try await puppet(node)
        let heard = Mutex<[Bool]>([])
        let done = AsyncStream<Void>.makeStream()
        node.send(Step { context in
            heard.withLock { $0.append(context.send(.add(4), to: sink)) }
            done.continuation.yield()
        }, to: puppet)
        _ = await next(done.stream)
        #expect(heard.withLock { $0 } == [false])
        #expect(node.deadLetters == deadBefore, "the sender was told: nothing is a dead letter")
        #expect(await Self.failsMailboxFull { () async throws(CallError) in try await node.call(sink, .get, timeout: .seconds(60), as: [Int].self) })

        #expect(await node.processReport(sink.pid.description)?.refused == 3, "two sends and a call")
        #expect(await node.resume(sink.pid.description))
        #expect(try await Self.contents(node, sink) == [1, 2])
        try await node.shutdown()
    }

    @Test func signalsAreNeverRefused() async throws {
        let node = try Node(schedulers: 1)
        let (puppet, _) = try await puppet(node)
        let watcher = try await node.spawn(Sink(limit: MailboxLimit(capacity: 1, overflow: .dropNewest)))
        #expect(node.send(Sink.Message.watch(puppet), to: watcher))
        #expect(try await Self.contents(node, watcher) == [])
        #expect(await node.suspend(watcher.pid.description))
        #expect(node.send(Sink.Message.add(1), to: watcher))
        #expect(!node.send(Sink.Message.add(2), to: watcher))
        // The watched process ends: its down signal reaches the full mailbox all the same.
        node.send(Step { _ in throw Boom() }, to: puppet)
        #expect(await eventually { await node.processReport(puppet.pid.description) == nil })
        #expect(await node.resume(watcher.pid.description))
        #expect(try await Self.contents(node, watcher) == [1, -1])
        try await node.shutdown()
    }

    @Test func theNodeDefaultBoundsBehaviorsThatNameNoneAndABehaviorsOwnWins() async throws {
        let node = try Node(schedulers: 1, mailboxLimit: MailboxLimit(capacity: 2, overflow: .failSender))
        let byDefault = try await node.spawn(Sink())
        let own = try await node.spawn(Sink(limit: MailboxLimit(capacity: 5)))
        #expect(await node.processReport(byDefault.pid.description)?.mailboxLimit == 2)
        #expect(await node.processReport(own.pid.description)?.mailboxLimit == 5)
        let (puppet, _) = try await puppet(node)
        #expect(await node.processReport(puppet.pid.description)?.mailboxLimit == 2)
        let unbounded = try Node(schedulers: 1)
        let free = try await unbounded.spawn(Sink())
        #expect(await unbounded.processReport(free.pid.description)?.mailboxLimit == nil)
        try await unbounded.shutdown()
        try await node.shutdown()
    }

    /// Senders on both schedulers and outside flood a slow consumer on one:
    /// every send is accepted or refused, every accepted one is handled
    /// once, and the backlog never passes the bound.
    @Test func underAFloodFromEveryThreadTheBoundHoldsAndNothingAcceptedIsLost() async throws {
        let node = try Node(schedulers: 2, balancing: .off)
        let capacity = 50
        let sink = try await node.spawn(Sink(limit: MailboxLimit(capacity: capacity, overflow: .failSender), microseconds: 20), on: 1)
        let accepted = Atomic<Int>(0)
        let perSender = 3000
        var puppets: [Address<Step>] = []
        for scheduler in 0..<2 { puppets.append(try await node.spawn(Puppet(), on: scheduler)) }
        let finished = AsyncStream<Void>.makeStream()
        for (index, puppet) in puppets.enumerated() {
            node.send(Step { context in
                var taken = 0
                for n in 0..<perSender where context.send(.add(index * perSender + n), to: sink) { taken += 1 }
                accepted.wrappingAdd(taken, ordering: .relaxed)
                finished.continuation.yield()
            }, to: puppet)
        }
        var maxBacklog = 0
        var outside = 0
        for n in 0..<perSender {
            if node.send(Sink.Message.add(2 * perSender + n), to: sink) { outside += 1 }
            if n % 300 == 0, let backlog = await node.processReport(sink.pid.description)?.backlog { maxBacklog = max(maxBacklog, backlog) }
        }
        accepted.wrappingAdd(outside, ordering: .relaxed)
        var ends = finished.stream.makeAsyncIterator()
        for _ in puppets { _ = await ends.next() }
        let refused = await node.processReport(sink.pid.description)?.refused
        let kept = try await Self.contents(node, sink)
        let total = accepted.load(ordering: .relaxed)
        #expect(kept.count == total, "accepted \(total), handled \(kept.count)")
        #expect(Set(kept).count == kept.count, "a message handled twice")
        #expect(total < 3 * perSender, "a slow consumer with 50 places refused nothing")
        #expect(maxBacklog <= capacity)
        #expect(refused == UInt64(3 * perSender - total), "every refusal counted")
        try await node.shutdown()
    }
}
