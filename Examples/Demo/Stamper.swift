import Calf
import Glibc

/// A durable process that asks for one effect per order: `{"stamp":{"id":7}}`
/// asks for a `Stamp` (once per id, however often the order comes) and
/// answers the number of orders; each stamp's completion is noted with its
/// key. What the kill -9 test of effects drives: every order stamped, each
/// completion taken once, every run of a stamp with the same key.
public struct Stamper: DurableBehavior {
    /// The file each run of a stamp appends its line to.
    public var log: String

    /// Stamps to the file at `log`.
    public init(log: String) { self.log = log }

    /// The effect it asks for.
    public static var effects: [any DurableEffect.Type] { [Stamp.self] }

    /// What it takes.
    public enum Message: Codable, Sendable, EffectCompletionMessage {
        /// Asks for the stamp of order `id` (once per id) and answers the orders taken.
        case stamp(id: Int)
        /// A stamp's outcome.
        case effectCompleted(EffectCompletion)
    }

    /// The orders and their stamps.
    public struct State: Codable {
        /// Order ids, as taken.
        public var orders: [Int] = []
        /// The order of each stamp under way, by effect id.
        public var pending: [String: Int] = [:]
        /// Each stamped order's effect key, by order id.
        public var stamped: [String: String] = [:]
        /// Completions taken for an effect that was not under way, or for an order stamped already (none, ever).
        public var twice: [String] = []
        /// Failed stamps (none, ever).
        public var failed: [String] = []
    }

    /// Nothing taken.
    public func initialState() -> State { State() }

    /// Takes an order, or notes a stamp.
    public func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .stamp(let id):
            if !state.orders.contains(id) {
                let effect = try context.perform(Stamp(id: id, log: log))
                state.pending[String(effect.id)] = id
                state.orders.append(id)
            }
            context.reply(state.orders.count)
        case .effectCompleted(let completion):
            guard let id = state.pending.removeValue(forKey: String(completion.effect.id)) else {
                state.twice.append("effect \(completion.effect.id)")
                return
            }
            if let failure = completion.failure { state.failed.append("\(id): \(failure)") }
            if state.stamped[String(id)] != nil { state.twice.append("order \(id)") }
            state.stamped[String(id)] = completion.key
        }
    }
}

/// One order's stamp: appends `ID KEY ATTEMPT` to a file, then takes 30 to
/// 120 ms (a node killed meanwhile runs it again at its next start).
public struct Stamp: DurableEffect {
    /// The order.
    public var id: Int
    /// The file.
    public var log: String

    /// Appends the line, waits, returns the order's id.
    public func run(_ attempt: EffectAttempt) async throws -> Int {
        let line = Array("\(id) \(attempt.key) \(attempt.number)\n".utf8)
        let fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StampFailure(reason: "cannot open \(log): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard line.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == line.count else {
            throw StampFailure(reason: "cannot append to \(log)")
        }
        try await Task.sleep(for: .milliseconds(Int.random(in: 30...120)))
        return id
    }
}

/// Why a stamp failed.
public struct StampFailure: Error, CustomStringConvertible {
    /// What went wrong.
    public var reason: String
    /// The reason.
    public var description: String { reason }
}
