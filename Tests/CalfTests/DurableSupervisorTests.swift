import Calf
import CalfStore
import Testing

/// A durable counter that crashes on demand.
struct Tick: DurableBehavior {
    var start = 0

    enum Message: Codable, Sendable {
        case add(Int)
        case get
        case crash
    }

    struct State: Codable { var total = 0 }

    func initialState() -> State { State(total: start) }

    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .add(let n): state.total += n
        case .get: context.reply(state.total)
        case .crash: throw Boom(tag: "crash")
        }
    }
}

/// A transient dynamic child that answers with the argument it started with.
struct Echo: Behavior {
    typealias State = Void
    enum Message: Sendable { case get }
    let value: Int

    func handle(_ message: Message, state: inout Void, context: inout Context<Message>) throws {
        context.reply(value)
    }
}

/// One failure per message dead-letters it at once: each `.crash` is one restart.
private func options(_ dir: String, snapshotEvery: Int = 1000) -> DurableOptions {
    DurableOptions(path: dir, durability: .process, behaviors: [Tick.self], snapshotEvery: snapshotEvery,
                   checkpointInterval: .seconds(3600), maximumFailures: 1, mapSize: 1 << 22)
}

private func tally(_ node: Node, _ pid: Pid?) async throws -> Address<Tick.Message> {
    let pid = try #require(pid)
    return try #require(await node.address(of: pid, as: Tick.Message.self))
}

