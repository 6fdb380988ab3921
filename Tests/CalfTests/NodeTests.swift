import Calf
import Testing

/// A behavior whose start fails.
struct FailsToStart: Behavior {
    typealias State = Void
    let inStarted: Bool
    func initialState() throws {
        if !inStarted { throw Boom(tag: "initialState") }
    }
    func started(state: inout Void, context: inout Context<Int>) throws {
        throw Boom(tag: "started")
    }
    func handle(_ message: Int, state: inout Void, context: inout Context<Int>) {}
}

@Suite(.timeLimit(.minutes(2))) struct NameTests {
    @Test func registeredNamesWorkWherePidsDo() async throws {
        let node = try Node(schedulers: 2)
        let tally = try await node.spawn(Tally(), on: 1)
        try await node.register("tally", tally)
        #expect(node.whereis("tally") == tally.pid)
        #expect(node.address(named: "tally", as: Tally.Message.self) == tally)
        #expect(node.address(named: "tally", as: Int.self) == nil)
        #expect(node.send(Tally.Message.add(5), to: "tally"))
        let value: Int = try await node.call("tally", Tally.Message.get)
        #expect(value == 5)
        // From inside a process, by name.
        let (p, _) = try await puppet(node, on: 0)
        let (out, outs) = try await node.receiver(of: Bool.self)
        node.send(Step { context in context.send(context.send(Tally.Message.add(1), to: "tally"), to: out) }, to: p)
        #expect(await next(outs) == true)
        let after: Int = try await node.call("tally", Tally.Message.get)
        #expect(after == 6)
        try await node.shutdown()
    }

    @Test func aNameIsTakenOnceAndFreedOnExit() async throws {
        let node = try Node(schedulers: 1)
        let first = try await node.spawn(Tally())
        let second = try await node.spawn(Tally())
        try await node.register("svc", first)
        await #expect(throws: NameError.taken("svc", by: first.pid)) { try await node.register("svc", second) }
        await #expect(throws: NameError.alreadyNamed(first.pid, "svc")) { try await node.register("other", first) }
        node.kill(first)
        #expect(await node.settled())
        #expect(node.whereis("svc") == nil)
        try await node.register("svc", second)
        #expect(node.whereis("svc") == second.pid)
        await #expect(throws: CallError.noProcess("nobody")) {
            let _: Int = try await node.call("nobody", Tally.Message.get)
        }
        try await node.shutdown()
    }

    @Test func aProcessCanRegisterItself() async throws {
        let node = try Node(schedulers: 1)
        let (p, _) = try await puppet(node)
        let (out, outs) = try await node.receiver(of: String.self)
        node.send(Step { context in
            try context.register("me")
            do { try context.register("again") } catch { context.send("\(error)", to: out) }
        }, to: p)
        #expect(await next(outs) == "\(p.pid) is already registered as 'me'")
        #expect(node.whereis("me") == p.pid)
        try await node.shutdown()
    }
}

@Suite(.timeLimit(.minutes(2))) struct TimerTests {
    @Test func sendAfterFiresAfterTheDelay() async throws {
        let node = try Node(schedulers: 2)
        let (p, _) = try await puppet(node)
        let (out, outs) = try await node.receiver(of: String.self)
        let start = ContinuousClock.now
        node.send(Step { context in
            context.sendAfter("late", to: out, after: .milliseconds(60))
            context.sendAfter("early", to: out, after: .milliseconds(20))
        }, to: p)
        #expect(await next(outs) == "early")
        #expect(await next(outs) == "late")
        #expect(ContinuousClock.now - start >= .milliseconds(60))
        try await node.shutdown()
    }

    @Test func cancelledTimerDoesNotFire() async throws {
        let node = try Node(schedulers: 1)
        let (p, _) = try await puppet(node)
        let (out, outs) = try await node.receiver(of: String.self)
        node.send(Step { context in
            let timer = context.sendAfter("cancelled", to: out, after: .milliseconds(30))
            let cancelled = context.cancelTimer(timer)
            context.send("cancel returned \(cancelled)", to: out)
            context.send("cancel again returned \(context.cancelTimer(timer))", to: out)
            context.sendAfter("kept", to: out, after: .milliseconds(60))
        }, to: p)
        #expect(await next(outs) == "cancel returned true")
        #expect(await next(outs) == "cancel again returned false")
        #expect(await next(outs) == "kept")
        try await node.shutdown()
    }

    @Test func manyTimersFireInDeadlineOrder() async throws {
        let node = try Node(schedulers: 1)
        let (p, _) = try await puppet(node)
        let (out, outs) = try await node.receiver(of: Int.self)
        node.send(Step { context in
            for delay in [50, 10, 40, 20, 30] {
                context.sendAfter(delay, to: out, after: .milliseconds(delay))
            }
        }, to: p)
        var seen: [Int] = []
        for _ in 0..<5 { seen.append(await next(outs) ?? -1) }
        #expect(seen == [10, 20, 30, 40, 50])
        try await node.shutdown()
    }
}

