import Calf
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// A node in a user's own `ServiceGroup`, and a node opened without
/// holding a thread of the cooperative pool.
@Suite(.timeLimit(.minutes(1))) struct NodeServiceTests {
    /// Records when its graceful shutdown came, against the node's state then.
    final class Neighbour: Service, Sendable {
        let node: Node
        let nodeStoppedFirst = Mutex<Bool?>(nil)
        init(node: Node) { self.node = node }
        func run() async throws {
            try? await gracefulShutdown()
            // Listed after the node: it stops first, while the node still serves.
            let spawned = try? await node.spawn(Puppet())
            nodeStoppedFirst.withLock { $0 = spawned == nil }
        }
    }

    @Test func aNodeInAServiceGroupStopsInOrderAtGracefulShutdown() async throws {
        let node = try Node(schedulers: 2)
        let (puppet, events) = try await puppet(node, trapExit: true)
        let neighbour = Neighbour(node: node)
        let group = ServiceGroup(services: [node, neighbour], logger: Logger(label: "test"))
        async let running: Void = group.run()
        #expect(await answers(node, puppet))
        await group.triggerGracefulShutdown()
        try await running
        // The neighbour, after the node in the list, stopped before it; the node then stopped its processes (terminate ran).
        #expect(neighbour.nodeStoppedFirst.withLock { $0 } == false)
        var terminated = false
        while !terminated, let event = await next(events, within: 5) {
            if case .terminated(.shutdown) = event { terminated = true }
        }
        #expect(terminated)
        await #expect(throws: (any Error).self) { _ = try await node.spawn(Puppet()) }
    }

    @Test func aCancelledGroupStopsTheNodeToo() async throws {
        let node = try Node(schedulers: 1)
        let group = ServiceGroup(services: [node], logger: Logger(label: "test"))
        let task = Task { try await group.run() }
        _ = try await node.spawn(Puppet())
        task.cancel()
        _ = try? await task.value
        await #expect(throws: (any Error).self) { _ = try await node.spawn(Puppet()) }
    }

    @Test func aDurableNodeOpensAsynchronouslyWithWhatItHeld() async throws {
        try await withDataDirectory { dir in
            let first = try await Node.open(schedulers: 2, durable: durableOptions(dir))
            let ledger = try await first.spawnDurable(Ledger(), name: "kept")
            for n in 1...5 {
                guard case .accepted = await first.send(.add(n), to: ledger, key: "k\(n)") else {
                    Issue.record("add \(n) was not accepted")
                    return
                }
            }
            try await first.shutdown()
            let again = try await Node.open(schedulers: 2, durable: durableOptions(dir))
            #expect(try await ledgerState(again, "kept").total == 15)
            try await again.shutdown()
            // The directory is the first node's while it runs: a second one is refused, asynchronously too.
            let holder = try await Node.open(schedulers: 1, durable: durableOptions(dir))
            await #expect(throws: DurableError.self) { _ = try await Node.open(schedulers: 1, durable: durableOptions(dir)) }
            try await holder.shutdown()
        }
    }
}
