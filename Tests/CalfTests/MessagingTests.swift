import Calf
import Testing

/// Sends 0..<count to `to` when told.
struct Counter: Behavior {
    typealias State = Void
    let count: Int
    let to: Address<Int>
    func handle(_ message: Bool, state: inout Void, context: inout Context<Bool>) {
        for i in 0..<count { context.send(i, to: to) }
    }
}

/// A stateful counter answering calls.
struct Tally: Behavior {
    enum Message: Sendable { case add(Int), get, getLater, ignore }
    typealias State = Int
    func initialState() -> Int { 0 }
    func handle(_ message: Message, state: inout Int, context: inout Context<Message>) throws {
        switch message {
        case .add(let n): state += n
        case .get: context.reply(state)
        case .getLater:
            let pending = context.takePendingReply()
            context.sendAfter(.add(0), after: .milliseconds(1))
            pending?.reply(state * 10)
        case .ignore: break
        }
    }
}

/// A ring member: learns the next member, then forwards a token.
struct Relay: Behavior {
    enum Message: Sendable { case next(Address<Message>), token(hops: Int) }
    struct NotClosed: Error {}
    typealias State = Address<Message>?
    let done: Address<Int>
    func initialState() -> State { nil }
    func handle(_ message: Message, state: inout State, context: inout Context<Message>) throws {
        switch message {
        case .next(let next): state = next
        case .token(0): context.send(0, to: done)
        case .token(let hops):
            guard let next = state else { throw NotClosed() }
            context.send(.token(hops: hops - 1), to: next)
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct MessagingTests {
    @Test(arguments: [(0, 0), (0, 1)])
    func messagesBetweenAPairArriveInOrder(schedulers: (Int, Int)) async throws {
        let node = try Node(schedulers: 2)
        let (sink, stream) = try await node.receiver(of: Int.self, on: schedulers.1)
        let sender = try await node.spawn(Counter(count: 20_000, to: sink), on: schedulers.0)
        node.send(true, to: sender)
        var received: [Int] = []
        for await value in stream {
            received.append(value)
            if received.count == 20_000 { break }
        }
        #expect(received == Array(0..<20_000))
        try await node.shutdown()
    }

    /// A ring closed by messages from outside: the token a member forwards
    /// must not overtake the `next` address the test sent that member first.
    @Test func aLocalSendDoesNotOvertakeEarlierMailFromOutside() async throws {
        let node = try Node(schedulers: 1)
        let (done, finished) = try await node.receiver(of: Int.self)
        var members: [Address<Relay.Message>] = []
        for _ in 0..<200 { members.append(try await node.spawn(Relay(done: done))) }
        for (index, member) in members.enumerated() {
            node.send(.next(members[(index + 1) % members.count]), to: member)
        }
        node.send(.token(hops: 1_000), to: members[0])
        #expect(await next(finished) == 0)
        #expect(node.deadLetters == 0)
        try await node.shutdown()
    }

    @Test func callGetsTheReplyAndStateIsKept() async throws {
        let node = try Node(schedulers: 2)
        let tally = try await node.spawn(Tally())
        for i in 1...100 { node.send(.add(i), to: tally) }
        let total: Int = try await node.call(tally, .get)
        #expect(total == 5050)
        let later: Int = try await node.call(tally, .getLater)
        #expect(later == 50500)
        try await node.shutdown()
    }

    @Test func callTimesOutWhenNoReplyComes() async throws {
        let node = try Node(schedulers: 1)
        let tally = try await node.spawn(Tally())
        let start = ContinuousClock.now
        await #expect(throws: CallError.timeout(.milliseconds(50))) {
            let _: Int = try await node.call(tally, .ignore, timeout: .milliseconds(50))
        }
        #expect(ContinuousClock.now - start >= .milliseconds(50))
        // The process is still fine after a caller gave up.
        let value: Int = try await node.call(tally, .get)
        #expect(value == 0)
        try await node.shutdown()
    }

    @Test func callWithTheWrongReplyTypeIsAClearError() async throws {
        let node = try Node(schedulers: 1)
        let tally = try await node.spawn(Tally())
        await #expect(throws: CallError.unexpectedReply(expected: "String", got: "Int")) {
            let _: String = try await node.call(tally, .get)
        }
        try await node.shutdown()
    }

    @Test func callToADeadProcessFailsWithNoProcess() async throws {
        let node = try Node(schedulers: 1)
        let tally = try await node.spawn(Tally())
        node.kill(tally)
        #expect(await exits(node, tally))
        await #expect(throws: CallError.noProcess(tally.pid.description)) {
            let _: Int = try await node.call(tally, .get)
        }
        try await node.shutdown()
    }

