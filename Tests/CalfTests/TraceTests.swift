import Calf
import Foundation
import Synchronization
import Testing

/// A process that adds what it is passed and tells a sink.
private struct Adder: Behavior {
    enum Message: Sendable, Codable, Equatable {
        case pass(Int)
        case ask
        case quit
        case told(Int)
    }

    let sink: Address<Message>?

    func initialState() -> Int { 0 }

    func handle(_ message: Message, state: inout Int, context: inout Context<Message>) throws {
        switch message {
        case .pass(let n):
            state += n
            if let sink { context.send(.told(n), to: sink) }
        case .ask: context.reply(state)
        case .quit: context.stop()
        case .told(let n): state += n
        }
    }
}

/// Collects what a trace delivers until it ends.
private final class Follower: Sendable {
    let events = Mutex<[ProcessTrace.Event]>([])
    let dropped = Mutex(0)
    let ended = Mutex<String?>(nil)

    func drain(_ trace: ProcessTrace) {
        let batch = trace.take()
        events.withLock { $0 += batch.events }
        dropped.withLock { $0 += batch.dropped }
        if let reason = batch.ended { ended.withLock { $0 = reason } }
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct TraceTests {
    @Test func aTraceShowsWhatComesInAndGoesOutThenEndsAtItsLimit() async throws {
        let node = try Node(schedulers: 2)
        let sink = try await node.spawn(Adder(sink: nil))
        let relay = try await node.spawn(Adder(sink: sink))
        let follower = Follower()
        let woken = Atomic(0)
        let trace = try await node.trace(relay.pid.description, limit: 5) { woken.add(1, ordering: .relaxed) }

        node.send(.pass(3), to: relay)
        let total: Int = try await node.call(relay, .ask)
        #expect(total == 3)
        node.send(.pass(4), to: relay)
        #expect(await node.settled())
        follower.drain(trace)
        #expect(follower.ended.withLock { $0 } != nil)
        let events = follower.events.withLock { $0 }
        // in pass(3), out told(3) to the sink, in ask (a call), out its reply, in pass(4): the limit.
        #expect(events.map(\.direction) == ["in", "out", "in", "out", "in"])
        #expect(events.map(\.kind) == ["message", "message", "call", "reply", "message"])
        #expect(events[0].message == #"{"pass":{"_0":3}}"#)
        #expect(events[1].peer == sink.pid.description && events[1].message == #"{"told":{"_0":3}}"#)
        #expect(events[3].message == "3")
        #expect(follower.ended.withLock { $0 } == "limit of 5 reached")
        #expect(woken.load(ordering: .relaxed) >= 1)

        // After its limit the process is untraced: more mail is not recorded, and a new trace may start.
        node.send(.pass(5), to: relay)
        let after: Int = try await node.call(relay, .ask)
        #expect(after == 12)
        #expect(trace.take().events.isEmpty)
        let again = try await node.trace("\(relay.pid)", limit: nil) {}
        // Only one follower at a time.
        await #expect(throws: TraceError.self) { try await node.trace("\(relay.pid)", limit: nil) {} }
        again.cancel()
        _ = try await node.shutdown()
    }

    @Test func aTraceEndsWhenItsProcessExitsAndDropsWhatItsFollowerDoesNotTake() async throws {
        let node = try Node(schedulers: 1)
        let relay = try await node.spawn(Adder(sink: nil))
        let trace = try await node.trace(relay.pid.description, limit: nil) {}
        #expect(trace.capacity == 1_000)
        for n in 0..<1_050 { node.send(.pass(n), to: relay) }
        node.send(.quit, to: relay)
        #expect(await node.settled())
        #expect(trace.hasEnded)
        let batch = trace.take()
        #expect(batch.events.count == 1_000)
        #expect(batch.dropped == 51)
        #expect(batch.ended == "\(relay.pid) exited: normal")
        await #expect(throws: TraceError.self) { try await node.trace("nobody", limit: nil) {} }
        _ = try await node.shutdown()
    }

    @Test func aDurableProcessIsTracedToo() async throws {
        try await withDataDirectory { dir in
            let node = try Node(schedulers: 2, durable: durableOptions(dir))
            let ledger = try await node.spawnDurable(Ledger(), name: "traced")
            let other = try await node.spawnDurable(Ledger(), name: "other")
            let follower = Follower()
            let trace = try await node.trace("traced", limit: 3) {}
            node.send(.forward(7, to: "other"), to: ledger)
            _ = try await ledgerState(node, "traced")
            #expect(await node.settled())
        follower.drain(trace)
        #expect(follower.ended.withLock { $0 } != nil)
            let events = follower.events.withLock { $0 }
            #expect(events.map(\.direction) == ["in", "out", "in"])
            #expect(events[0].message == #"{"forward":{"_0":7,"to":"other"}}"#)
            #expect(events[1].peer == other.pid.description && events[1].message == #"{"add":{"_0":7}}"#)
            _ = try await node.shutdown()
        }
    }
}
