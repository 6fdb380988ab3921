import Calf
import Synchronization
import Testing

// Processes that move between schedulers between their turns keep their
// mail order, timers, links, monitors, pending replies and trace; spawn
// placement spreads a pool. Moves are asked for with `Node.move` (what the
// balancer does on its own), on nodes with three schedulers so that a
// third one, neither source nor destination, takes part in every move.

/// Counts mail from numbered senders and notes any that comes out of order.
private struct SequenceChecker: Behavior {
    enum Message: Sendable {
        case item(sender: Int, seq: Int)
        case report
    }

    struct State: Sendable {
        var next: [Int: Int] = [:]
        var outOfOrder = 0
        var received = 0
        var schedulersSeen: Set<Int> = []
    }

    struct Report: Sendable {
        var outOfOrder: Int
        var received: Int
        var next: [Int: Int]
        var schedulersSeen: Set<Int>
    }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout Context<Message>) throws {
        switch message {
        case .item(let sender, let seq):
            if seq != state.next[sender, default: 0] { state.outOfOrder += 1 }
            state.next[sender] = seq + 1
            state.received += 1
            state.schedulersSeen.insert(context.schedulerIndex)
        case .report:
            context.reply(Report(outOfOrder: state.outOfOrder, received: state.received, next: state.next, schedulersSeen: state.schedulersSeen))
        }
    }
}

/// Sends numbered items to a checker, `burst` every millisecond, until `stop` is
/// set; then tells `done` how many it sent.
private struct Blaster: Behavior {
    enum Message: Sendable { case go(from: Int) }
    let id: Int
    let burst: Int
    let stop: Flag
    let target: Address<SequenceChecker.Message>
    let done: Address<[Int]>

    func handle(_ message: Message, state: inout Void, context: inout Context<Message>) throws {
        guard case .go(let from) = message else { return }
        guard !stop.isSet else {
            context.send([id, from], to: done)
            return
        }
        for seq in from..<(from + burst) { context.send(.item(sender: id, seq: seq), to: target) }
        // Paced, so that the checker keeps up (a flood beyond what it can
        // take would only measure the backlog).
        context.sendAfter(.go(from: from + burst), to: context.address, after: .milliseconds(1))
    }
}

/// A flag a test sets for processes to read.
private final class Flag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct MigrationTests {
    @Test func aProcessThatKeepsMovingGetsEveryMessageOfEachSenderInOrder() async throws {
        let node = try Node(schedulers: 3, balancing: .off)
        let checker = try await node.spawn(SequenceChecker(), placement: .scheduler(0))
        let (done, finished) = try await node.receiver(of: [Int].self)
        let stop = Flag()
        // A sender pinned to each scheduler, and one outside every scheduler (a task).
        for id in 0..<3 {
            let blaster = try await node.spawn(Blaster(id: id, burst: 20, stop: stop, target: checker, done: done), on: id)
            node.send(.go(from: 0), to: blaster)
        }
        let outside = Task { () -> Int in
            var seq = 0
            while !stop.isSet {
                node.send(.item(sender: 99, seq: seq), to: checker)
                seq += 1
                if seq % 20 == 0 { try? await Task.sleep(for: .milliseconds(1)) }
            }
            return seq
        }
        // Moves while the mail flows: 40 of them, or as many as fit in 90 s (a loaded machine is slow to move).
        var moves = 0
        var index = 0
        let deadline = ContinuousClock.now + .seconds(90)
        while moves < 40, ContinuousClock.now < deadline {
            index = (index + 1) % 3
            if try await node.move(checker, to: index) { moves += 1 }
            try await Task.sleep(for: .milliseconds(1))
        }
        stop.set()
        var sent: [Int: Int] = [99: await outside.value]
        for _ in 0..<3 {
            let pair = try #require(await next(finished, within: 30))
            sent[pair[0]] = pair[1]
        }
        #expect(await node.settled())
        let report: SequenceChecker.Report = try await node.call(checker, .report)
        #expect(moves >= 40, "moves begun while the mail flowed: \(moves)")
        #expect(report.outOfOrder == 0)
        #expect(report.next == sent)
        #expect(report.received == sent.values.reduce(0, +))
        #expect(report.schedulersSeen.count == 3, "it handled mail on schedulers \(report.schedulersSeen.sorted())")
        try await node.shutdown()
    }