    @Test func callFromInsideAProcessComesBackAsAMessage() async throws {
        let node = try Node(schedulers: 2)
        let tally = try await node.spawn(Tally(), on: 1)
        node.send(.add(7), to: tally)
        let (asker, _) = try await puppet(node, on: 0)
        let (out, results) = try await node.receiver(of: String.self)
        node.send(Step { context in
            context.call(tally, .get, timeout: .seconds(5)) { (result: Result<Int, CallError>) in
                Step { context in
                    switch result {
                    case .success(let value): context.send("got \(value)", to: out)
                    case .failure(let error): context.send("failed \(error)", to: out)
                    }
                }
            }
            context.call(tally, .ignore, timeout: .milliseconds(20)) { (result: Result<Int, CallError>) in
                Step { context in
                    if case .failure(.timeout(.milliseconds(20))) = result {
                        context.send("second timed out", to: out)
                    } else {
                        context.send("second: \(result)", to: out)
                    }
                }
            }
        }, to: asker)
        // Two independent answers: under load the short timeout may come first.
        let answers: Set<String?> = [await next(results), await next(results)]
        #expect(answers == ["got 7", "second timed out"])
        try await node.shutdown()
    }

    @Test func deadLettersAreCountedNotFatal() async throws {
        let node = try Node(schedulers: 2)
        let tally = try await node.spawn(Tally())
        node.stop(tally)
        #expect(await exits(node, tally))
        let before = node.deadLetters
        node.send(.add(1), to: tally)
        #expect(node.send(Tally.Message.add(1), to: "nobody") == false)
        // The unknown name counts at once; mail to a dead pid once its scheduler sees it.
        #expect(await node.settled())
        #expect(node.deadLetters == before + 2)
        // From inside a process, too.
        let (p, _) = try await puppet(node)
        let (ack, acks) = try await node.receiver(of: Bool.self)
        node.send(Step { context in
            context.send(.add(1), to: tally)
            let delivered = context.send(Tally.Message.get, to: "nobody")
            context.send(delivered, to: ack)
        }, to: p)
        #expect(await next(acks) == false)
        #expect(node.deadLetters == before + 4)
        try await node.shutdown()
    }

    @Test func aFloodingProcessDoesNotStarveAnother() async throws {
        let node = try Node(schedulers: 1, budget: 50)
        let (flooder, _) = try await puppet(node, on: 0)
        let tally = try await node.spawn(Tally(), on: 0)
        // The flooder keeps its own mailbox full forever.
        node.send(Step { context in
            let me = context.address
            for _ in 0..<100 { context.send(flood(me), to: me) }
        }, to: flooder)
        // The flood is under way before the tally is asked.
        #expect(await eventually { await node.messagesHandled(flooder) > 1_000 })
        for _ in 0..<10 {
            node.send(.add(1), to: tally)
            let value: Int = try await node.call(tally, .get, timeout: .seconds(2))
            #expect(value > 0)
        }
        #expect(await node.messagesHandled(flooder) > 1000)
        node.kill(flooder)
        try await node.shutdown()
    }
}

/// A step that sends itself again: an endless flood.
func flood(_ me: Address<Step>) -> Step {
    Step { context in context.send(flood(me), to: me) }
}

