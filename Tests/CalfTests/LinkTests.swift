import Calf
import Testing

@Suite(.timeLimit(.minutes(2))) struct LinkTests {
    /// Spawns `b` linked from inside `a` and returns it.
    func spawnLinked(_ node: Node, from a: Address<Step>, trapExit: Bool = false,
                     events: AsyncStream<Puppet.Event>.Continuation? = nil) async throws -> Address<Step> {
        let (out, addresses) = try await node.receiver(of: Address<Step>.self)
        node.send(Step { context in
            let child = try context.spawn(Puppet(trapExit: trapExit, events: events), link: true)
            context.send(child, to: out)
        }, to: a)
        return try #require(await next(addresses))
    }

    @Test(arguments: [0, 1])
    func abnormalExitTakesLinkedProcessDown(childScheduler: Int) async throws {
        let node = try Node(schedulers: 2)
        let (parent, _) = try await puppet(node, on: 0)
        let (child, _) = try await puppet(node, on: childScheduler)
        let parentDown = try await watchDown(node, parent)
        let (ack, acks) = try await node.receiver(of: Bool.self)
        node.send(Step { context in context.link(child); context.send(true, to: ack) }, to: parent)
        _ = await next(acks)
        node.send(Step { _ in throw Boom() }, to: child)
        guard case .signal(.down(_, let pid, let reason)) = try #require(await next(parentDown)) else {
            Issue.record("no down signal"); return
        }
        #expect(pid == parent.pid)
        #expect(reason == .error(Boom()))
        try await node.shutdown()
    }

    @Test func normalExitDoesNotTakeLinkedProcessDown() async throws {
        let node = try Node(schedulers: 1)
        let (parent, _) = try await puppet(node)
        let child = try await spawnLinked(node, from: parent)
        node.send(Step { context in context.stop(.normal) }, to: child)
        #expect(await exits(node, child))
        // One scheduler: its exit signal reached the parent before this call does.
        #expect(await answers(node, parent))
        try await node.shutdown()
    }

    @Test func trappingProcessGetsExitMessageAndSurvives() async throws {
        let node = try Node(schedulers: 2)
        let (events, continuation) = AsyncStream<Puppet.Event>.makeStream()
        let parent = try await node.spawn(Puppet(trapExit: true, events: continuation), on: 0)
        let child = try await spawnLinked(node, from: parent)
        node.send(Step { _ in throw Boom(tag: "child") }, to: child)
        #expect(await next(events) == .signal(.exit(from: child.pid, reason: .error(Boom(tag: "child")))))
        #expect(await node.isAlive(parent))
        // A normal exit is also delivered to a trapping process.
        let second = try await spawnLinked(node, from: parent)
        node.send(Step { context in context.stop() }, to: second)
        #expect(await next(events) == .signal(.exit(from: second.pid, reason: .normal)))
        try await node.shutdown()
    }

    @Test func killCannotBeTrappedAndLinkedProcessesSeeKilled() async throws {
        let node = try Node(schedulers: 2)
        let (events, continuation) = AsyncStream<Puppet.Event>.makeStream()
        let watcher = try await node.spawn(Puppet(trapExit: true, events: continuation), on: 1)
        let (victimEvents, victimContinuation) = AsyncStream<Puppet.Event>.makeStream()
        let victim = try await node.spawn(Puppet(trapExit: true, events: victimContinuation), on: 0)
        let (ack, acks) = try await node.receiver(of: Bool.self)
        node.send(Step { context in context.link(victim); context.send(true, to: ack) }, to: watcher)
        _ = await next(acks)
        node.kill(victim)
        #expect(await next(events) == .signal(.exit(from: victim.pid, reason: .killed)))
        #expect(await !node.isAlive(victim))
        // Killed: no terminate callback ran in the victim (it would have run
        // before the exit went out, so before this marker).
        let marker = Puppet.Event.signal(.exit(from: Pid(serial: 0), reason: .normal))
        victimContinuation.yield(marker)
        #expect(await next(victimEvents) == marker)
        try await node.shutdown()
    }

    @Test func exitSignalWithoutLinkIsTrappableAndNormalIsIgnored() async throws {
        let node = try Node(schedulers: 1)
        let (sender, _) = try await puppet(node)
        let (plain, _) = try await puppet(node)
        let (trapper, trapperEvents) = try await puppet(node, trapExit: true)
        node.send(Step { context in
            context.exit(plain, reason: .normal)
            context.exit(trapper, reason: .shutdown)
        }, to: sender)
        #expect(await next(trapperEvents) == .signal(.exit(from: sender.pid, reason: .shutdown)))
        #expect(await node.isAlive(plain))
        node.send(Step { context in context.exit(plain, reason: .shutdown) }, to: sender)
        #expect(await exits(node, plain))
        try await node.shutdown()
    }

    @Test func linkingToADeadProcessGivesNoProcess() async throws {
        let node = try Node(schedulers: 2)
        let (dead, _) = try await puppet(node, on: 1)
        node.kill(dead)
        #expect(await exits(node, dead))
        let (events, continuation) = AsyncStream<Puppet.Event>.makeStream()
        let trapper = try await node.spawn(Puppet(trapExit: true, events: continuation), on: 0)
        node.send(Step { context in context.link(dead) }, to: trapper)
        #expect(await next(events) == .signal(.exit(from: dead.pid, reason: .noProcess)))
        try await node.shutdown()
    }

    @Test func unlinkStopsPropagation() async throws {
        let node = try Node(schedulers: 1)
        let (parent, _) = try await puppet(node)
        let child = try await spawnLinked(node, from: parent)
        node.send(Step { context in context.unlink(child) }, to: parent)
        node.send(Step { _ in throw Boom() }, to: child)
        #expect(await exits(node, child))
        #expect(await answers(node, parent))
        try await node.shutdown()
    }

    @Test func longLinkChainDiesWithoutRecursion() async throws {
        let node = try Node(schedulers: 1)
        let (head, _) = try await puppet(node)
        let (out, ends) = try await node.receiver(of: Address<Step>.self)
        let length = 100_000
        node.send(grow(length, report: out), to: head)
        let end = try #require(await next(ends, within: 60))
        #expect(await node.processCount() >= length + 1)
        node.send(Step { _ in throw Boom() }, to: end)
        // The whole chain, head included, goes down: 100,000 exits handled as a worklist.
        #expect(await exits(node, head, within: 60))
        let left = await node.processCount()
        // The receiver, and the watcher that saw the head go with its acknowledgement receiver.
        #expect(left == 3, "\(left)")
        try await node.shutdown()
    }
}