@Suite(.timeLimit(.minutes(2))) struct NodeTests {
    @Test func spawnFailureIsATypedErrorAndLeavesNothing() async throws {
        let node = try Node(schedulers: 1)
        for inStarted in [false, true] {
            do {
                _ = try await node.spawn(FailsToStart(inStarted: inStarted))
                Issue.record("spawn succeeded")
            } catch let error as SpawnError {
                #expect("\(error)".contains(inStarted ? "started" : "initialState"))
            }
        }
        #expect(await node.processCount() == 0)
        await #expect(throws: SpawnError.self) { _ = try await node.spawn(Tally(), on: 5) }
        try await node.shutdown()
        await #expect(throws: SpawnError.self) { _ = try await node.spawn(Tally()) }
    }

    @Test func shutdownWith100kLiveProcessesIsCleanAndRunsTerminate() async throws {
        let node = try Node(schedulers: 2)
        let (events, continuation) = AsyncStream<Puppet.Event>.makeStream()
        let watched = try await node.spawn(Puppet(events: continuation))
        let (out, outs) = try await node.receiver(of: Int.self)
        for scheduler in 0..<2 {
            let spawner = try await node.spawn(Puppet(), on: scheduler)
            node.send(Step { context in
                for _ in 0..<50_000 { try context.spawn(Puppet()) }
                context.send(50_000, to: out)
            }, to: spawner)
        }
        _ = await next(outs, within: 60)
        _ = await next(outs, within: 60)
        let live = await node.processCount()
        #expect(live == 100_004)
        let report = try await node.shutdown()
        #expect(report.processesStopped == live)
        #expect(report.leakedHandles == 0)
        #expect(await next(events) == .terminated(.shutdown))
        // A second shutdown returns the same report.
        #expect(try await node.shutdown() == report)
        // Sending to a process of a stopped node is a dead letter, not a crash.
        let before = node.deadLetters
        node.send(Step { _ in }, to: watched)
        #expect(node.deadLetters == before + 1)
    }

    @Test func timersAndCallsLeaveNoHandleOpen() async throws {
        let node = try Node(schedulers: 2)
        let tally = try await node.spawn(Tally())
        // A call that is never answered times out (its timer fired)...
        do {
            _ = try await node.call(tally, .ignore, timeout: .milliseconds(10)) as Int
            Issue.record("an ignored call was answered")
        } catch {
            #expect(error == .timeout(.milliseconds(10)))
        }
        // ... and a timer still pending when the node stops (armed before the ack).
        let (p, _) = try await puppet(node)
        let (ack, acks) = try await node.receiver(of: Bool.self)
        node.send(Step { context in
            context.sendAfter(Step { _ in }, after: .seconds(3600))
            context.send(true, to: ack)
        }, to: p)
        #expect(await next(acks) == true)
        let report = try await node.shutdown()
        #expect(report.leakedHandles == 0)
    }

    @Test func mailAfterShutdownIsADeadLetterAndCallsFailAtOnce() async throws {
        let node = try Node(schedulers: 2)
        let tally = try await node.spawn(Tally())
        try await node.shutdown()
        let before = node.deadLetters
        node.send(.add(1), to: tally)
        #expect(node.deadLetters == before + 1)
        await #expect(throws: CallError.self) {
            _ = try await node.call(tally, .get, timeout: .seconds(60)) as Int
        }
    }
}
