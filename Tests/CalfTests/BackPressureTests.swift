import Calf
import Testing

/// Back-pressure in one process: a durable process's mailbox limit for mail
/// from outside, and the journal writer's queue limit.
@Suite(.timeLimit(.minutes(2))) struct BackPressureTests {
    /// Whether `result` is an `overloaded` refusal.
    static func isOverloaded(_ result: IngressResult) -> Bool {
        if case .failed(.overloaded) = result { return true }
        return false
    }

    /// Over its limit a process refuses mail from outside (a waiting send
    /// hears `overloaded`, a fire-and-forget send is a dead letter); a
    /// duplicate key takes no place; mail from another durable process is
    /// never refused; all that was accepted is handled once it drains.
    @Test func aSuspendedProcessOverItsLimitRefusesMailFromOutsideOnly() async throws {
        try await withDataDirectory { dir in
            var options = durableOptions(dir)
            options.mailboxLimit = 3
            let node = try Node(schedulers: 2, durable: options)
            let full = try await node.spawnDurable(Ledger(), name: "full")
            let peer = try await node.spawnDurable(Ledger(), name: "peer")
            #expect(await node.suspend("full"))

            #expect(seqOf(await node.send(.add(1), to: full, key: "k1")) != nil)
            guard case .duplicate = await node.send(.add(1), to: full, key: "k1") else {
                Issue.record("a resent key was not a duplicate")
                return
            }
            #expect(seqOf(await node.send(.add(2), to: full, key: "k2")) != nil)
            #expect(seqOf(await node.send(.add(3), to: full, key: "k3")) != nil, "the duplicate kept a place")
            let refused = await node.send(.add(100), to: full, key: "k4")
            #expect(Self.isOverloaded(refused), "past the limit: \(refused)")
            if case .failed(let refusal) = refused { #expect(refusal.description.contains("mailbox limit")) }

            let deadBefore = node.deadLetters
            node.send(.add(1000), to: full)
            #expect(node.deadLetters == deadBefore + 1, "a refused fire-and-forget send is a dead letter")
            // The operator sees the limit, what counts against it, and what it refused.
            let report = try #require(await node.processReport("full"))
            #expect(report.mailboxLimit == 3)
            #expect(report.backlog == 3)
            #expect(report.refused == 2)

            // A durable process's send is the outcome of its commit: never refused.
            #expect(seqOf(await node.send(.forward(7, to: "full"), to: peer, key: nil)) != nil)
            _ = try await ledgerState(node, "peer")

            #expect(await node.resume("full"))
            // A call from outside counts too: refused until the three have been taken.
            var state = Ledger.State()
            for attempt in 1...200 {
                do {
                    state = try await ledgerState(node, "full")
                    break
                } catch {
                    #expect(attempt < 200, "still refused after resume: \(error)")
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            #expect(state.seen == [1, 2, 3, 7])
            // Drained: it takes mail from outside again.
            #expect(seqOf(await node.send(.add(4), to: full, key: "k5")) != nil)
            try await node.shutdown()
        }
    }

    /// A writer queue of one message refuses a burst from outside with
    /// `overloaded` naming the writer; what it accepted is handled.
    @Test func aFullWriterQueueRefusesABurstAndLosesNothingItAccepted() async throws {
        try await withDataDirectory { dir in
            var options = durableOptions(dir)
            options.writerQueueLimit = 1
            let node = try Node(schedulers: 2, durable: options)
            let ledger = try await node.spawnDurable(Ledger(), name: "ledger")
            let results = await withTaskGroup(of: IngressResult.self) { group in
                for n in 1...400 { group.addTask { await node.send(.add(n), to: ledger, key: nil) } }
                return await group.reduce(into: [IngressResult]()) { $0.append($1) }
            }
            let accepted = results.compactMap(seqOf).count
            let refused = results.filter(Self.isOverloaded)
            #expect(accepted + refused.count == 400, "only accepted or overloaded answers")
            #expect(accepted > 0)
            #expect(!refused.isEmpty, "400 concurrent sends never found the writer's one place taken")
            if case .failed(let refusal) = refused.first { #expect(refusal.description.contains("writer")) }
            let state = try await ledgerState(node, "ledger")
            #expect(state.seen.count == accepted)
            try await node.shutdown()
        }
    }
}
