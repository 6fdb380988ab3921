import Calf
import Testing

/// A step a `Puppet` process runs: lets a test act from inside a process.
struct Step: Sendable {
    let body: @Sendable (inout Context<Step>) throws -> Void
    init(_ body: @escaping @Sendable (inout Context<Step>) throws -> Void) { self.body = body }
}

/// A process driven by the test: runs each `Step` it is sent, reports the
/// signals it gets (exit, down) and its termination to the test.
struct Puppet: Behavior {
    typealias Message = Step
    typealias State = Void
    var trapExit = false
    var events: AsyncStream<Event>.Continuation?

    enum Event: Sendable, Equatable {
        case signal(Signal)
        case terminated(ExitReason)
    }

    func started(state: inout Void, context: inout Context<Step>) throws {
        context.trapExit = trapExit
    }

    func handle(_ message: Step, state: inout Void, context: inout Context<Step>) throws {
        try message.body(&context)
    }

    func handle(signal: Signal, state: inout Void, context: inout Context<Step>) throws {
        events?.yield(.signal(signal))
    }

    func terminate(reason: ExitReason, state: inout Void, context: inout Context<Step>) {
        events?.yield(.terminated(reason))
    }
}

/// An error a test makes a process throw.
struct Boom: Error, Equatable { var tag = "boom" }

/// The next element of `stream`, or nil if none comes within `seconds`.
func next<T: Sendable>(_ stream: AsyncStream<T>, within seconds: Double = 5) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask {
            var iterator = stream.makeAsyncIterator()
            return await iterator.next()
        }
        group.addTask {
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// Makes a puppet and the stream of its events.
func puppet(_ node: Node, trapExit: Bool = false, on scheduler: Int? = nil) async throws -> (Address<Step>, AsyncStream<Puppet.Event>) {
    let (stream, continuation) = AsyncStream<Puppet.Event>.makeStream()
    let address = try await node.spawn(Puppet(trapExit: trapExit, events: continuation), on: scheduler)
    return (address, stream)
}

/// Waits until `condition` holds or `seconds` pass.
func eventually(within seconds: Double = 5, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(2))
    }
    return await condition()
}

/// A process that watches one other process (monitor) and reports its down reason.
func watchDown<M>(_ node: Node, _ target: Address<M>) async throws -> AsyncStream<Puppet.Event> {
    let (watcher, events) = try await puppet(node)
    let (ack, acks) = try await node.receiver(of: Bool.self)
    node.send(Step { context in
        context.monitor(target)
        context.send(true, to: ack)
    }, to: watcher)
    _ = await next(acks)
    return events
}

/// Waits for `target` to exit (a monitor's down signal: at once, `noproc`,
/// if it is gone already); its exit reason, or nil after `seconds`.
@discardableResult
func exitReason<M>(_ node: Node, _ target: Address<M>, within seconds: Double = 5) async throws -> ExitReason? {
    await downReason(try await watchDown(node, target), within: seconds)
}

/// Whether `target` exits within `seconds` (woken by its down signal, no polling).
func exits<M>(_ node: Node, _ target: Address<M>, within seconds: Double = 5) async -> Bool {
    (try? await exitReason(node, target, within: seconds)) != nil
}

/// Whether the puppet answers a call: it is alive, and it has handled
/// everything queued before the call (on one scheduler, everything its
/// thread did before) — the event that shows a "nothing happened" check
/// comes late enough.
func answers(_ node: Node, _ puppet: Address<Step>) async -> Bool {
    let reply: Bool? = try? await node.call(puppet, Step { context in context.reply(true) }, timeout: .seconds(5))
    return reply == true
}

/// What a stream holds already (the events yielded so far, without waiting for more).
func buffered<T: Sendable>(_ stream: AsyncStream<T>) async -> T? {
    await next(stream, within: 0.05)
}