    @Test func timersFollowAMovedProcessAndStillCancel() async throws {
        let node = try Node(schedulers: 3, balancing: .off)
        let (process, _) = try await puppet(node)
        try #require(try await node.move(process, to: 0) || process.schedulerIndex == 0)
        #expect(await node.settled())
        let (fired, firings) = try await node.receiver(of: String.self)
        let timers = Mutex<[TimerRef]>([])
        // Two timers set on scheduler 0: one to fire, one to cancel after the move
        // (long enough that the move and the cancel come first on a busy machine: 1.5 s was not, under the full suite).
        node.send(Step { context in
            let me = context.address
            let kept = context.sendAfter(Step { context in context.send("kept on \(context.schedulerIndex)", to: fired) }, to: me, after: .milliseconds(4000))
            let cancelled = context.sendAfter(Step { context in context.send("cancelled fired", to: fired) }, to: me, after: .milliseconds(4000))
            timers.withLock { $0 = [kept, cancelled] }
        }, to: process)
        #expect(await node.settled())
        #expect(try await node.move(process, to: 2))
        #expect(await node.settled())
        #expect(process.schedulerIndex == 2)
        let (answer, answers) = try await node.receiver(of: Bool.self)
        node.send(Step { context in
            let cancelled = timers.withLock { $0[1] }
            context.send(context.cancelTimer(cancelled), to: answer)
        }, to: process)
        #expect(await next(answers) == true, "the timer set before the move is still pending, and cancels, after it")
        #expect(await next(firings, within: 10) == "kept on 2")
        #expect(await next(firings, within: 0.5) == nil)
        try await node.shutdown()
    }

    @Test func linksAndMonitorsHoldAcrossMovesOfBothEnds() async throws {
        let node = try Node(schedulers: 3, balancing: .off)
        let (watcher, watcherEvents) = try await puppet(node, trapExit: true)
        let (victim, _) = try await puppet(node)
        let (ack, acks) = try await node.receiver(of: Bool.self)
        node.send(Step { context in
            context.link(victim)
            context.monitor(victim)
            context.send(true, to: ack)
        }, to: watcher)
        _ = await next(acks)
        #expect(await node.settled())
        // Both ends move, more than once, before the victim crashes.
        for index in [1, 2, 0, 1] {
            _ = try await node.move(victim, to: index)
            _ = try await node.move(watcher, to: (index + 1) % 3)
            #expect(await node.settled())
        }
        #expect(victim.schedulerIndex == 1 && watcher.schedulerIndex == 2)
        node.send(Step { _ in throw Boom() }, to: victim)
        var signals: [Signal] = []
        for _ in 0..<2 {
            if case .signal(let signal)? = await next(watcherEvents) { signals.append(signal) }
        }
        #expect(signals.contains { if case .exit(let from, .error) = $0 { from == victim.pid } else { false } })
        #expect(signals.contains { if case .down(_, let pid, .error) = $0 { pid == victim.pid } else { false } })
        try await node.shutdown()
    }

    @Test func aCallPendingAcrossAMoveGetsItsReplyOnTheNewScheduler() async throws {
        let node = try Node(schedulers: 3, balancing: .off)
        let callee = try await node.spawn(Puppet(), placement: .scheduler(1))
        let (caller, _) = try await puppet(node)
        _ = try await node.move(caller, to: 0)
        #expect(await node.settled())
        let held = Mutex<PendingReply?>(nil)
        let (replies, replied) = try await node.receiver(of: String.self)
        // The callee holds the reply back; the caller moves while it waits.
        let answer = Step { context in
            held.withLock { $0 = context.takePendingReply() }
        }
        node.send(Step { context in
            context.call(callee, answer, timeout: .seconds(10)) { (result: Result<Int, CallError>) in
                Step { context in context.send("\(result) on \(context.schedulerIndex)", to: replies) }
            }
        }, to: caller)
        #expect(await eventually { held.withLock { $0 != nil } })
        #expect(try await node.move(caller, to: 2))
        #expect(await node.settled())
        held.withLock {
            $0?.reply(42)
            $0 = nil
        }
        #expect(await next(replied) == "success(42) on 2")
        // And a call from outside, answered after the callee itself moved.
        let outside = Task { () -> Int in try await node.call(callee, answer, timeout: .seconds(10)) }
        #expect(await eventually { held.withLock { $0 != nil } })
        #expect(try await node.move(callee, to: 0))
        #expect(await node.settled())
        held.withLock { $0?.reply(7) }
        #expect(try await outside.value == 7)
        try await node.shutdown()
    }

