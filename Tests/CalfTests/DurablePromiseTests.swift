import Calf
import CalfStore
import Testing

private func options(_ dir: String, maximumFailures: Int = 3, snapshotEvery: Int = 1000) -> DurableOptions {
    DurableOptions(path: dir, durability: .process, behaviors: [Tick.self], snapshotEvery: snapshotEvery,
                   checkpointInterval: .seconds(3600), maximumFailures: maximumFailures, mapSize: 1 << 22)
}

private func restarts(_ node: Node, _ name: String) async -> UInt64? {
    await node.processReports().first { $0.name == name }?.restarts
}

/// Restart counting as an OTP user expects it, a durable child's backoff,
/// the cost of a durable supervisor's restart, and checksums on what a node
/// reads back.
@Suite(.serialized, .timeLimit(.minutes(2))) struct DurablePromiseTests {
    @Test func aNodeStartIsNotARestartAndACrashIsOneThatSurvivesNodeStarts() async throws {
        try await withDataDirectory { dir in
            do {
                let node = try Node(schedulers: 2, durable: options(dir))
                let tick = try await node.spawnDurable(Tick(), name: "tick")
                node.send(.add(1), to: tick)
                #expect(try await node.call(tick, Tick.Message.get) as Int == 1)
                #expect(await restarts(node, "tick") == 0)
                try await node.shutdown()
            }
            for round in 0..<2 {
                // No snapshot at the stop: the count comes back from the journaled restart.
                var unsnapshotted = options(dir)
                unsnapshotted.checkpointAtShutdown = false
                let node = try Node(schedulers: 2, durable: unsnapshotted)
                let tick = try #require(node.address(named: "tick", as: Tick.Message.self))
                #expect(try await node.call(tick, Tick.Message.get) as Int == 1)
                #expect(await restarts(node, "tick") == UInt64(round), "node start \(round + 2)")
                if round == 0 {
                    node.send(.crash, to: tick)
                    #expect(await node.settled())
                    #expect(await restarts(node, "tick") == 1)
                }
                try await node.shutdown()
            }
        }
    }

    @Test func aPoisonMessagesTriesAreOneCrashToTheSupervisor() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 1, durable: options(dir, maximumFailures: 3))
            // One restart allowed: three counted tries would make it give up.
            let root = try await node.startSupervisor(SupervisorSpec("root", intensity: 1, period: .seconds(3600)) {
                ChildSpec.durable("tick", Tick())
            })
            let tick = try #require(node.address(named: "tick", as: Tick.Message.self))
            node.send(.crash, to: tick)
            node.send(.add(2), to: tick)
            #expect(try await node.call(tick, Tick.Message.get) as Int == 2)
            #expect(try await node.deadLetterReports().count == 1)
            let children = try await root.whichChildren()
            #expect(children.first?.restarts == 1, "\(children)")
            #expect(await restarts(node, "tick") == 1)
            #expect(await node.isAlive(root.address))
            try await node.shutdown()
        }
    }

    @Test func aDurableChildsRestartsInPlaceWaitByItsBackoff() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 1, durable: options(dir, maximumFailures: 1))
            var spec = ChildSpec.durable("tick", Tick())
            let backoff = Backoff(initial: .milliseconds(200), maximum: .milliseconds(400), resetAfter: .seconds(60))
            spec.backoff = backoff
            _ = try await node.startSupervisor(SupervisorSpec("root", intensity: 10, period: .seconds(3600)) { spec })
            let tick = try #require(node.address(named: "tick", as: Tick.Message.self))
            for attempt in 1...2 {
                let began = ContinuousClock.now
                node.send(.crash, to: tick)
                #expect(try await node.call(tick, Tick.Message.get, timeout: .seconds(10)) as Int == 0)
                let waited = ContinuousClock.now - began
                #expect(waited >= backoff.delay(attempt: attempt), "restart \(attempt) after \(waited)")
            }
            try await node.shutdown()
        }
    }

    @Test func aDurableSupervisorRefusesAChildSpecItCouldNotBringBack() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 1, durable: options(dir))
            let root = try await node.startSupervisor(SupervisorSpec("root", durable: true) { ChildSpec.durable("tick", Tick()) })
            do {
                try await root.startChild(ChildSpec.worker("echo") { Echo(value: 1) })
                Issue.record("a durable supervisor took a child it cannot journal")
            } catch let SupervisorError.notJournaled(why) {
                #expect(why.contains("durable") && why.contains("echo"), "\(why)")
            }
            #expect(try await root.whichChildren().map(\.id) == ["tick"])
            try await node.shutdown()
        }
    }

    @Test func aDurableSupervisorsRestartWritesTheSameWhateverItsHistory() async throws {
        try await withDataDirectory { dir in
            let board = Board()
            let spec = SupervisorSpec("root", intensity: 100_000, period: .seconds(3600), durable: true) { worker("w", board) }
            var sizes: [Int] = []
            var total = 0
            for rounds in [1, 399] {
                let node = try Node(schedulers: 1, durable: options(dir))
                let root = try await node.startSupervisor(spec)
                for _ in 0..<rounds {
                    let starts = board.starts("w")
                    node.send(.exit(.error(Boom())), to: try #require(board.address("w")))
                    #expect(await board.waitForStarts("w", starts + 1) && board.starts("w") == starts + 1)
                }
                total += rounds
                #expect(try await root.whichChildren().first?.restarts == total)
                try await node.shutdown()
                sizes.append(try Self.largestLedgerRecord(dir))
            }
            // Its header and its child's record stay as small after 400 restarts as after one
            // (each restart adds one slot of 8 bytes to the window, written alone).
            #expect(sizes[1] <= sizes[0] + 2, "\(sizes)") // a counter's varint may grow a byte
            #expect(sizes[1] < 128, "\(sizes)")
            // And the history came back whole.
            let node = try Node(schedulers: 1, durable: options(dir))
            let root = try await node.startSupervisor(spec)
            #expect(try await root.whichChildren().first?.restarts == 400)
            try await node.shutdown()
        }
    }

    /// The size of the largest record of the `ledgers` database of `dir`.
    static func largestLedgerRecord(_ dir: String) throws -> Int {
        let environment = try StoreEnvironment(path: dir)
        defer { environment.close() }
        let ledgers = try Journal(environment: environment).ledgers
        return try environment.read { txn in
            try txn.withCursor(ledgers) { cursor in
                var largest = 0
                var entry = try cursor.first()
                while let (_, value) = entry {
                    largest = max(largest, value.count)
                    entry = try cursor.next()
                }
                return largest
            }
        }
    }

    /// Flips a bit in the middle of `pid`'s stored snapshot, its checksum left as it was.
    static func flipSnapshotByte(in dir: String, of pid: Pid) throws {
        let environment = try StoreEnvironment(path: dir)
        defer { environment.close() }
        let checkpoints = try Journal(environment: environment).checkpoints
        var stored = try environment.read { txn in Array(try #require(try txn.get(checkpoints, key: StoreKey(pid.serial)))) }
        stored[stored.count / 2] ^= 0x04
        let corrupt = stored
        try environment.write { txn in try txn.put(checkpoints, key: StoreKey(pid.serial), value: corrupt) }
    }

    @Test func aFlippedByteInASnapshotQuarantinesOnlyItsProcess() async throws {
        try await withDataDirectory { dir in
            var victim: Pid!
            do {
                let node = try Node(schedulers: 2, durable: options(dir))
                let a = try await node.spawnDurable(Tick(), name: "a")
                let b = try await node.spawnDurable(Tick(), name: "b")
                victim = a.pid
                node.send(.add(5), to: a)
                node.send(.add(7), to: b)
                #expect(try await node.call(b, Tick.Message.get) as Int == 7)
                #expect(try await node.call(a, Tick.Message.get) as Int == 5)
                try await node.shutdown() // its last checkpoint snapshots both
            }
            try Self.flipSnapshotByte(in: dir, of: victim)
            let node = try Node(schedulers: 2, durable: options(dir))
            #expect(Array(node.quarantinedProcesses.keys) == [victim])
            #expect(node.quarantinedProcesses[victim]?.contains("checksum mismatch") == true, "\(node.quarantinedProcesses)")
            let b = try #require(node.address(named: "b", as: Tick.Message.self))
            #expect(try await node.call(b, Tick.Message.get) as Int == 7)
            try await node.shutdown()
        }
    }

    @Test func aSnapshotUnreadableLongAfterItsSpawnKeepsItsNameFromAFreshProcess() async throws {
        try await withDataDirectory { dir in
            // No history kept: once snapshotted, the spawn record is dropped from the log.
            let noHistory = DurableOptions(path: dir, durability: .process, behaviors: [Tick.self],
                                           checkpointInterval: .seconds(3600), history: .zero, mapSize: 1 << 22)
            let tree = SupervisorSpec("root", intensity: 5, period: .seconds(60)) {
                ChildSpec.durable("a", Tick())
                ChildSpec.durable("b", Tick())
            }
            var victim: Pid!
            do {
                let node = try Node(schedulers: 1, durable: noHistory)
                _ = try await node.startSupervisor(tree)
                let a = try #require(node.address(named: "a", as: Tick.Message.self))
                let b = try #require(node.address(named: "b", as: Tick.Message.self))
                victim = a.pid
                node.send(.add(5), to: a)
                node.send(.add(7), to: b)
                #expect(try await node.call(a, Tick.Message.get) as Int == 5)
                #expect(try await node.call(b, Tick.Message.get) as Int == 7)
                try await node.checkpoint()
                try await node.checkpoint()
                try await node.shutdown()
            }
            do {
                let environment = try StoreEnvironment(path: dir)
                let journal = try Journal(environment: environment)
                var spawnStillThere = false
                try journal.scan(from: 1) { _, record in
                    if case .success(.lifecycle(let pid, .spawned, _)) = record, pid == victim.serial { spawnStillThere = true }
                    return true
                }
                #expect(!spawnStillThere)
                environment.close()
            }
            try Self.flipSnapshotByte(in: dir, of: victim)
            let node = try Node(schedulers: 1, durable: noHistory)
            #expect(Array(node.quarantinedProcesses.keys) == [victim])
            let root = try await node.startSupervisor(tree)
            let children = try await root.whichChildren()
            // Its supervisor keeps it without a process; nothing fresh runs under its name.
            #expect(children.first { $0.id == "a" }?.status == .stopped, "\(children)")
            #expect(node.address(named: "a", as: Tick.Message.self) == nil)
            await #expect(throws: DurableError.self) { try await node.stateJSON(of: "a") }
            let b = try #require(node.address(named: "b", as: Tick.Message.self))
            #expect(try await node.call(b, Tick.Message.get) as Int == 7)
            try await node.shutdown()
        }
    }
}
