// Over 400 lines on purpose: one suite follows OTP's supervisor_SUITE.erl
// group by group, so a reader can put the two side by side.
import Calf
import Testing

/// The cases of OTP's lib/stdlib/test/supervisor_SUITE.erl that apply here:
/// starting, stopping, child administration, restart types under each exit
/// reason, every strategy with and without escalation, counts, intensity.
@Suite(.timeLimit(.minutes(2))) struct SupervisorTests {
    // MARK: Starting (sup_start group)

    @Test func startNormalStartsChildrenInOrderAndStopsThemInReverse() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", strategy: .oneForOne, intensity: 2, period: .seconds(3600)) {
            worker("a", board, trapsExits: true)
            worker("b", board, trapsExits: true)
            worker("c", board, trapsExits: true)
        })
        let children = try await sup.whichChildren()
        #expect(children.map(\.id) == ["a", "b", "c"])
        #expect(children.allSatisfy { $0.status == .running && $0.pid != nil })
        #expect(try await counts(sup) == [3, 3, 0, 3])
        try await sup.stop()
        #expect(board.events == ["start a", "start b", "start c", "stop c", "stop b", "stop a"])
        #expect(board.terminations("a") == [.shutdown])
        #expect(await node.isAlive(sup.address) == false)
        try await node.shutdown()
    }

    @Test func startFailsWhenAChildFailsAndStopsThoseStarted() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        board.failNextStarts("b", 1)
        await #expect(throws: SpawnError.self) {
            try await node.startSupervisor(SupervisorSpec("sup") {
                worker("a", board, trapsExits: true)
                worker("b", board)
            })
        }
        #expect(await board.waitForTerminations("a", 1) && board.terminations("a") == [.shutdown])
        #expect(await node.settled())
        #expect(await node.processCount() == 0)
        try await node.shutdown()
    }

    @Test func invalidSpecsAreRefused() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        await #expect(throws: SpawnError.self) {
            try await node.startSupervisor(SupervisorSpec("sup") { worker("a", board); worker("a", board) })
        }
        await #expect(throws: SpawnError.self) {
            try await node.startSupervisor(SupervisorSpec("pool", strategy: .simpleOneForOne) { worker("a", board); worker("b", board) })
        }
        #expect(board.starts("a") == 0)
        try await node.shutdown()
    }

    @Test func ignoredChildKeepsItsSpecUnlessTemporary() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", intensity: 2, period: .seconds(3600)) {
            worker("t1", board, restart: .temporary, ignore: true)
            worker("t2", board, restart: .temporary)
        })
        #expect(try await sup.whichChildren().map(\.id) == ["t2"])
        #expect(try await counts(sup) == [1, 1, 0, 1])

        #expect(try await sup.startChild(worker("p1", board, ignore: true)) == nil)
        #expect(try await sup.startChild(worker("p2", board)) != nil)
        #expect(try await sup.startChild(worker("t3", board, restart: .temporary, ignore: true)) == nil)
        let children = try await sup.whichChildren()
        #expect(children.map(\.id) == ["t2", "p1", "p2"])
        #expect(children[1].pid == nil && children[1].status == .stopped)
        #expect(try await counts(sup) == [3, 2, 0, 3])
        try await node.shutdown()
    }

    // MARK: Stopping (sup_stop group)

    @Test func stopWithInfinityWaitsForTheChild() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup") {
            worker("c1", board, shutdown: .infinity, trapsExits: true)
            worker("c2", board, shutdown: .infinity)
        })
        let down1 = try await watchDown(node, try #require(board.address("c1")))
        let down2 = try await watchDown(node, try #require(board.address("c2")))
        try await sup.stop()
        #expect(await downReason(down1) == .shutdown)
        #expect(await downReason(down2) == .shutdown)
        #expect(board.terminations("c1") == [.shutdown])
        try await node.shutdown()
    }

    @Test func stopWithTimeoutKillsAChildThatDoesNotStop() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup") {
            worker("c1", board, shutdown: .timeout(.milliseconds(100)), trapsExits: true)
            worker("c2", board, shutdown: .timeout(.milliseconds(100)), ignoresShutdown: true)
        })
        let down1 = try await watchDown(node, try #require(board.address("c1")))
        let down2 = try await watchDown(node, try #require(board.address("c2")))
        let began = ContinuousClock.now
        try await sup.stop()
        #expect(ContinuousClock.now - began >= .milliseconds(100))
        #expect(await downReason(down2) == .killed)
        #expect(await downReason(down1) == .shutdown)
        try await node.shutdown()
    }

    @Test func stopWithBrutalKillKills() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup") {
            worker("c1", board, trapsExits: true)
            worker("c2", board, shutdown: .brutalKill, trapsExits: true)
        })
        let down1 = try await watchDown(node, try #require(board.address("c1")))
        let down2 = try await watchDown(node, try #require(board.address("c2")))
        try await sup.stop()
        #expect(await downReason(down1) == .shutdown)
        #expect(await downReason(down2) == .killed)
        #expect(board.terminations("c2").isEmpty)
        try await node.shutdown()
    }

    // MARK: Child administration (child_adm, extra_return)

    @Test func childAdministration() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", intensity: 2, period: .seconds(3600)) {
            worker("child1", board, trapsExits: true)
        })
        let first = try #require(try await sup.pid(of: "child1"))
        await #expect(throws: SupervisorError.notFound("hej")) { try await sup.terminateChild("hej") }
        await #expect(throws: SupervisorError.notFound("hej")) { try await sup.deleteChild("hej") }
        await #expect(throws: SupervisorError.notFound("hej")) { try await sup.restartChild("hej") }
        await #expect(throws: SupervisorError.running("child1")) { try await sup.deleteChild("child1") }
        await #expect(throws: SupervisorError.running("child1")) { try await sup.restartChild("child1") }
        await #expect(throws: SupervisorError.alreadyStarted(id: "child1", pid: first)) {
            try await sup.startChild(worker("child1", board))
        }
        #expect(try await counts(sup) == [1, 1, 0, 1])

        try await sup.terminateChild("child1")
        #expect(board.terminations("child1") == [.shutdown])
        #expect(try await sup.whichChildren().map(\.status) == [.stopped])
        #expect(try await counts(sup) == [1, 0, 0, 1])
        await #expect(throws: SupervisorError.alreadyPresent("child1")) { try await sup.startChild(worker("child1", board)) }

        let second = try #require(try await sup.restartChild("child1"))
        #expect(second != first)
        #expect(try await counts(sup) == [1, 1, 0, 1])

        try await sup.terminateChild("child1")
        try await sup.terminateChild("child1")
        try await sup.deleteChild("child1")
        await #expect(throws: SupervisorError.notFound("child1")) { try await sup.restartChild("child1") }
        #expect(try await sup.whichChildren().isEmpty)
        #expect(try await counts(sup) == [0, 0, 0, 0])
        #expect(try await sup.startChild(worker("child1", board)) != nil)
        #expect(try await counts(sup) == [1, 1, 0, 1])
        // The supervisor's restart budget was not touched: terminating is not restarting.
        #expect(try await sup.whichChildren().first?.restarts == 0)
        try await node.shutdown()
    }

    // MARK: Restart types (normal_termination, shutdown_termination, abnormal_termination)

    static let restartCases: [(ChildRestart, ExitReason, Bool)] = [
        (.permanent, .normal, true), (.transient, .normal, false), (.temporary, .normal, false),
        (.permanent, .shutdown, true), (.transient, .shutdown, false), (.temporary, .shutdown, false),
        (.permanent, .error(Boom()), true), (.transient, .error(Boom()), true), (.temporary, .error(Boom()), false),
        (.transient, .killed, true),
    ]

    @Test(arguments: restartCases)
    func restartTypeDecidesOnTheExitReason(restart: ChildRestart, reason: ExitReason, restarted: Bool) async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", intensity: 2, period: .seconds(3600)) {
            worker("child1", board, restart: restart)
        })
        let child = try #require(board.address("child1"))
        if reason == .killed { node.kill(child) } else { node.send(.exit(reason), to: child) }
        if restarted {
            #expect(await board.waitForStarts("child1", 2) && board.starts("child1") == 2)
            let children = await sup.children { $0.first?.pid != nil && $0.first?.pid != child.pid }
            #expect(children.first?.restarts == 1)
        } else {
            #expect(await exits(node, child))
            // The child's exit is in the supervisor's mailbox before this call:
            // its answer comes after it handled the exit (and any restart).
            let children = try await sup.whichChildren()
            #expect(board.starts("child1") == 1)
            // OTP drops a temporary child's spec when it ends; others stay, stopped.
            #expect(children.map(\.status) == (restart == .temporary ? [] : [.stopped]))
        }
        #expect(await node.isAlive(sup.address))
        try await node.shutdown()
    }

    // MARK: Strategies

    @Test func oneForOneRestartsOnlyTheChildThatEnded() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", strategy: .oneForOne, intensity: 2, period: .seconds(3600)) {
            worker("child1", board)
            worker("child2", board)
        })
        let before = try await sup.whichChildren()
        node.send(.exit(.error(Boom())), to: try #require(board.address("child1")))
        let after = await sup.children { $0[0].pid != nil && $0[0].pid != before[0].pid }
        #expect(after[1].pid == before[1].pid)
        #expect(board.starts("child2") == 1)
        try await node.shutdown()
    }

    @Test(arguments: [RestartStrategy.oneForOne, .oneForAll, .restForOne, .simpleOneForOne])
    func escalationWhenTheIntensityIsReached(strategy: RestartStrategy) async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let spec: SupervisorSpec
        if strategy == .simpleOneForOne {
            spec = SupervisorSpec("sup", strategy: strategy, intensity: 1, period: .seconds(3600)) {
                ChildSpec.template("child") { (id: String) in TestWorker(id: id, board: board, trapsExits: true) }
            }
        } else {
            spec = SupervisorSpec("sup", strategy: strategy, intensity: 1, period: .seconds(3600)) {
                worker("child1", board)
                worker("child2", board, trapsExits: true)
            }
        }
        let sup = try await node.startSupervisor(spec)
        if strategy == .simpleOneForOne {
            try await sup.startChild(with: "child1")
            try await sup.startChild(with: "child2")
        }
        let supDown = try await watchDown(node, sup.address)
        node.send(.exit(.error(Boom())), to: try #require(board.address("child1")))
        #expect(await board.waitForStarts("child1", 2) && board.starts("child1") == 2)
        node.send(.exit(.error(Boom())), to: try #require(board.address("child1")))
        #expect(await downReason(supDown) == .shutdown)
        #expect(await board.waitForTerminations("child2", 1) && board.terminations("child2").contains(.shutdown))
        #expect(await node.rootExit().id == "sup")
        try await node.shutdown()
    }

    @Test func oneForAllRestartsEveryChildInOrder() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", strategy: .oneForAll, intensity: 2, period: .seconds(3600)) {
            worker("child1", board, trapsExits: true)
            worker("child2", board, trapsExits: true)
            worker("child3", board, trapsExits: true)
        })
        let before = try await sup.whichChildren().map(\.pid)
        board.clearEvents()
        node.send(.exit(.error(Boom())), to: try #require(board.address("child2")))
        let after = await sup.children { $0.allSatisfy { $0.pid != nil } && Set($0.map(\.pid)).isDisjoint(with: Set(before)) }
        #expect(after.map(\.restarts) == [0, 1, 0])
        // child2 crashed (its terminate ran); the others were stopped newest first, then all start in order.
        #expect(board.events == ["stop child2", "stop child3", "stop child1", "start child1", "start child2", "start child3"])
        #expect(board.terminations("child1") == [.shutdown])
        try await node.shutdown()
    }

    @Test func oneForAllRetriesAChildThatFailsToRestart() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", strategy: .oneForAll, intensity: 3, period: .seconds(3600)) {
            worker("child1", board)
            worker("child2", board)
        })
        board.failNextStarts("child2", 1)
        node.send(.exit(.error(Boom())), to: try #require(board.address("child1")))
        let after = await sup.children { $0.allSatisfy { $0.status == .running } && board.starts("child2") == 2 }
        #expect(after.map(\.status) == [.running, .running])
        #expect(board.starts("child1") == 3)
        #expect(await node.isAlive(sup.address))
        try await node.shutdown()
    }

    @Test func restForOneRestartsTheChildAndThoseAfterIt() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", strategy: .restForOne, intensity: 2, period: .seconds(3600)) {
            worker("child1", board)
            worker("child2", board)
            worker("child3", board, trapsExits: true)
        })
        let before = try await sup.whichChildren().map(\.pid)
        node.send(.exit(.error(Boom())), to: try #require(board.address("child2")))
        let after = await sup.children { $0.allSatisfy { $0.pid != nil } && $0[1].pid != before[1] && $0[2].pid != before[2] }
        #expect(after[0].pid == before[0])
        #expect(board.starts("child1") == 1 && board.starts("child2") == 2 && board.starts("child3") == 2)
        #expect(board.terminations("child3") == [.shutdown])
        try await node.shutdown()
    }

    @Test func simpleOneForOneStartsRestartsAndStopsDynamicChildren() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("pool", strategy: .simpleOneForOne, intensity: 2, period: .seconds(3600)) {
            ChildSpec.template("job", restart: .transient) { (id: String) in TestWorker(id: id, board: board, trapsExits: true) }
        })
        #expect(try await counts(sup) == [0, 0, 0, 0])
        let p1 = try #require(try await sup.startChild(with: "w1"))
        _ = try await sup.startChild(with: "w2")
        _ = try await sup.startChild(with: "w3")
        #expect(try await counts(sup) == [3, 3, 0, 3])
        await #expect(throws: SupervisorError.badArguments(expected: "String", got: "Int")) { try await sup.startChild(with: 7) }
        await #expect(throws: SupervisorError.self) { try await sup.startChild(worker("x", board)) }
        await #expect(throws: SupervisorError.self) { try await sup.terminateChild("job") }

        // A crash restarts that child alone, with its own arguments.
        node.send(.exit(.error(Boom())), to: try #require(board.address("w2")))
        #expect(await board.waitForStarts("w2", 2) && board.starts("w2") == 2)
        #expect(board.starts("w1") == 1 && board.starts("w3") == 1)
        // A normal exit of a transient child removes it.
        node.send(.exit(.normal), to: try #require(board.address("w3")))
        _ = await sup.children { $0.count == 2 }
        #expect(try await counts(sup) == [2, 2, 0, 2])

        try await sup.terminateChild(pid: p1)
        #expect(board.terminations("w1") == [.shutdown])
        // OTP: a pid that is gone is ok; a live process that is not a child is not found.
        try await sup.terminateChild(pid: p1)
        await #expect(throws: SupervisorError.notFound(sup.pid.description)) { try await sup.terminateChild(pid: sup.pid) }
        #expect(try await counts(sup) == [1, 1, 0, 1])
        try await sup.stop()
        #expect(board.terminations("w2").last == .shutdown)
        try await node.shutdown()
    }

    // MARK: Misc (count_children, tree, temporary children, multiple_restarts)

    @Test func countChildrenOfATree() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("root") {
            worker("w1", board)
            SupervisorSpec("inner") {
                worker("w2", board)
                worker("w3", board)
            }
            worker("w4", board, ignore: true)
        })
        #expect(try await counts(sup) == [3, 2, 1, 2])
        let inner = try #require(try await sup.whichChildren().first { $0.kind == .supervisor })
        #expect(inner.id == "inner" && inner.behavior == "Supervisor")
        try await node.shutdown()
    }

    @Test func aChildSupervisorThatGivesUpIsRestartedByItsParent() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let root = try await node.startSupervisor(SupervisorSpec("root", intensity: 5, period: .seconds(3600)) {
            worker("bystander", board)
            SupervisorSpec("inner", intensity: 0, period: .seconds(3600)) {
                worker("leaf", board)
            }
        })
        let innerBefore = try #require(try await root.pid(of: "inner"))
        node.send(.exit(.error(Boom())), to: try #require(board.address("leaf")))
        let after = await root.children { $0[1].pid != nil && $0[1].pid != innerBefore }
        #expect(after[1].restarts == 1)
        #expect(await board.waitForStarts("leaf", 2) && board.starts("leaf") == 2)
        #expect(board.starts("bystander") == 1)
        try await node.shutdown()
    }

    @Test func temporaryChildIsNotRestartedAndItsSpecIsDropped() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", strategy: .oneForAll, intensity: 2, period: .seconds(3600)) {
            worker("temp", board, restart: .temporary)
            worker("perm", board)
        })
        // Restarting the group stops the temporary child and does not start it again.
        node.send(.exit(.error(Boom())), to: try #require(board.address("perm")))
        let after = await sup.children { $0.count == 1 && $0[0].status == .running && board.starts("perm") == 2 }
        #expect(after.map(\.id) == ["perm"])
        #expect(board.starts("temp") == 1)
        try await node.shutdown()
    }

    @Test func restartsWithinTheIntensityAreAllowedAndOneMoreIsNot() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", intensity: 3, period: .seconds(3600)) {
            worker("child1", board)
        })
        let supDown = try await watchDown(node, sup.address)
        for round in 1...3 {
            node.send(.exit(.error(Boom())), to: try #require(board.address("child1")))
            #expect(await board.waitForStarts("child1", round + 1) && board.starts("child1") == round + 1)
        }
        #expect(await node.isAlive(sup.address))
        node.send(.exit(.error(Boom())), to: try #require(board.address("child1")))
        #expect(await downReason(supDown) == .shutdown)
        try await node.shutdown()
    }

    @Test func restartsOutsideThePeriodDoNotCount() async throws {
        let clock = ManualClock()
        let node = try Node(schedulers: 1, clock: clock)
        let board = Board()
        let sup = try await node.startSupervisor(SupervisorSpec("sup", intensity: 1, period: .milliseconds(50)) {
            worker("child1", board)
        })
        for round in 1...4 {
            // Each crash comes 70 ms of the node's time after the one before: outside the 50 ms window.
            await clock.advance(by: .milliseconds(70))
            node.send(.exit(.error(Boom())), to: try #require(board.address("child1")))
            #expect(await board.waitForStarts("child1", round + 1) && board.starts("child1") == round + 1)
        }
        #expect(await node.isAlive(sup.address))
        // A second restart within the window is one too many for intensity 1.
        let supDown = try await watchDown(node, sup.address)
        node.send(.exit(.error(Boom())), to: try #require(board.address("child1")))
        #expect(await downReason(supDown) == .shutdown)
        try await node.shutdown()
    }

    // MARK: Beyond OTP

    @Test func backoffDelaysRestartsOfACrashLoop() async throws {
        let clock = ManualClock()
        let node = try Node(schedulers: 1, clock: clock)
        let board = Board()
        let backoff = Backoff(initial: .seconds(4), maximum: .seconds(5), resetAfter: .seconds(60))
        let sup = try await node.startSupervisor(SupervisorSpec("sup", intensity: 10, period: .seconds(3600)) {
            worker("flaky", board, backoff: backoff)
        })
        #expect(backoff.delay(attempt: 1) == .seconds(4))
        #expect(backoff.delay(attempt: 2) == .seconds(5))
        #expect(Backoff(initial: .milliseconds(10), maximum: .seconds(1)).delay(attempt: 3) == .milliseconds(40))
        for round in 1...2 {
            let child = try #require(board.address("flaky"))
            let down = try await watchDown(node, child)
            node.send(.exit(.error(Boom())), to: child)
            // The child is gone, so its EXIT is in the supervisor's mailbox
            // before this request: the answer comes after the supervisor took it.
            #expect(await downReason(down) == .error(Boom()))
            let waiting = try await sup.whichChildren()
            #expect(waiting[0].status == .restarting && waiting[0].pid == nil, "\(waiting)")
            // Not a moment before its backoff: the node's time stops just short of it ...
            await clock.advance(by: backoff.delay(attempt: round) - .milliseconds(1))
            #expect(try await sup.whichChildren()[0].status == .restarting)
            #expect(board.starts("flaky") == round)
            // ... and the restart comes when it is reached.
            await clock.advance(by: .milliseconds(1))
            #expect(await board.waitForStarts("flaky", round + 1) && board.starts("flaky") == round + 1)
        }
        await #expect(throws: SupervisorError.running("flaky")) { try await sup.deleteChild("flaky") }
        try await node.shutdown()
    }

    @Test func theRootGivingUpIsReportedToTheNode() async throws {
        let node = try Node(schedulers: 1)
        let board = Board()
        _ = try await node.startSupervisor(SupervisorSpec("root", intensity: 0, period: .seconds(1)) {
            worker("child1", board)
        })
        node.send(.exit(.error(Boom())), to: try #require(board.address("child1")))
        let exit = await node.rootExit()
        #expect(exit.id == "root" && exit.reason == .shutdown)
        try await node.shutdown()
    }

    @Test func nodeShutdownStopsRootsInReverseStartOrder() async throws {
        let node = try Node(schedulers: 2)
        let board = Board()
        _ = try await node.startSupervisor(SupervisorSpec("first") { worker("a", board, trapsExits: true); worker("b", board, trapsExits: true) })
        _ = try await node.startSupervisor(SupervisorSpec("second") { worker("c", board, trapsExits: true) })
        try await node.shutdown()
        #expect(board.events == ["start a", "start b", "start c", "stop c", "stop b", "stop a"])
    }

    @Test func builderTakesConditionsAndLoops() {
        let board = Board()
        let extra = true
        let spec = SupervisorSpec("root") {
            worker("a", board)
            if extra { worker("b", board) }
            for index in 0..<2 { worker("n\(index)", board) }
            SupervisorSpec("inner", strategy: .oneForAll) { worker("c", board) }
        }
        #expect(spec.children.map(\.id) == ["a", "b", "n0", "n1", "inner"])
        #expect(spec.children.last?.kind == .supervisor && spec.children.last?.shutdown == .infinity)
    }
}
