// A durable process's promises end to end on one node: state back by
// snapshot plus replay, calls, keys, stops and restarts in place; over 400
// lines because they are one subject; their shared behaviors and helpers
// are already apart, in DurableSupport.swift.
import Calf
import CalfStore
import Foundation
import Synchronization
import Testing

@Suite(.serialized, .timeLimit(.minutes(2))) struct DurableTests {
    @Test func stateComesBackAfterRestartBySnapshotPlusReplay() async throws {
        try await withDataDirectory { dir in
            var expected = Ledger.State()
            let pid: Pid
            do {
                let node = try Node(schedulers: 2, durable: durableOptions(dir, durability: .fsync, snapshotEvery: 7))
                let ledger = try await node.spawnDurable(Ledger(every: 7), name: "tally")
                pid = ledger.pid
                #expect(pid.isDurable)
                for n in 1...40 {
                    #expect(seqOf(await node.send(.add(n), to: ledger, key: "k\(n)")) != nil)
                    node.send(.add(0), to: ledger)
                    expected.total += n
                    expected.seen.append(n)
                    expected.seen.append(0)
                }
                _ = try await ledgerState(node, "tally")
                // Everything snapshotted; then a tail of three handled messages (two adds and a get).
                try await node.checkpoint()
                for n in [1000, 2000] {
                    node.send(.add(n), to: ledger)
                    expected.total += n
                    expected.seen.append(n)
                }
                _ = try await ledgerState(node, "tally")
                try await node.shutdown()
            }
            let node = try Node(schedulers: 2, durable: durableOptions(dir))
            let report = try #require(node.recoveryReport)
            #expect(report.processes == 1)
            #expect(report.replayed == 3, "no snapshot at shutdown: the tail since the checkpoint replays")
            #expect(node.whereis("tally") == pid)
            let state = try await ledgerState(node, "tally")
            #expect(state.total == expected.total)
            #expect(state.seen.filter { $0 != 0 } == expected.seen.filter { $0 != 0 })
            // The 40 unkeyed messages are there too, each once (their order against the keyed ones is not promised).
            #expect(state.seen.filter { $0 == 0 }.count == expected.seen.filter { $0 == 0 }.count)
            try await node.shutdown()
        }
    }

    @Test func aBehaviorCanAskForSnapshotsByTime() async throws {
        try await withDataDirectory { dir in
            do {
                let clock = ManualClock()
                let node = try Node(schedulers: 1, durable: durableOptions(dir), clock: clock)
                let ledger = try await node.spawnDurable(Ledger(every: 1000, intervalMilliseconds: 1), name: "timed")
                for n in 1...3 {
                    node.send(.add(n), to: ledger)
                    _ = try await ledgerState(node, "timed")
                    await clock.advance(by: .milliseconds(5))
                }
                _ = try await ledgerState(node, "timed")
                try await node.shutdown()
            }
            let node = try Node(schedulers: 1, durable: durableOptions(dir))
            #expect(node.recoveryReport?.replayed == 0, "the last turn came more than 1 ms after the snapshot before it")
            #expect(try await ledgerState(node, "timed").total == 6)
            try await node.shutdown()
        }
    }

    @Test func aHandlerSpawnsDurableChildrenThatReplayFindsAgain() async throws {
        try await withDataDirectory { dir in
            var childPid = Pid(serial: 0)
            do {
                let node = try Node(schedulers: 2, durable: durableOptions(dir))
                let parent = try await node.spawnDurable(Ledger(), name: "parent")
                node.send(.spawnChild("child"), to: parent)
                #expect(await node.settled())
                #expect(node.whereis("child") != nil)
                #expect((try? await ledgerState(node, "child").total) == 105)
                childPid = try #require(try await ledgerState(node, "parent").children.first)
                #expect(childPid.isDurable)
                #expect(node.whereis("child") == childPid)
                try await node.shutdown()
            }
            // No snapshot at shutdown: the parent replays its spawn and must get the same child.
            let node = try Node(schedulers: 2, durable: durableOptions(dir))
            #expect(node.quarantinedProcesses.isEmpty)
            #expect(node.recoveryReport?.processes == 2)
            #expect(try await ledgerState(node, "parent").children == [childPid])
            #expect(try await ledgerState(node, "child").total == 105, "the child's message was handled once")
            try await node.shutdown()
        }
    }

    @Test func addressesInMessagesAndStatesComeBackAfterRestarts() async throws {
        try await withDataDirectory { dir in
            do {
                let node = try Node(schedulers: 2, durable: durableOptions(dir))
                let a = try await node.spawnDurable(Ledger(), name: "a")
                let b = try await node.spawnDurable(Ledger(), name: "b")
                node.send(.remember(b), to: a)
                node.send(.poke(1), to: a)
                #expect(await node.settled())
                #expect((try? await ledgerState(node, "b").total) == 1)
                #expect(try await ledgerState(node, "a").peer == b)
                try await node.shutdown()
            }
            // First without a snapshot (the address comes back by replaying the message that carried it),
            // then from a snapshot holding it.
            for (round, checkpointAtShutdown) in [false, true].enumerated() {
                let node = try Node(schedulers: 2, durable: durableOptions(dir, checkpointAtShutdown: checkpointAtShutdown))
                let a = try #require(node.address(named: "a", as: Ledger.Message.self))
                node.send(.poke(10), to: a)
                let expected = 1 + 10 * (round + 1)
                #expect(await node.settled())
                #expect((try? await ledgerState(node, "b").total) == expected)
                if checkpointAtShutdown { try await node.checkpoint() }
                try await node.shutdown()
            }
            let node = try Node(schedulers: 2, durable: durableOptions(dir))
            #expect(node.recoveryReport?.replayed == 0, "the last start came from snapshots")
            let a = try #require(node.address(named: "a", as: Ledger.Message.self))
            node.send(.poke(100), to: a)
            #expect(await node.settled())
            #expect((try? await ledgerState(node, "b").total) == 121)
            try await node.shutdown()
        }
    }

    @Test func aSendAfterShutdownIsRefusedAtOnce() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 1, durable: durableOptions(dir))
            let ledger = try await node.spawnDurable(Ledger(), name: "late")
            try await node.shutdown()
            let outcome = await node.send(.add(1), to: ledger, key: "after")
            guard case .failed(let reason) = outcome else {
                Issue.record("accepted after shutdown: \(outcome)")
                return
            }
            #expect(reason == .stopped)
            await #expect(throws: DurableError.self) { _ = try await node.spawnDurable(Ledger(), name: "later") }
        }
    }

    @Test func aCrashRebuildsTheProcessAndRetriesTheMessage() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 1, durable: durableOptions(dir, snapshotEvery: 3))
            let ledger = try await node.spawnDurable(Ledger(every: 3), name: "t")
            for n in 1...10 { node.send(.add(n), to: ledger) }
            Switches.failuresLeft.store(2, ordering: .relaxed)
            node.send(.failOnce(100), to: ledger)
            for n in 11...12 { node.send(.add(n), to: ledger) }
            let state = try await ledgerState(node, "t")
            #expect(state.seen == Array(1...10) + [100, 11, 12])
            #expect(state.total == 78 + 100)
            #expect(node.durableRestarts == 2)
            #expect(try node.durableDeadLetters().isEmpty)
            try await node.shutdown()
        }
    }

    @Test func aPoisonMessageGoesToTheDeadLettersAfterThreeTries() async throws {
        try await withDataDirectory { dir in
            do {
                let node = try Node(schedulers: 1, durable: durableOptions(dir))
                let ledger = try await node.spawnDurable(Ledger(), name: "p")
                node.send(.add(1), to: ledger)
                node.send(.poison, to: ledger)
                node.send(.add(2), to: ledger)
                let state = try await ledgerState(node, "p")
                #expect(state.total == 3)
                #expect(node.durableRestarts == 3)
                let dead = try node.durableDeadLetters()
                #expect(dead.count == 1)
                #expect(dead.first?.pid == ledger.pid)
                #expect(dead.first?.failures == 3)
                #expect(dead.first?.error.contains("poison") == true)
                #expect(try BinaryDecoder().decode(Ledger.Message.self, from: dead.first?.payload ?? []) == .poison)
                try await node.shutdown()
            }
            // The dead letter is journaled: a restart does not try it again.
            let node = try Node(schedulers: 1, durable: durableOptions(dir))
            #expect(try await ledgerState(node, "p").total == 3)
            #expect(node.durableRestarts == 0)
            try await node.shutdown()
        }
    }

    @Test func aReplayThatProducesDifferentOutputsIsCaught() async throws {
        try await withDataDirectory { dir in
            Switches.divergent.store(false, ordering: .relaxed)
            let divergentSeq: UInt64
            do {
                let node = try Node(schedulers: 1, durable: durableOptions(dir))
                let ledger = try await node.spawnDurable(Ledger(), name: "d")
                node.send(.add(5), to: ledger)
                divergentSeq = try #require(seqOf(await node.send(.maybeSend, to: ledger, key: "maybe")))
                _ = try await ledgerState(node, "d")
                try await node.shutdown()
            }
            Switches.divergent.store(true, ordering: .relaxed)
            defer { Switches.divergent.store(false, ordering: .relaxed) }
            let node = try Node(schedulers: 1, durable: durableOptions(dir))
            let quarantined = node.quarantinedProcesses
            #expect(quarantined.count == 1)
            let reason = try #require(quarantined.values.first)
            #expect(reason.contains("diverged at step 2 (message seq \(divergentSeq))"), "\(reason)")
            // Time travel replays the same way, and says it diverges.
            let handledAt = try await node.journalEntries(of: "d").last { $0.kind == "handled" && $0.handled?.contains(divergentSeq) == true }
            do {
                _ = try await node.stateJSON(of: "d", at: try #require(handledAt).seq)
                Issue.record("a divergent replay gave a past state")
            } catch {
                #expect("\(error)".contains("diverged at step 2"), "\(error)")
            }
            #expect(reason.contains("Ledger"))
            #expect(reason.contains(try #require(quarantined.keys.first).description))
            try await node.shutdown()
        }
    }

    @Test func durableTimersFireAfterARestartAndMissedPeriodsCollapse() async throws {
        try await withDataDirectory { dir in
            let clock = ManualClock()
            let period = Duration.milliseconds(300)
            let down: WallTime
            do {
                let node = try Node(schedulers: 1, durable: durableOptions(dir), clock: clock)
                let ledger = try await node.spawnDurable(Ledger(), name: "timers")
                node.send(.after(milliseconds: 3000, tag: 7), to: ledger)
                node.send(.every(milliseconds: 300), to: ledger)
                #expect(await node.settled())
                // One period, one tick.
                await clock.advance(by: period)
                #expect(await node.settled())
                #expect(try await ledgerState(node, "timers").ticks == 1)
                // The one-shot is still pending when the node stops.
                #expect(try await ledgerState(node, "timers").fired == [])
                try await node.shutdown()
                down = clock.wallNow
            }
            // The node is down for five periods of the 300 ms timer and past the one-shot's due time.
            await clock.advance(by: period * 5 + .milliseconds(1500))
            let node = try Node(schedulers: 1, durable: durableOptions(dir), clock: clock)
            #expect(await node.settled())
            // The one-shot fires once, at once after the restart; the missed periods collapse into one catch-up tick.
            await clock.advance(by: .milliseconds(1))
            #expect(await node.settled())
            let caughtUp = try await ledgerState(node, "timers")
            #expect(caughtUp.fired == [7])
            #expect(caughtUp.ticks == 2, "the five missed periods were \(caughtUp.ticks - 1) ticks, not one")
            // Then a tick a period apart, not in a burst.
            await clock.advance(by: period - .milliseconds(2))
            #expect(await node.settled())
            #expect(try await ledgerState(node, "timers").ticks == 2)
            await clock.advance(by: .milliseconds(2))
            #expect(await node.settled())
            let state = try await ledgerState(node, "timers")
            #expect(state.ticks == 3 && state.fired == [7])
            #expect(state.tickTimes.filter { $0 > down.nanosecondsSinceEpoch }.count == 2)
            try await node.shutdown()
        }
    }

    @Test func idempotencyKeysExpireAfterTheirRetention() async throws {
        try await withDataDirectory { dir in
            var options = durableOptions(dir)
            options.keyRetention = .milliseconds(300)
            let clock = ManualClock()
            let node = try Node(schedulers: 1, durable: options, clock: clock)
            let ledger = try await node.spawnDurable(Ledger(), name: "keys")
            let first = try #require(seqOf(await node.send(.add(1), to: ledger, key: "once")))
            await clock.advance(by: .milliseconds(299))
            #expect(await node.send(.add(1), to: ledger, key: "once") == .duplicate(seq: first))
            // Past its retention the key is forgotten: the same key is a new message.
            await clock.advance(by: .milliseconds(1))
            let again = try #require(seqOf(await node.send(.add(1), to: ledger, key: "once")))
            #expect(again > first)
            #expect(try await ledgerState(node, "keys").total == 2)
            try await node.shutdown()
        }
    }

    @Test func idempotencyKeysAreHonouredAcrossRestarts() async throws {
        try await withDataDirectory { dir in
            do {
                let node = try Node(schedulers: 2, durable: durableOptions(dir))
                let ledger = try await node.spawnDurable(Ledger(), name: "keys")
                let first = await node.send(.add(5), to: ledger, key: "transfer-1")
                guard case .accepted(let seq) = first else { Issue.record("not accepted: \(first)"); return }
                #expect(await node.send(.add(5), to: ledger, key: "transfer-1") == .duplicate(seq: seq))
                // Racing duplicates in one group commit: exactly one is accepted.
                let results = await withTaskGroup(of: IngressResult.self) { group in
                    for _ in 0..<20 { group.addTask { await node.send(.add(1), to: ledger, key: "race") } }
                    return await group.reduce(into: []) { $0.append($1) }
                }
                #expect(results.filter { if case .accepted = $0 { true } else { false } }.count == 1)
                #expect(try await ledgerState(node, "keys").total == 6)
                try await node.shutdown()
            }
            for checkpointFirst in [false, true] {
                let node = try Node(schedulers: 2, durable: durableOptions(dir, checkpointAtShutdown: checkpointFirst))
                let ledger = try #require(node.address(named: "keys", as: Ledger.Message.self))
                let again = await node.send(.add(5), to: ledger, key: "transfer-1")
                if case .duplicate = again {} else { Issue.record("key forgotten after restart: \(again)") }
                let race = await node.send(.add(1), to: ledger, key: "race")
                if case .duplicate = race {} else { Issue.record("key forgotten after restart: \(race)") }
                #expect(try await ledgerState(node, "keys").total == 6)
                try await node.checkpoint()
                try await node.shutdown()
            }
        }
    }

    @Test func aCorruptRecordQuarantinesOnlyItsProcess() async throws {
        try await withDataDirectory { dir in
            var victim = Pid(serial: 0)
            do {
                let node = try Node(schedulers: 2, durable: durableOptions(dir))
                let a = try await node.spawnDurable(Ledger(), name: "a")
                let b = try await node.spawnDurable(Ledger(), name: "b")
                victim = a.pid
                for n in 1...5 {
                    _ = await node.send(.add(n), to: a, key: nil)
                    _ = await node.send(.add(n), to: b, key: nil)
                }
                _ = try await ledgerState(node, "a")
                _ = try await ledgerState(node, "b")
                try await node.shutdown()
            }
            // Overwrite the payload of one message accepted for `a` with garbage.
            do {
                let journal = try Journal(environment: StoreEnvironment(path: dir))
                var target: UInt64?
                try journal.scan(from: 1) { seq, record in
                    if case .success(.accepted(let accepted)) = record, accepted.to == victim.serial, target == nil { target = seq }
                    return true
                }
                let seq = try #require(target)
                var bad = LogRecord.Accepted(to: victim.serial, acceptedAt: 1, payload: [0xff, 0xee, 0xdd])
                bad.key = nil
                // With a valid checksum: the record is intact as stored, it just does not decode.
                try journal.replaceRecord(at: seq, with: LogRecord.accepted(bad).encoded())
                journal.environment.close()
            }
            let node = try Node(schedulers: 2, durable: durableOptions(dir))
            let quarantined = node.quarantinedProcesses
            #expect(Array(quarantined.keys) == [victim])
            #expect(quarantined[victim]?.contains("does not decode") == true)
            // It keeps its name (nothing fresh takes its place), quarantined, its state withheld.
            let a = try #require(node.address(named: "a", as: Ledger.Message.self))
            #expect(a.pid == victim)
            await #expect(throws: DurableError.self) { try await node.state(of: a, as: Ledger.self) }
            let b = try #require(node.address(named: "b", as: Ledger.Message.self))
            node.send(.add(100), to: b)
            #expect(try await ledgerState(node, "b").total == 115)
            try await node.shutdown()
        }
    }

    @Test func theMapGrowsWithoutLosingAnything() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 2, durable: durableOptions(dir, mapSize: 256 << 10))
            let ledger = try await node.spawnDurable(Ledger(), name: "big")
            for n in 1...6000 { node.send(.add(n % 7), to: ledger) }
            let state = try await ledgerState(node, "big")
            #expect(state.seen.count == 6000)
            #expect((node.commitStatistics?.mapGrowths ?? 0) > 0)
            try await node.shutdown()
        }
    }

    @Test func namesAndMailboxesComeBackAfterACrash() async throws {
        try await withDataDirectory { dir in
            var pids: [String: Pid] = [:]
            do {
                let node = try Node(schedulers: 2, durable: durableOptions(dir))
                for name in ["m1", "m2"] {
                    let ledger = try await node.spawnDurable(Ledger(), name: name)
                    pids[name] = ledger.pid
                    for n in 1...10 { node.send(.add(n), to: ledger) }
                    _ = try await ledgerState(node, name)
                }
                try await node.shutdown()
            }
            // What a crash leaves behind: messages accepted (committed) but not handled yet.
            do {
                let journal = try Journal(environment: StoreEnvironment(path: dir))
                let m1 = try #require(pids["m1"]).serial
                try journal.append([100, 200, 300].map { n in
                    .accepted(.init(to: m1, acceptedAt: 1, payload: try BinaryEncoder().encode(Ledger.Message.add(n))))
                })
                journal.environment.close()
            }
            let node = try Node(schedulers: 2, durable: durableOptions(dir))
            #expect(node.recoveryReport?.pending == 3)
            #expect(node.whereis("m1") == pids["m1"])
            #expect(node.whereis("m2") == pids["m2"])
            #expect(try await ledgerState(node, "m1").seen == Array(1...10) + [100, 200, 300])
            #expect(try await ledgerState(node, "m2").total == 55)
            try await node.shutdown()
        }
    }

    @Test func durableSendsBetweenProcessesAndStopsAreJournaled() async throws {
        try await withDataDirectory { dir in
            // No snapshot at the stop (the tests' default): the next start rebuilds every state by replay.
            let options = durableOptions(dir)
            let before: Ledger.State
            do {
                let node = try Node(schedulers: 2, durable: options)
                let a = try await node.spawnDurable(Ledger(), name: "from")
                _ = try await node.spawnDurable(Ledger(), name: "to")
                let gone = try await node.spawnDurable(Ledger(), name: "gone")
                for n in 1...20 { node.send(.forward(n, to: "to"), to: a) }
                node.send(.roll, to: a)
                node.send(.roll, to: a)
                node.send(.quit, to: gone)
                #expect(await node.settled())
                #expect((try? await ledgerState(node, "to").total) == 210)
                #expect(node.whereis("gone") == nil)
                before = try await ledgerState(node, "from")
                try await node.shutdown()
            }
            let node = try Node(schedulers: 2, durable: options)
            #expect(node.recoveryReport?.replayed ?? 0 >= 22, "the states come back by replay")
            #expect(try await ledgerState(node, "to").total == 210)
            // Replay draws the same random numbers and sees the same times.
            let after = try await ledgerState(node, "from")
            #expect(after.rolls.count == 2 && after.rolls[0] != after.rolls[1])
            #expect(after == before)
            #expect(node.whereis("gone") == nil)
            #expect(node.recoveryReport?.processes == 2)
            try await node.shutdown()
        }
    }
}

