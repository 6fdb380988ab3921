import Calf
import Foundation

/// A supervised child that tells the driver it is up and answers pings.
struct RestartChild: Behavior {
    enum Message: Sendable { case crash, ping }
    typealias State = Void
    let driver: Address<RestartDriver.Message>

    func started(state: inout Void, context: inout Context<Message>) throws {
        context.send(.childUp(context.address), to: driver)
    }

    func handle(_ message: Message, state: inout Void, context: inout Context<Message>) throws {
        switch message {
        case .crash: throw RestartBench.Crash()
        case .ping: context.reply(true)
        }
    }
}

/// Crashes the child, waits for its successor to answer a call, records the
/// time from crash to answer, and goes again.
struct RestartDriver: Behavior {
    enum Message: Sendable {
        case childUp(Address<RestartChild.Message>)
        case answered
        case failed(CallError)
        case start(rounds: Int, done: Address<[UInt64]>)
    }
    final class State {
        let rounds = CrashRounds()
        var child: Address<RestartChild.Message>?
    }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout Context<Message>) throws {
        switch message {
        case .start(let rounds, let done):
            state.rounds.start(rounds: rounds, done: done)
            crash(state, &context)
        case .childUp(let child):
            state.child = child
            guard state.rounds.crashing else { return }
            context.call(child, .ping) { (result: Result<Bool, CallError>) in
                switch result {
                case .success: .answered
                case .failure(let error): .failed(error)
                }
            }
        case .answered:
            if state.rounds.answered(&context) { crash(state, &context) }
        case .failed(let error):
            throw error
        }
    }

    private func crash(_ state: State, _ context: inout Context<Message>) {
        guard let child = state.child else { return }
        state.rounds.crashNow()
        context.send(.crash, to: child)
    }
}

/// The `restart` benchmark of `calf bench`.
public enum RestartBench {
    struct Crash: Error {}

    static func nanoseconds() -> UInt64 { UInt64(now() * 1e9) }

    /// Runs `rounds` crash-and-restart rounds of a transient child under a
    /// `oneForOne` supervisor whose intensity never trips, and prints the rate
    /// and the latency from crash to the new child answering a call. With
    /// `durableSupervisor`, the supervisor is durable (on a node with a data
    /// directory, `process` level): each restart is journaled too, and the
    /// first and last 1,000 rounds show whether that cost grows with the history.
    public static func run(rounds: Int, durableSupervisor: Bool = false, report: Report) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-bench-restart-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let node = durableSupervisor
            ? try Node(schedulers: 1, durable: DurableOptions(path: dir.path, durability: .process, behaviors: [], checkpointInterval: .seconds(3600)))
            : try Node(schedulers: 1)
        let driver = try await node.spawn(RestartDriver(), on: 0)
        // Never reached: the bookkeeping must still cost the same on every restart.
        var spec = SupervisorSpec("bench", strategy: .oneForOne, intensity: rounds + 1, period: .seconds(3600), durable: durableSupervisor) {
            ChildSpec.worker("child") { RestartChild(driver: driver) }
        }
        spec.reportsCrashes = false // as OTP's figures, with logging off
        _ = try await node.startSupervisor(spec, on: 0)
        let (done, results) = try await node.receiver(of: [UInt64].self)
        let began = now()
        node.send(.start(rounds: rounds, done: done), to: driver)
        var iterator = results.makeAsyncIterator()
        guard let latencies = await iterator.next() else { return }
        let elapsed = now() - began
        let label = durableSupervisor ? "restart_durable_supervisor" : "restart_transient"
        report.figure(label, Double(latencies.count) / elapsed, "restarts/s",
                      note: durableSupervisor ? "a transient child under a durable supervisor: each restart journaled" : "")
        let first = Array(latencies.prefix(1_000))
        let last = Array(latencies.suffix(1_000))
        let all = latencies.sorted()
        report.figure("\(label)_median", Double(all[all.count / 2]) / 1000, "µs", note: "crash to the new child answering a call")
        report.figure("\(label)_p99", Double(all[all.count * 99 / 100]) / 1000, "µs")
        report.figure("\(label)_first_1000", 1e9 * Double(first.count) / Double(first.reduce(0, +)), "restarts/s")
        report.figure("\(label)_last_1000", 1e9 * Double(last.count) / Double(last.reduce(0, +)), "restarts/s", note: "after \(rounds - 1_000) restarts in the window")
        report.figure("\(label)_median_first_1000", Double(first.sorted()[first.count / 2]) / 1000, "µs")
        report.figure("\(label)_median_last_1000", Double(last.sorted()[last.count / 2]) / 1000, "µs")
        try await node.shutdown()
    }
}