private func child(_ node: Node, _ supervisor: SupervisorRef, _ id: String) async throws -> SupervisorRef {
    let pid = try #require(try await supervisor.pid(of: id))
    return SupervisorRef(try #require(await node.address(of: pid, as: SupervisorMessage.self)))
}

private func total(_ node: Node, _ address: Address<Tick.Message>) async throws -> Int {
    try await node.call(address, .get)
}

/// Durable children under supervisors, and durable supervisors across node restarts.
@Suite(.serialized, .timeLimit(.minutes(2))) struct DurableSupervisorTests {
    @Test func aPassivatedChildStaysOutOfRAMWhenItsSupervisorLinksAtANodeStartAndComesBackLinked() async throws {
        try await withDataDirectory { dir in
            var passivating = options(dir)
            passivating.passivateAfter = .seconds(3600)
            let tree = { SupervisorSpec("root", intensity: 5, period: .seconds(60)) {
                ChildSpec.durable("tally", Tick())
                ChildSpec.durable("busy", Tick())
            } }
            let pid: Pid
            do {
                let node = try Node(schedulers: 2, durable: passivating)
                let root = try await node.startSupervisor(tree())
                pid = try #require(try await root.pid(of: "tally"))
                let address = try await tally(node, pid)
                node.send(.add(5), to: address)
                #expect(try await total(node, address) == 5)
                #expect(try await node.passivate(pid.description) == .passivated)
                try await node.shutdown()
            }
            let node = try Node(schedulers: 2, durable: passivating)
            #expect(node.recoveryReport?.passivated == 1)
            let root = try await node.startSupervisor(tree())
            #expect(try await root.pid(of: "tally") == pid)
            // The supervisor linked to it without bringing it back.
            #expect(node.passivatedCount == 1)
            #expect(!(await node.livePids()).contains(pid), "its supervisor's link brought it back")
            #expect(try await root.report().children.map(\.status) == ["passivated", "running"])
            // Its next mail does, and the link is with the cell it came back in.
            let named = try #require(node.address(named: "tally", as: Tick.Message.self))
            node.send(.add(2), to: named)
            #expect(try await total(node, named) == 7)
            #expect(node.passivatedCount == 0)
            let report = try #require(await node.processReport(pid.description))
            #expect(report.links == [root.pid.description], "links: \(report.links)")
            #expect(try await root.report().children.map(\.status) == ["running", "running"])
            // Its supervisor's stop detaches it, as any durable child: it is not stopped for good.
            try await node.shutdown()
            let again = try Node(schedulers: 2, durable: passivating)
            let rootAgain = try await again.startSupervisor(tree())
            #expect(try await rootAgain.pid(of: "tally") == pid)
            let back = try #require(again.address(named: "tally", as: Tick.Message.self))
            #expect(try await total(again, back) == 7, "the supervisor's stop ended it")
            // Still its supervisor's child: a crash is a restart it counts.
            again.send(.crash, to: back)
            let children = await rootAgain.children { $0.first { $0.id == "tally" }?.restarts == 1 }
            #expect(children.first { $0.id == "tally" }?.restarts == 1)
            #expect(try await total(again, back) == 7)
            try await again.shutdown()
        }
    }

    @Test func aDurableChildsCrashIsARestartItsSupervisorCountsAndAppliesToSiblings() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 2, durable: options(dir))
            let board = Board()
            let root = try await node.startSupervisor(SupervisorSpec("root", strategy: .oneForAll, intensity: 5, period: .seconds(60)) {
                ChildSpec.durable("tally", Tick())
                worker("sibling", board)
            })
            let address = try await tally(node, try await root.pid(of: "tally"))
            node.send(.add(5), to: address)
            node.send(.crash, to: address)
            node.send(.add(1), to: address)
            #expect(try await total(node, address) == 6) // replayed: the state before the crash is kept
            let children = await root.children { $0.first { $0.id == "tally" }?.restarts == 1 && $0.allSatisfy { $0.status == .running } }
            #expect(children.first { $0.id == "tally" }?.pid == address.pid) // restarted in place
            #expect(children.first { $0.id == "tally" }?.lastExit?.contains("crash") == true)
            #expect(await board.waitForStarts("sibling", 2) && board.starts("sibling") == 2) // oneForAll: the sibling was restarted
            try await node.shutdown()
        }
    }

    @Test func freshModeRestartsADurableChildFromItsInitialState() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 1, durable: options(dir))
            let root = try await node.startSupervisor(SupervisorSpec("root", intensity: 5) {
                ChildSpec.durable("fresh", Tick(start: 100), mode: .fresh)
                ChildSpec.durable("replayed", Tick(start: 100))
            })
            let fresh = try await tally(node, try await root.pid(of: "fresh"))
            let replayed = try await tally(node, try await root.pid(of: "replayed"))
            for address in [fresh, replayed] {
                node.send(.add(7), to: address)
                node.send(.crash, to: address)
                node.send(.add(1), to: address)
            }
            #expect(try await total(node, fresh) == 101)
            #expect(try await total(node, replayed) == 108)
            try await node.shutdown()
            // The fresh start is what the journal brings back too.
            let again = try Node(schedulers: 1, durable: options(dir))
            let address = try #require(again.address(named: "fresh", as: Tick.Message.self))
            #expect(try await total(again, address) == 101)
            try await again.shutdown()
        }
    }

    @Test func aDurableChildInACrashLoopMakesItsSupervisorGiveUp() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 1, durable: options(dir))
            let root = try await node.startSupervisor(SupervisorSpec("root", intensity: 2, period: .seconds(60)) {
                ChildSpec.durable("looping", Tick())
            })
            let address = try await tally(node, try await root.pid(of: "looping"))
            for _ in 0..<3 { node.send(.crash, to: address) }
            let exit = await node.rootExit()
            #expect(exit.id == "root")
            #expect(exit.reason == .shutdown)
            try await node.shutdown()
        }
    }

    @Test func aDurableTreeComesBackTheSameAfterANodeRestart() async throws {
        try await withDataDirectory { dir in
            let board = Board()
            let tree = SupervisorSpec("root", intensity: 3, period: .seconds(600), durable: true) {
                ChildSpec.durable("main", Tick())
                worker("kept", board)
                worker("stopped", board)
                SupervisorSpec("pool", strategy: .simpleOneForOne, durable: true) {
                    ChildSpec.durableTemplate("account", Tick.self)
                }
                SupervisorSpec("jobs", strategy: .simpleOneForOne, durable: true) {
                    ChildSpec.template("job") { (value: Int) in Echo(value: value) }
                }
            }

            // First run: dynamic children, restarts, a terminated child.
            var node = try Node(schedulers: 2, durable: options(dir))
            var root = try await node.startSupervisor(tree)
            let main = try await tally(node, try await root.pid(of: "main"))
            node.send(.crash, to: main)
            node.send(.crash, to: main)
            let crashed = await root.children { $0.first { $0.id == "main" }?.restarts == 2 }
            #expect(crashed.first { $0.id == "main" }?.restarts == 2, "\(crashed)")
            try await root.terminateChild("stopped")
            let pool = try await child(node, root, "pool")
            var accounts: [Pid] = []
            for opening in [10, 20, 30] {
                let pid = try #require(try await pool.startChild(with: Tick(start: opening)))
                accounts.append(pid)
                node.send(.add(1), to: try await tally(node, pid))
            }
            try await pool.terminateChild(pid: accounts[1])
            let jobs = try await child(node, root, "jobs")
            let firstJob = try #require(try await jobs.startChild(with: 7))
            _ = try await jobs.startChild(with: 8)
            try await jobs.terminateChild(pid: firstJob)
            for pid in [accounts[0], accounts[2]] { _ = try await total(node, try await tally(node, pid)) }
            let before = try await root.whichChildren()
            let poolBefore = try await pool.whichChildren()
            try await node.shutdown()

            // Second run on the same data directory, the same tree.
            node = try Node(schedulers: 2, durable: options(dir))
            root = try await node.startSupervisor(tree)
            let after = try await root.whichChildren()
            #expect(after.map(\.id) == before.map(\.id))
            #expect(after.map(\.restarts) == before.map(\.restarts))
            #expect(after.map(\.status) == before.map(\.status))
            #expect(after.first { $0.id == "stopped" }?.status == .stopped)
            #expect(after.first { $0.id == "main" }?.pid == before.first { $0.id == "main" }?.pid)
            #expect(after.first { $0.id == "main" }?.lastExit?.contains("crash") == true)

            let poolAgain = try await child(node, root, "pool")
            let poolAfter = try await poolAgain.whichChildren()
            #expect(poolAfter.map(\.pid) == poolBefore.map(\.pid)) // the same durable processes, adopted again
            #expect(poolAfter.map(\.pid) == [accounts[0], accounts[2]])
            #expect(try await total(node, try await tally(node, accounts[0])) == 11)
            #expect(try await total(node, try await tally(node, accounts[2])) == 31)
            // A new dynamic child does not reuse a number (its registered name is new).
            let fourth = try #require(try await poolAgain.startChild(with: Tick(start: 40)))
            #expect(!accounts.contains(fourth))

            let jobsAgain = try await child(node, root, "jobs")
            let jobPids = try await jobsAgain.whichChildren().compactMap(\.pid)
            #expect(jobPids.count == 1)
            let jobPid = try #require(jobPids.first)
            let job = try #require(await node.address(of: jobPid, as: Echo.Message.self))
            let value: Int = try await node.call(job, .get)
            #expect(value == 8)

            // The crash loop's history came back: two restarts of three are used.
            let mainAgain = try await tally(node, try await root.pid(of: "main"))
            node.send(.crash, to: mainAgain)
            _ = await root.children { $0.first { $0.id == "main" }?.restarts == 3 }
            node.send(.crash, to: mainAgain)
            let exit = await node.rootExit()
            #expect(exit.id == "root")
            try await node.shutdown()
        }
    }

    @Test func anExitSignalShutdownEndsADurableProcessForGoodWithItsExitJournaled() async throws {
        try await withDataDirectory { dir in
            do {
                // A snapshot after every message: without its exit journaled it would come back from one.
                let node = try Node(schedulers: 2, durable: options(dir, snapshotEvery: 1))
                let linked = try await node.spawnDurable(Tick(), name: "linked")
                let (partner, _) = try await puppet(node)
                node.send(Step { context in context.link(linked) }, to: partner)
                node.send(.add(3), to: linked)
                #expect(try await total(node, linked) == 3)
                // The partner ends with `shutdown`: the durable process follows it, for good.
                node.send(Step { context in context.stop(.shutdown) }, to: partner)
                #expect(await node.settled())
                #expect(node.whereis("linked") == nil)
                try await node.shutdown()
            }
            // Its exit is in the journal: it does not come back half-way from an old snapshot.
            let node = try Node(schedulers: 2, durable: options(dir))
            #expect(node.address(named: "linked", as: Tick.Message.self) == nil)
            #expect(node.recoveryReport?.quarantined.isEmpty == true)
            try await node.shutdown()
        }
    }

    @Test func aDurableSupervisorNeedsADataDirectoryAndCodableTemplateArguments() async throws {
        let node = try Node(schedulers: 1)
        func startFailure(_ spec: SupervisorSpec) async -> String? {
            do {
                _ = try await node.startSupervisor(spec)
                return nil
            } catch let SpawnError.startFailed(_, _, reason) {
                return "\(reason)"
            } catch {
                return "another error: \(error)"
            }
        }
        let withoutDirectory = await startFailure(SupervisorSpec("root", durable: true) { ChildSpec.worker("w") { Echo(value: 1) } })
        #expect(withoutDirectory?.contains("a durable supervisor needs a node with a data directory") == true, "\(withoutDirectory ?? "started")")
        let plain = SupervisorSpec("pool", strategy: .simpleOneForOne, durable: true) {
            ChildSpec.template("echo") { (board: Board) in Echo(value: board.starts("x")) }
        }
        let withoutCoding = await startFailure(plain)
        #expect(withoutCoding?.contains("its template needs Codable arguments") == true, "\(withoutCoding ?? "started")")
        try await node.shutdown()
    }
}
