import Calf
import Testing

/// Passivation: an idle durable process leaves RAM (its snapshot written,
/// its cell dropped) and comes back, in order, with the next mail, call,
/// due timer or operator command.
@Suite(.timeLimit(.minutes(2))) struct PassivationTests {
    static func options(_ dir: String, after: Duration = .milliseconds(40)) -> DurableOptions {
        var options = durableOptions(dir)
        options.passivateAfter = after
        return options
    }

    /// The passivated entry of `pid`, once there is one (nil if none comes within `seconds`).
    static func passivated(_ node: Node, _ pid: Pid, handled: UInt64? = nil, within seconds: Double = 10) async -> ProcessReport? {
        var found: ProcessReport?
        _ = await eventually(within: seconds) {
            found = node.passivatedReports().first { $0.pid == pid.description && (handled == nil || $0.handled == handled) }
            return found != nil
        }
        return found
    }

    @Test func anIdleProcessLeavesRAMAndComesBackWithItsStateAndMailInOrder() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 2, durable: Self.options(dir))
            let account = try await node.spawnDurable(Ledger(), name: "account")
            for n in 1...5 { #expect(seqOf(await node.send(.add(n), to: account, key: "k\(n)")) != nil) }

            let entry = try #require(await Self.passivated(node, account.pid), "an idle process was not passivated")
            #expect(entry.status == "passivated")
            #expect(entry.name == "account")
            #expect(entry.handled == 5)
            #expect(!(await node.processReports()).contains { $0.pid == account.pid.description }, "a passivated process is in no scheduler's table")

            // Mail through the address kept from the spawn (the cell it left
            // behind), through its name (a stand-in) and with keys, mixed:
            // it comes back once and handles them in the order sent.
            let byName = try #require(node.address(named: "account", as: Ledger.Message.self))
            for n in 6...105 {
                if n % 2 == 0 { node.send(.add(n), to: account) } else { node.send(.add(n), to: byName) }
            }
            #expect(seqOf(await node.send(.add(106), to: account, key: "k106")) != nil)
            let state = try await ledgerState(node, "account")
            #expect(state.seen == Array(1...106))
            // A key taken before it was passivated is still a duplicate.
            guard case .duplicate = await node.send(.add(1), to: account, key: "k1") else {
                Issue.record("a key taken before passivation was accepted again")
                return
            }
            // And it leaves again once idle, with what it handled since.
            #expect(await Self.passivated(node, account.pid, handled: 107) != nil)
            try await node.shutdown()
        }
    }

    @Test func mailByPidBringsAPassivatedProcessBackInOrderAndKeepsItsKeys() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 2, durable: Self.options(dir))
            let account = try await node.spawnDurable(Ledger(), name: "account")
            #expect(seqOf(await node.send(Ledger.Message.add(1), toDurable: account.pid, key: "k1")) != nil)
            #expect(try #require(await Self.passivated(node, account.pid, handled: 1)).status == "passivated")

            // By pid (no cell made for it) and through the address kept from
            // the spawn, mixed: it comes back once and handles them in order.
            for n in 2...101 {
                if n % 3 == 0 {
                    node.send(.add(n), to: account)
                } else {
                    #expect(node.send(Ledger.Message.add(n), toDurable: account.pid), "a send by pid was refused")
                }
            }
            #expect(seqOf(await node.send(Ledger.Message.add(102), toDurable: account.pid, key: "k102")) != nil)
            #expect(try await ledgerState(node, "account").seen == Array(1...102))

            // Passivated again (with the state's read, 103 handled): a key taken before is still a duplicate.
            #expect(await Self.passivated(node, account.pid, handled: 103) != nil)
            guard case .duplicate = await node.send(Ledger.Message.add(1), toDurable: account.pid, key: "k1") else {
                Issue.record("a key taken before passivation was accepted again by pid")
                return
            }
            // No such process, or a message of another type: refused, nothing journaled.
            guard case .failed(.noProcess) = await node.send(Ledger.Message.add(1), toDurable: Pid(serial: 999_999), key: nil) else {
                Issue.record("mail by pid for no process was not refused")
                return
            }
            let deadBefore = node.deadLetters
            #expect(!node.send(7, toDurable: account.pid), "a message of another type was taken")
            #expect(node.deadLetters == deadBefore + 1)
            #expect(try await ledgerState(node, "account").seen == Array(1...102))
            try await node.shutdown()
        }
    }

    @Test func aDueTimerBringsAPassivatedProcessBack() async throws {
        try await withDataDirectory { dir in
            // No idle passivation: the test passivates it, and its clock makes the timer due.
            let clock = ManualClock()
            let node = try Node(schedulers: 2, durable: durableOptions(dir), clock: clock)
            let sleeper = try await node.spawnDurable(Ledger(), name: "sleeper")
            #expect(seqOf(await node.send(.after(milliseconds: 60_000, tag: 7), to: sleeper, key: nil)) != nil)
            let outcome = try await node.passivate("sleeper")
            #expect(outcome == .passivated, "\(outcome)")
            let asleep = try #require(node.passivatedReports().first { $0.pid == sleeper.pid.description })
            #expect(asleep.handled == 1, "it had handled the message that set the timer")
            #expect(try await node.passivate("sleeper") == .alreadyPassivated)
            // Nobody asks it anything: the timer alone brings it back.
            await clock.advance(by: .seconds(30))
            #expect(node.passivatedReports().contains { $0.pid == sleeper.pid.description }, "back before its timer was due")
            await clock.advance(by: .seconds(31))
            #expect(await eventually(within: 10) { !node.passivatedReports().contains { $0.pid == sleeper.pid.description } },
                    "the timer did not bring the passivated process back")
            #expect(try await ledgerState(node, "sleeper").fired == [7])
            try await node.shutdown()
        }
    }

    @Test func aNodeStartLeavesPassivatedProcessesOutOfRAMUntilTheirMailOrTimerComes() async throws {
        try await withDataDirectory { dir in
            // One clock across both nodes (the second takes it over), for the timer.
            let clock = ManualClock()
            var pids: [String: Pid] = [:]
            do {
                let node = try Node(schedulers: 2, durable: durableOptions(dir), clock: clock)
                for name in ["sleeper", "woken", "timed", "unnamed"] {
                    let address = try await node.spawnDurable(Ledger(), name: name == "unnamed" ? nil : name)
                    pids[name] = address.pid
                    #expect(seqOf(await node.send(.add(1), to: address, key: nil)) != nil)
                    if name == "timed" { #expect(seqOf(await node.send(.after(milliseconds: 60_000, tag: 9), to: address, key: nil)) != nil) }
                    #expect(try await node.passivate(address.pid.description) == .passivated)
                }
                // Mail after its passivation: the log holds it, so the next start brings `woken` back.
                let woken = try #require(node.address(named: "woken", as: Ledger.Message.self))
                #expect(seqOf(await node.send(.add(2), to: woken, key: nil)) != nil)
                try await node.shutdown()
            }
            let node = try Node(schedulers: 2, durable: durableOptions(dir), clock: clock)
            #expect(node.recoveryReport?.passivated == 3)
            let passive = Dictionary(uniqueKeysWithValues: node.passivatedReports().map { ($0.pid, $0) })
            for name in ["sleeper", "timed", "unnamed"] {
                let pid = try #require(pids[name]).description
                #expect(passive[pid]?.handled == (name == "timed" ? 2 : 1), "\(name) is not passivated as it left: \(String(describing: passive[pid]))")
                #expect(passive[pid]?.name == (name == "unnamed" ? nil : name))
            }
            let live = await node.livePids()
            #expect(!live.contains(try #require(pids["sleeper"])), "a passivated process was brought back at the start")
            #expect(live.contains(try #require(pids["woken"])))
            #expect(try await ledgerState(node, "woken").seen == [1, 2])

            // Mail by name, a command by pid, the timer: each brings its process back.
            let sleeper = try #require(node.address(named: "sleeper", as: Ledger.Message.self))
            #expect(seqOf(await node.send(.add(3), to: sleeper, key: nil)) != nil)
            #expect(try await ledgerState(node, "sleeper").seen == [1, 3])
            #expect(node.passivatedCount == 2)
            // An address of a passivated process that does not bring it back (its mail will).
            let unnamedPid = try #require(pids["unnamed"])
            #expect(node.durableAddress(of: unnamedPid, as: Int.self) == nil, "an address taking another message type")
            let kept = try #require(node.durableAddress(of: unnamedPid, as: Ledger.Message.self))
            #expect(node.passivatedCount == 2)
            #expect(seqOf(await node.send(.add(4), to: kept, key: nil)) != nil)
            let unnamed = String(decoding: try await node.stateJSON(of: unnamedPid.description), as: UTF8.self)
            #expect(unnamed.contains(#""seen":[1,4]"#), "\(unnamed)")
            await clock.advance(by: .seconds(61))
            #expect(await eventually { (try? await ledgerState(node, "timed").fired) == [9] }, "the timer of a process passivated at the start did not fire")
            try await node.shutdown()
        }
    }

    @Test func anAddressKeptInAnotherProcessesStateReachesItAfterBothLeftRAM() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 2, durable: Self.options(dir))
            let keeper = try await node.spawnDurable(Ledger(), name: "keeper")
            let kept = try await node.spawnDurable(Ledger(), name: "kept")
            #expect(seqOf(await node.send(.remember(kept), to: keeper, key: nil)) != nil)
            #expect(await Self.passivated(node, kept.pid) != nil)
            #expect(await Self.passivated(node, keeper.pid) != nil)
            // The keeper comes back (its state decodes an address of a passivated process), and its send brings the other back.
            let keeperByName = try #require(node.address(named: "keeper", as: Ledger.Message.self))
            for n in 1...3 { #expect(seqOf(await node.send(.poke(n), to: keeperByName, key: nil)) != nil) }
            #expect(await eventually { (try? await ledgerState(node, "kept").seen) == [1, 2, 3] })
            try await node.shutdown()
        }
    }

    @Test func theOperatorsCommandsBringItBack() async throws {
        try await withDataDirectory { dir in
            // No idle passivation: the test passivates it before each command.
            let node = try Node(schedulers: 2, durable: durableOptions(dir))
            let account = try await node.spawnDurable(Ledger(), name: "account")
            #expect(seqOf(await node.send(.add(3), to: account, key: nil)) != nil)
            // Handled before the next is sent (for the time travel below; the `get` that asks may share its turn).
            #expect(try await ledgerState(node, "account").seen == [3])
            #expect(seqOf(await node.send(.add(4), to: account, key: nil)) != nil)
            func leave() async throws {
                let outcome = try await node.passivate("account")
                #expect(outcome == .passivated, "\(outcome)")
                #expect(node.passivatedReports().contains { $0.pid == account.pid.description })
            }

            // `info` by name and by pid: brought back, with what it had handled.
            try await leave()
            let info = try #require(await node.processReport("account"))
            #expect(info.status != "passivated")
            #expect(info.handled == 3)
            try await leave()
            #expect(await node.processReport(account.pid.description)?.handled == 3)

            // `state`, and its state at an earlier log position (time travel).
            try await leave()
            let json = String(decoding: try await node.stateJSON(of: account.pid.description), as: UTF8.self)
            #expect(json.contains(#""seen":[3,4]"#), "its state: \(json)")
            try await leave()
            let first = try #require(try await node.journalEntries(of: "account").first { $0.kind == "accepted" })
            #expect(first.message == .object(["add": .object(["_0": .integer(3)])]), "its history, read while it was passivated")
            let handled = try #require(try await node.journalEntries(of: "account").first { $0.kind == "handled" })
            let next = try #require(try await node.journalEntries(of: "account").first { $0.message == .object(["add": .object(["_0": .integer(4)])]) })
            let together = handled.handled ?? []
            #expect(together.first == first.seq && !together.contains(next.seq), "\(together)")
            let then = String(decoding: try await node.stateJSON(of: "account", at: handled.seq), as: UTF8.self)
            #expect(then.contains(#""seen":[3]"#), "its state after its first message: \(then)")

            // `trace`: brought back and traced; what it takes in next is in the trace.
            try await leave()
            let trace = try await node.trace("account", limit: 1) {}
            #expect(try await node.passivate("account") == .stays("it is traced"))
            node.send(.add(5), to: account)
            #expect(await eventually { trace.take().events.first?.message == #"{"add":{"_0":5}}"# })

            // A kill restarts it in place (a durable process's kill), from its snapshot.
            try await leave()
            #expect(await node.exit("account", reason: nil))
            #expect(try await ledgerState(node, "account").seen == [3, 4, 5])

            // `suspend` brings it back and keeps it: a suspended process stays in RAM.
            try await leave()
            #expect(await node.suspend("account"))
            #expect(try await node.passivate("account") == .stays("it is suspended"))
            #expect(await node.resume("account"))
            try await leave()
            try await node.shutdown()
        }
    }

    @Test func aProcessThatIsWatchedOrWaitedForStaysInRAM() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 2, durable: Self.options(dir, after: .milliseconds(300)))
            let watched = try await node.spawnDurable(Ledger(), name: "watched")
            let suspended = try await node.spawnDurable(Ledger(), name: "suspended")
            let idle = try await node.spawnDurable(Ledger(), name: "idle")
            _ = try await watchDown(node, watched)
            // Suspending one that left RAM meanwhile brings it back.
            #expect(await node.suspend("suspended"))
            #expect(try await node.passivate("watched") == .stays("it is monitored"))
            #expect(try await node.passivate("suspended") == .stays("it is suspended"))
            #expect(await Self.passivated(node, idle.pid) != nil)
            try await Task.sleep(for: .milliseconds(900))
            let passive = Set(node.passivatedReports().map(\.pid))
            #expect(!passive.contains(watched.pid.description), "a monitored process was passivated")
            #expect(!passive.contains(suspended.pid.description), "a suspended process was passivated")
            await #expect(throws: DurableError.self) { try await node.passivate("nobody") }
            try await node.shutdown()
        }
    }
}
