import Calf
import Synchronization
import Testing

/// What the test workers did, shared with the test (any thread).
final class Board: Sendable {
    struct Entry: Sendable {
        var starts = 0
        var address: Address<WorkerMessage>?
        var terminations: [ExitReason] = []
        /// Fail this many of the next starts.
        var failNextStarts = 0
    }

    /// Someone waiting for a child's starts or terminations to reach a count.
    private struct Waiter {
        var id: String
        var starts: Int?
        var terminations: Int?
        var continuation: CheckedContinuation<Bool, Never>
        var token: Int
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let waiters = Mutex<(next: Int, all: [Waiter])>((0, []))
    /// Every start and termination in order, as "start id" / "stop id".
    private let log = Mutex<[String]>([])

    func started(_ id: String, _ address: Address<WorkerMessage>) {
        entries.withLock { $0[id, default: Entry()].starts += 1; $0[id, default: Entry()].address = address }
        log.withLock { $0.append("start \(id)") }
        wakeWaiters()
    }

    func terminated(_ id: String, _ reason: ExitReason) {
        entries.withLock { $0[id, default: Entry()].terminations.append(reason) }
        log.withLock { $0.append("stop \(id)") }
        wakeWaiters()
    }

    /// Waits until `id` has started `count` times: true once it has, woken
    /// by the start itself (no polling); false after `seconds` without it.
    func waitForStarts(_ id: String, _ count: Int, within seconds: Double = 10) async -> Bool {
        await wait(id, starts: count, terminations: nil, within: seconds)
    }

    /// Waits until `id` has terminated `count` times (see `waitForStarts`).
    func waitForTerminations(_ id: String, _ count: Int, within seconds: Double = 10) async -> Bool {
        await wait(id, starts: nil, terminations: count, within: seconds)
    }

    private func satisfied(_ id: String, starts: Int?, terminations: Int?) -> Bool {
        let entry = entries.withLock { $0[id] } ?? Entry()
        return (starts.map { entry.starts >= $0 } ?? true) && (terminations.map { entry.terminations.count >= $0 } ?? true)
    }

    private func wait(_ id: String, starts: Int?, terminations: Int?, within seconds: Double) async -> Bool {
        let token = waiters.withLock { state -> Int in
            state.next += 1
            return state.next
        }
        let met = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            waiters.withLock { $0.all.append(Waiter(id: id, starts: starts, terminations: terminations, continuation: continuation, token: token)) }
            wakeWaiters()
            Task { [self] in
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                let expired = waiters.withLock { state -> Waiter? in
                    guard let index = state.all.firstIndex(where: { $0.token == token }) else { return nil }
                    return state.all.remove(at: index)
                }
                expired?.continuation.resume(returning: false)
            }
        }
        return met
    }

    private func wakeWaiters() {
        let ready = waiters.withLock { state -> [Waiter] in
            let ready = state.all.filter { satisfied($0.id, starts: $0.starts, terminations: $0.terminations) }
            state.all.removeAll { waiter in ready.contains { $0.token == waiter.token } }
            return ready
        }
        for waiter in ready { waiter.continuation.resume(returning: true) }
    }

    /// Whether this start must fail (and counts it down).
    func shouldFail(_ id: String) -> Bool {
        entries.withLock { entries in
            guard entries[id, default: Entry()].failNextStarts > 0 else { return false }
            entries[id, default: Entry()].failNextStarts -= 1
            return true
        }
    }

    func failNextStarts(_ id: String, _ count: Int) {
        entries.withLock { $0[id, default: Entry()].failNextStarts = count }
    }

    func starts(_ id: String) -> Int { entries.withLock { $0[id]?.starts ?? 0 } }
    func address(_ id: String) -> Address<WorkerMessage>? { entries.withLock { $0[id]?.address } }
    func terminations(_ id: String) -> [ExitReason] { entries.withLock { $0[id]?.terminations ?? [] } }
    var events: [String] { log.withLock { $0 } }
    func clearEvents() { log.withLock { $0.removeAll() } }
}

enum WorkerMessage: Sendable {
    /// Exit with this reason (a crash for an error).
    case exit(ExitReason)
    /// Replies "pong".
    case ping
}

struct StartFailure: Error, Equatable {}

/// OTP's supervisor_1: a worker that reports to a board, exits on demand
/// and, trapping exits, takes its time or ignores a shutdown.
struct TestWorker: Behavior {
    typealias Message = WorkerMessage
    typealias State = Void
    let id: String
    let board: Board
    /// Trap exits and ignore the supervisor's shutdown signal (it must be killed).
    var ignoresShutdown = false
    /// Trap exits and stop with the signal's reason (terminate runs).
    var trapsExits = false

    func started(state: inout Void, context: inout Context<WorkerMessage>) throws {
        if board.shouldFail(id) { throw StartFailure() }
        context.trapExit = ignoresShutdown || trapsExits
        board.started(id, context.address)
    }

    func handle(_ message: WorkerMessage, state: inout Void, context: inout Context<WorkerMessage>) throws {
        switch message {
        case .exit(let reason): throw Exit(reason)
        case .ping: context.reply("pong")
        }
    }

    func handle(signal: Signal, state: inout Void, context: inout Context<WorkerMessage>) throws {
        if case .exit(_, let reason) = signal, !ignoresShutdown { context.stop(reason) }
    }

    func terminate(reason: ExitReason, state: inout Void, context: inout Context<WorkerMessage>) {
        board.terminated(id, reason)
    }
}

/// A child spec running a `TestWorker`; `ignore` makes its start return `.ignore`.
func worker(
    _ id: String, _ board: Board, restart: ChildRestart = .permanent, shutdown: ChildShutdown = .timeout(.seconds(1)),
    ignore: Bool = false, ignoresShutdown: Bool = false, trapsExits: Bool = false, backoff: Backoff? = nil
) -> ChildSpec {
    ChildSpec(id: id, restart: restart, shutdown: shutdown, backoff: backoff, behavior: "TestWorker") { context in
        if ignore { return .ignore }
        return .started(ChildProcess(try context.spawn(TestWorker(id: id, board: board, ignoresShutdown: ignoresShutdown, trapsExits: trapsExits))))
    }
}

extension SupervisorRef {
    /// The pid of child `id`, if running.
    func pid(of id: String) async throws -> Pid? {
        try await whichChildren().first { $0.id == id }?.pid
    }

    /// Waits until `condition` holds on the children, or fails the test.
    func children(within seconds: Double = 5, _ condition: @escaping ([ChildInfo]) -> Bool) async -> [ChildInfo] {
        var last: [ChildInfo] = []
        _ = await eventually(within: seconds) {
            last = (try? await whichChildren()) ?? []
            return condition(last)
        }
        return last
    }
}

/// [specs, active, supervisors, workers], as OTP's tests compare them.
func counts(_ supervisor: SupervisorRef) async throws -> [Int] {
    let counts = try await supervisor.countChildren()
    return [counts.specs, counts.active, counts.supervisors, counts.workers]
}

/// The reason in the next down signal of a `watchDown` stream.
func downReason(_ events: AsyncStream<Puppet.Event>, within seconds: Double = 5) async -> ExitReason? {
    guard case .signal(.down(_, _, let reason)) = await next(events, within: seconds) else { return nil }
    return reason
}