    @Test func aTraceKeepsRecordingAfterTheProcessMoves() async throws {
        let node = try Node(schedulers: 3, balancing: .off)
        let (process, _) = try await puppet(node)
        let trace = try await node.trace(process.pid.description, limit: nil) {}
        #expect(await answers(node, process))
        let before = process.schedulerIndex
        let target = (before + 1) % 3
        #expect(try await node.move(process, to: target))
        #expect(await node.settled())
        #expect(process.schedulerIndex == target)
        #expect(await answers(node, process))
        let events = trace.take().events.filter { $0.direction == "in" }
        #expect(events.count == 2, "one call traced before the move and one after: \(events)")
        try await node.shutdown()
    }

    @Test func aPinnedProcessDoesNotMoveAndAMovedOneCanBePinnedByPlacement() async throws {
        let node = try Node(schedulers: 2)
        let pinned = try await node.spawn(Puppet(), on: 1)
        #expect(try await node.move(pinned, to: 0) == false)
        let free = try await node.spawn(Puppet(), placement: .scheduler(1))
        #expect(try await node.move(free, to: 0))
        #expect(await node.settled())
        #expect(pinned.schedulerIndex == 1 && free.schedulerIndex == 0)
        await #expect(throws: SpawnError.self) { _ = try await node.move(free, to: 2) }
        // Spawned from a process with a placement: goes there at the end of the spawner's turn.
        let (placed, placedOne) = try await node.receiver(of: Address<Step>.self)
        node.send(Step { context in
            let child = try context.spawn(Puppet(), placement: .pinned(1))
            context.send(child, to: placed)
        }, to: free)
        let child = try #require(await next(placedOne))
        #expect(await node.settled())
        #expect(child.schedulerIndex == 1)
        #expect(try await node.move(child, to: 0) == false)
        try await node.shutdown()
    }

    @Test func aPoolOfAThousandChildrenIsSpreadAcrossTheSchedulers() async throws {
        let node = try Node(schedulers: 3, balancing: .off)
        let pool = try await node.startSupervisor(SupervisorSpec("pool", strategy: .simpleOneForOne) {
            ChildSpec.template("worker") { (_: Int) in Puppet() }
        })
        var pids: [Pid] = []
        for index in 0..<1_000 {
            if let pid = try await pool.startChild(with: index) { pids.append(pid) }
        }
        #expect(pids.count == 1_000)
        #expect(await node.settled())
        var perScheduler = [0, 0, 0]
        for pid in pids {
            let address = try #require(await node.address(of: pid, as: Step.self))
            perScheduler[address.schedulerIndex] += 1
        }
        #expect(perScheduler.allSatisfy { $0 >= 300 }, "children per scheduler: \(perScheduler)")
        // The same pool placed locally stays on its supervisor's scheduler.
        let local = try await node.startSupervisor(SupervisorSpec("local", strategy: .simpleOneForOne) {
            ChildSpec.template("worker") { (_: Int) in Puppet() }.placed(.local)
        })
        var localSchedulers: Set<Int> = []
        for index in 0..<100 {
            let pid = try #require(try await local.startChild(with: index))
            localSchedulers.insert(try #require(await node.address(of: pid, as: Step.self)).schedulerIndex)
        }
        #expect(localSchedulers.count == 1)
        try await node.shutdown()
    }
}