func seqOf(_ result: IngressResult) -> UInt64? {
    if case .accepted(let seq) = result { return seq }
    return nil
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct DurableHistoryTests {
    /// A node that stops its processes takes no more checkpoint rounds: a
    /// round then would find none of them in their schedulers' tables, move
    /// the log scan's start past what they handled since their last
    /// snapshot and drop those records (the last ticks of a periodic timer
    /// were lost at the next start). Rounds every millisecond, no history
    /// kept, no checkpoint at shutdown: eight stops, nothing lost.
    @Test func noRoundDuringAShutdownDropsWhatTheStoppingProcessesHandled() async throws {
        try await withDataDirectory { dir in
            var options = durableOptions(dir)
            options.history = .zero
            options.checkpointInterval = .milliseconds(1)
            var expected = 0
            for run in 0..<8 {
                let node = try Node(schedulers: 2, durable: options)
                let ledger = run == 0
                    ? try await node.spawnDurable(Ledger(), name: "tally")
                    : try #require(node.address(named: "tally", as: Ledger.Message.self))
                #expect(try await ledgerState(node, "tally").total == expected, "after stop \(run)")
                for n in 1...40 {
                    node.send(.add(n), to: ledger)
                    expected += n
                }
                // Handled (the call comes after the adds), then stopped at once.
                let _: Int = try await node.call(ledger, .get)
                try await node.shutdown()
            }
            let node = try Node(schedulers: 2, durable: options)
            #expect(try await ledgerState(node, "tally").total == expected)
            try await node.shutdown()
        }
    }

    @Test func recordsOutsideTheHistoryWindowAreDroppedAndRecoveryStillHolds() async throws {
        try await withDataDirectory { dir in
            var options = durableOptions(dir)
            options.history = .zero
            let firstSeq: UInt64
            do {
                let node = try Node(schedulers: 2, durable: options)
                let a = try await node.spawnDurable(Ledger(), name: "h1")
                let b = try await node.spawnDurable(Ledger(), name: "h2")
                for n in 1...50 {
                    node.send(.add(n), to: a)
                    node.send(.add(n), to: b)
                }
                _ = try await ledgerState(node, "h1")
                _ = try await ledgerState(node, "h2")
                try await node.checkpoint()
                try await node.checkpoint()
                #expect((node.commitStatistics?.dropped ?? 0) > 100, "rounds drop what no process needs")
                for n in [1000, 2000] { node.send(.add(n), to: a) }
                _ = try await ledgerState(node, "h1")
                try await node.shutdown()
            }
            do {
                let journal = try Journal(environment: StoreEnvironment(path: dir))
                var first: UInt64 = 0
                try journal.scan(from: 1) { seq, _ in
                    first = seq
                    return false
                }
                firstSeq = first
                journal.environment.close()
            }
            #expect(firstSeq > 100)
            let node = try Node(schedulers: 2, durable: durableOptions(dir))
            #expect(try await ledgerState(node, "h1").total == 1275 + 3000)
            #expect(try await ledgerState(node, "h2").total == 1275)
            try await node.shutdown()
        }
    }
}