/// Grows a chain of linked processes `n` long; the last reports its address.
func grow(_ n: Int, report: Address<Address<Step>>) -> Step {
    Step { context in
        guard n > 0 else {
            context.send(context.address, to: report)
            return
        }
        let next = try context.spawn(Puppet(), link: true)
        context.send(grow(n - 1, report: report), to: next)
    }
}

@Suite(.timeLimit(.minutes(2))) struct MonitorTests {
    @Test func monitorGetsDownWithTheReason() async throws {
        let node = try Node(schedulers: 2)
        let (target, _) = try await puppet(node, on: 1)
        let events = try await watchDown(node, target)
        node.send(Step { context in context.stop(.shutdown) }, to: target)
        guard case .signal(.down(_, let pid, let reason)) = try #require(await next(events)) else {
            Issue.record("no down"); return
        }
        #expect(pid == target.pid)
        #expect(reason == .shutdown)
        try await node.shutdown()
    }

    @Test func monitoringADeadProcessGivesNoProcessAtOnce() async throws {
        let node = try Node(schedulers: 1)
        let (target, _) = try await puppet(node)
        node.kill(target)
        #expect(await exits(node, target))
        let events = try await watchDown(node, target)
        guard case .signal(.down(_, _, let reason)) = try #require(await next(events)) else {
            Issue.record("no down"); return
        }
        #expect(reason == .noProcess)
        try await node.shutdown()
    }

    @Test func demonitorDropsTheDownSignal() async throws {
        let node = try Node(schedulers: 1)
        let (target, _) = try await puppet(node)
        let (watcher, events) = try await puppet(node)
        let (ack, acks) = try await node.receiver(of: Bool.self)
        node.send(Step { context in
            let ref = context.monitor(target)
            context.demonitor(ref)
            context.send(true, to: ack)
        }, to: watcher)
        _ = await next(acks)
        node.kill(target)
        #expect(await exits(node, target))
        // A down signal would be in the watcher's mailbox before this call.
        #expect(await answers(node, watcher))
        #expect(await buffered(events) == nil)
        try await node.shutdown()
    }

    @Test func messagesSentBeforeExitArriveBeforeTheDown() async throws {
        let node = try Node(schedulers: 2)
        let (watcher, events) = try await puppet(node, on: 0)
        let (sender, _) = try await puppet(node, on: 1)
        let (ack, acks) = try await node.receiver(of: Bool.self)
        node.send(Step { context in context.monitor(sender); context.send(true, to: ack) }, to: watcher)
        _ = await next(acks)
        let (order, orders) = try await node.receiver(of: String.self)
        node.send(Step { context in
            for i in 0..<100 {
                context.send(Step { inner in inner.send("m\(i)", to: order) }, to: watcher)
            }
            context.stop()
        }, to: sender)
        for i in 0..<100 { #expect(await next(orders) == "m\(i)") }
        guard case .signal(.down) = try #require(await next(events)) else { Issue.record("no down"); return }
        try await node.shutdown()
    }
}
