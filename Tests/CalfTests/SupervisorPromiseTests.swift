import Calf
import Synchronization
import Testing

/// OTP promises a demanding Erlang user relies on, each of which Calf once
/// broke: negative durations refused or harmless, no child outliving its
/// supervisor, dynamic children stopped together, backoff series that do
/// not reset while a child keeps failing, a restart loop that can be ended.
@Suite(.timeLimit(.minutes(2))) struct SupervisorPromiseTests {
    // MARK: Durations from callers

    @Test func negativeDurationsAnywhereNeitherTrapNorWait() async throws {
        let node = try Node(schedulers: 1)
        let (me, _) = try await puppet(node)
        let (receiver, answers) = try await node.receiver(of: Int.self)
        // Between -1 s and 0, where the old conversion trapped (seconds 0, negative attoseconds): it fires at once.
        node.send(Step { context in
            context.sendAfter(Step { context in context.send(1, to: receiver) }, after: .milliseconds(-10))
            context.sendAfter(Step { context in context.send(2, to: receiver) }, after: .seconds(-3))
        }, to: me)
        // Within half a second: a timer already due when the loop went to
        // sleep once fired only at the next wakeup (the metrics sampler's, a second later).
        #expect(await next(answers, within: 0.5) == 1)
        #expect(await next(answers, within: 0.5) == 2)
        // A call with a negative timeout times out at once instead of trapping.
        let (silent, _) = try await puppet(node)
        await #expect(throws: CallError.self) {
            let _: Int = try await node.call(silent, Step { _ in }, timeout: .milliseconds(-10))
        }
        try await node.shutdown()
    }

    @Test func backoffDelaysNeverTrapWhateverTheirFields() {
        #expect(Backoff(initial: .seconds(1), maximum: .seconds(10), multiplier: 1e300).delay(attempt: 5) == .seconds(10))
        #expect(Backoff(initial: .seconds(1), maximum: .seconds(10), multiplier: .infinity).delay(attempt: 3) == .seconds(10))
        #expect(Backoff(initial: .milliseconds(-10), maximum: .seconds(1)).delay(attempt: 3) == .zero)
        var huge = Backoff(initial: .seconds(1), maximum: .seconds(Int64.max))
        huge.multiplier = 1e10
        #expect(huge.delay(attempt: Int.max) == .seconds(Int64.max))
        #expect(Backoff(initial: .milliseconds(10), maximum: .seconds(1)).delay(attempt: Int.max) == .seconds(1))
    }

    @Test func negativeShutdownIntensityOrBackoffIsRefusedBeforeAnythingStarts() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        do {
            _ = try await node.startSupervisor(SupervisorSpec("sup") {
                worker("a", board)
                worker("b", board, shutdown: .timeout(.milliseconds(-10)))
            })
            Issue.record("a negative shutdown was accepted")
        } catch let SpawnError.startFailed(_, _, reason) {
            #expect("\(reason)".contains("shutdown time") && "\(reason)".contains("negative"), "\(reason)")
        }
        await #expect(throws: SpawnError.self) {
            try await node.startSupervisor(SupervisorSpec("sup", intensity: -1) { worker("a", board) })
        }
        var bad = Backoff(initial: .milliseconds(10), maximum: .seconds(1))
        bad.resetAfter = .seconds(-1)
        await #expect(throws: SpawnError.self) {
            try await node.startSupervisor(SupervisorSpec("sup") { worker("a", board, backoff: bad) })
        }
        #expect(board.starts("a") == 0)
        let sup = try await node.startSupervisor(SupervisorSpec("sup") { worker("a", board) })
        await #expect(throws: SupervisorError.self) { try await sup.startChild(worker("c", board, shutdown: .timeout(.seconds(-2)))) }
        #expect(try await sup.whichChildren().map(\.id) == ["a"])
        try await node.shutdown()
    }

    // MARK: No child outlives its supervisor

    @Test func aSupervisorStoppedByNodeStopStopsItsChildrenAndKillsOneThatIgnoresShutdown() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup") {
            worker("polite", board, trapsExits: true)
            worker("stubborn", board, shutdown: .timeout(.milliseconds(200)), ignoresShutdown: true)
        })
        let polite = try await watchDown(node, try #require(board.address("polite")))
        let stubborn = try await watchDown(node, try #require(board.address("stubborn")))
        node.stop(sup.address, reason: .shutdown)
        #expect(await downReason(stubborn) == .killed)
        #expect(await downReason(polite) == .shutdown)
        // In reverse start order, as an orderly stop.
        #expect(board.events.suffix(1) == ["stop polite"])
        try await node.shutdown()
    }

    @Test func aKilledSupervisorsChildrenAreGoneEvenOnesThatTrapExits() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", strategy: .oneForOne) {
            worker("stubborn", board, shutdown: .timeout(.milliseconds(200)), ignoresShutdown: true)
            SupervisorSpec("inner") {
                worker("deep", board, shutdown: .timeout(.milliseconds(200)), ignoresShutdown: true)
            }
        })
        let stubborn = try await watchDown(node, try #require(board.address("stubborn")))
        let deep = try await watchDown(node, try #require(board.address("deep")))
        let before = await node.processCount()
        node.kill(sup.address)
        #expect(await downReason(stubborn) == .killed)
        #expect(await downReason(deep) == .killed)
        // The tree's four processes are gone (and the reaper that stopped them).
        #expect(await node.settled())
        #expect(await node.processCount() == before - 4)
        try await node.shutdown()
    }

    @Test func aStartThatFailsHalfWayReturnsOnlyOnceTheChildrenStartedAreGone() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        board.failNextStarts("c", 1)
        await #expect(throws: SpawnError.self) {
            try await node.startSupervisor(SupervisorSpec("sup") {
                worker("a", board, trapsExits: true)
                worker("b", board, shutdown: .timeout(.milliseconds(200)), ignoresShutdown: true)
                worker("c", board)
            })
        }
        // Nothing of the tree runs any more when the start reports its failure.
        let a = try #require(board.address("a")), b = try #require(board.address("b"))
        #expect(await node.isAlive(a) == false)
        #expect(await node.isAlive(b) == false)
        #expect(board.terminations("a") == [.shutdown])
        #expect(await node.processCount() == 0)
        try await node.shutdown()
    }

    // MARK: simpleOneForOne

    @Test func dynamicChildrenAreStoppedTogetherUnderOneTimer() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let shutdown = Duration.milliseconds(300)
        let sup = try await node.startSupervisor(SupervisorSpec("pool", strategy: .simpleOneForOne, intensity: 1, period: .seconds(60)) {
            ChildSpec(id: "job", shutdown: .timeout(shutdown), behavior: "TestWorker") { context in
                let id = try context.arguments(as: String.self)
                return .started(ChildProcess(try context.spawn(TestWorker(id: id, board: board, ignoresShutdown: true))))
            }
        })
        let ids = (1...10).map { "w\($0)" }
        var downs: [AsyncStream<Puppet.Event>] = []
        for id in ids {
            _ = try await sup.startChild(with: id)
            downs.append(try await watchDown(node, try #require(board.address(id))))
        }
        let began = ContinuousClock.now
        try await sup.stop()
        let took = ContinuousClock.now - began
        for down in downs { #expect(await downReason(down) == .killed) }
        // One after another, ten children that ignore their shutdown take 3 s at least.
        #expect(took >= shutdown && took < shutdown * 10, "\(took)")
        try await node.shutdown()
    }

    @Test func aRestartingDynamicChildIsFoundByItsLastPidAndItsLoopEnds() async throws {
        let clock = ManualClock()
        let node = try Node(schedulers: 1, clock: clock)
        let board = Board()
        let backoff = Backoff(initial: .seconds(2), maximum: .seconds(2))
        let sup = try await node.startSupervisor(SupervisorSpec("pool", strategy: .simpleOneForOne, intensity: 10, period: .seconds(60)) {
            ChildSpec.template("job", backoff: backoff) { (id: String) in TestWorker(id: id, board: board) }
        })
        let pid = try #require(try await sup.startChild(with: "w1"))
        let child = try #require(board.address("w1"))
        let down = try await watchDown(node, child)
        node.send(.exit(.error(Boom())), to: child)
        #expect(await downReason(down) == .error(Boom()))
        let waiting = try await sup.whichChildren()
        #expect(waiting.map(\.status) == [.restarting], "\(waiting)")
        try await sup.terminateChild(pid: pid)
        #expect(try await sup.whichChildren().isEmpty)
        // Well past its restart time: it was not started again.
        await clock.advance(by: backoff.initial * 1.5)
        #expect(await node.settled())
        #expect(board.starts("w1") == 1)
        #expect(try await sup.whichChildren().isEmpty)
        try await node.shutdown()
    }

    // MARK: Backoff

    @Test func aChildThatKeepsFailingToStartKeepsItsBackoffSeries() async throws {
        let clock = ManualClock()
        let node = try Node(schedulers: 1, clock: clock)
        let attempts = Mutex(0)
        let board = Board()
        let backoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(200), resetAfter: .milliseconds(400))
        let spec = ChildSpec(id: "failing", backoff: backoff, behavior: "TestWorker") { context in
            let count = attempts.withLock { $0 += 1; return $0 }
            if count > 1 { throw StartFailure() }
            return .started(ChildProcess(try context.spawn(TestWorker(id: "failing", board: board))))
        }
        _ = try await node.startSupervisor(SupervisorSpec("sup", intensity: 100, period: .seconds(60)) { spec })
        node.send(.exit(.error(Boom())), to: try #require(board.address("failing")))
        #expect(await node.settled())
        // 50, 100, 200, then 200 each: each try comes exactly its backoff after the one before, and past
        // 400 ms of waiting the series does not start over (failed starts are no time the child ran).
        for attempt in 1...8 {
            let delay = backoff.delay(attempt: attempt)
            await clock.advance(by: delay - .milliseconds(1))
            #expect(await node.settled())
            #expect(attempts.withLock { $0 } == attempt, "try \(attempt + 1) came before its \(delay)")
            await clock.advance(by: .milliseconds(1))
            #expect(await node.settled())
            #expect(attempts.withLock { $0 } == attempt + 1, "try \(attempt + 1) did not come at its \(delay)")
        }
        try await node.shutdown()
    }
}
