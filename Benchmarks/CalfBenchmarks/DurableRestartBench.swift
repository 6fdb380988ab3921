import Calf
import CalfStore
import Foundation

/// A durable child that counts, crashes on demand and answers pings.
struct ReplayChild: DurableBehavior {
    enum Message: Codable, Sendable { case add, crash, ping }
    struct State: Codable { var total = 0 }

    /// One snapshot per round: after a crash it replays exactly the adds of its round.
    var snapshotEvery: Int? { DurableRestartBench.replayed + 1 }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .add: state.total += 1
        case .crash: throw RestartBench.Crash()
        case .ping: context.reply(state.total)
        }
    }
}

/// Each round: 100 messages to the durable child (waited for), then the
/// clock starts, the child crashes, and the clock stops when it answers a
/// call after its rebuild (snapshot + replay of those 100 messages).
struct DurableRestartDriver: Behavior {
    enum Message: Sendable {
        case start(rounds: Int, child: Address<ReplayChild.Message>, done: Address<[UInt64]>)
        case warm
        case answered
        case failed(CallError)
    }
    final class State {
        let rounds = CrashRounds()
        var child: Address<ReplayChild.Message>?
    }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout Context<Message>) throws {
        switch message {
        case .start(let rounds, let child, let done):
            state.rounds.start(rounds: rounds, done: done)
            state.child = child
            round(state, &context)
        case .warm:
            guard let child = state.child else { return }
            state.rounds.crashNow()
            context.send(.crash, to: child)
            ping(child, then: .answered, &context)
        case .answered:
            if state.rounds.answered(&context) { round(state, &context) }
        case .failed(let error):
            throw error
        }
    }

    private func round(_ state: State, _ context: inout Context<Message>) {
        guard let child = state.child else { return }
        for _ in 0..<DurableRestartBench.replayed { context.send(.add, to: child) }
        ping(child, then: .warm, &context)
    }

    private func ping(_ child: Address<ReplayChild.Message>, then next: Message, _ context: inout Context<Message>) {
        context.call(child, .ping, timeout: .seconds(30)) { (result: Result<Int, CallError>) in
            switch result {
            case .success: next
            case .failure(let error): .failed(error)
            }
        }
    }
}

/// The durable half of the `restart` benchmark of `calf bench`.
public enum DurableRestartBench {
    /// Messages replayed by each restart.
    static let replayed = 100

    /// Runs `rounds` crash-and-restart rounds of a durable child under a
    /// `oneForOne` supervisor and prints the rate and the latency from crash
    /// to the rebuilt child answering a call.
    public static func run(rounds: Int, durability: StoreEnvironment.Durability, report: Report) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-bench-restart-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        // One failure dead-letters the crash message: the retry would crash again.
        let options = DurableOptions(path: dir.path, durability: durability, behaviors: [ReplayChild.self],
                                     checkpointInterval: .seconds(3600), maximumFailures: 1)
        let node = try Node(schedulers: 1, durable: options)
        var spec = SupervisorSpec("bench", strategy: .oneForOne, intensity: rounds + 1, period: .seconds(3600)) {
            ChildSpec.durable("child", ReplayChild())
        }
        spec.reportsCrashes = false // as OTP's figures, with logging off
        let root = try await node.startSupervisor(spec, on: 0)
        guard let pid = try await root.whichChildren().first?.pid, let child = await node.address(of: pid, as: ReplayChild.Message.self) else {
            throw CallError.noProcess("the bench's durable child")
        }
        let driver = try await node.spawn(DurableRestartDriver(), on: 0)
        let (done, results) = try await node.receiver(of: [UInt64].self)
        let began = now()
        node.send(.start(rounds: rounds, child: child, done: done), to: driver)
        var iterator = results.makeAsyncIterator()
        guard let latencies = await iterator.next() else { return }
        let elapsed = now() - began
        let all = latencies.sorted()
        let label = "restart_durable_\(durability.rawValue)"
        report.figure(label, Double(latencies.count) / elapsed, "rounds/s", note: "each round also journals and handles \(replayed) messages")
        report.figure("\(label)_median", Double(all[all.count / 2]) / 1000, "µs", note: "crash to the child answering a call after replaying \(replayed) messages")
        report.figure("\(label)_p99", Double(all[all.count * 99 / 100]) / 1000, "µs")
        try await node.shutdown()
    }
}
