import Calf
import Glibc
import Testing

/// Mail a turn sends to a process on another scheduler leaves in batches
/// (`OutgoingMail`): these check that nothing observable changes but when
/// it leaves. Every message arrives once and in order, and whatever the
/// sender does next that another thread can see (an exit, an exit signal, a
/// reply) comes after it. Where the test can, the sender holds its thread
/// for 20 ms after that act, so that a batch left waiting until the end of
/// the turn would come behind what the act caused (an exit has no user code
/// after it: there the window is the end of the turn).
@Suite(.timeLimit(.minutes(2))) struct OutgoingMailTests {
    /// Collects numbers; reports what it has on `.last` or on an exit signal (it traps exits).
    struct Collector: Behavior {
        enum Message: Sendable {
            case number(Int)
            case last
        }
        typealias State = [Int]
        let report: Address<[Int]>

        func initialState() -> [Int] { [] }

        func started(state: inout [Int], context: inout Context<Message>) throws {
            context.trapExit = true
        }

        func handle(_ message: Message, state: inout [Int], context: inout Context<Message>) {
            switch message {
            case .number(let number): state.append(number)
            case .last: context.send(state, to: report)
            }
        }

        func handle(signal: Signal, state: inout [Int], context: inout Context<Message>) {
            if case .exit = signal { context.send(state, to: report) }
        }
    }

    /// A collector pinned to scheduler 0 and a puppet pinned to scheduler 1.
    private func pair(_ node: Node) async throws -> (Address<Collector.Message>, AsyncStream<[Int]>, Address<Step>) {
        let (report, reports) = try await node.receiver(of: [Int].self, on: 0)
        let collector = try await node.spawn(Collector(report: report), on: 0)
        let (sender, _) = try await puppet(node, on: 1)
        return (collector, reports, sender)
    }

    @Test func aLongStreamToAnotherSchedulerArrivesWholeAndInOrder() async throws {
        let node = try Node(schedulers: 2)
        let (collector, reports, sender) = try await pair(node)
        let (other, _) = try await node.receiver(of: Int.self, on: 0)
        // Batches fill (1, 8, 64 messages), and a send elsewhere now and then pushes one early.
        node.send(Step { context in
            for number in 0..<10_000 {
                context.send(.number(number), to: collector)
                if number % 1_000 == 999 { context.send(number, to: other) }
            }
            context.send(.last, to: collector)
        }, to: sender)
        #expect(await next(reports) == Array(0..<10_000))
        try await node.shutdown()
    }

    @Test func mailSentBeforeAnExitArrivesBeforeItsExitSignal() async throws {
        let node = try Node(schedulers: 2)
        let (collector, reports, sender) = try await pair(node)
        node.send(Step { context in
            context.link(collector)
            for number in 0..<500 { context.send(.number(number), to: collector) }
            throw Boom()
        }, to: sender)
        #expect(await next(reports) == Array(0..<500))
        try await node.shutdown()
    }

    @Test func mailSentBeforeAnExitSignalArrivesBeforeIt() async throws {
        let node = try Node(schedulers: 2)
        let (collector, reports, sender) = try await pair(node)
        node.send(Step { context in
            for number in 0..<500 { context.send(.number(number), to: collector) }
            context.exit(collector, reason: .shutdown)
            usleep(20_000)
        }, to: sender)
        #expect(await next(reports) == Array(0..<500))
        try await node.shutdown()
    }

    @Test func mailSentBeforeAReplyArrivesBeforeWhatTheCallerSendsNext() async throws {
        let node = try Node(schedulers: 2)
        let (collector, reports, sender) = try await pair(node)
        let answer: Int = try await node.call(sender, Step { context in
            for number in 0..<500 { context.send(.number(number), to: collector) }
            context.reply(500)
            usleep(20_000)
        })
        // Sent from outside once the reply is in: behind the 500.
        node.send(.number(answer), to: collector)
        node.send(.last, to: collector)
        #expect(await next(reports) == Array(0...500))
        try await node.shutdown()
    }
}
