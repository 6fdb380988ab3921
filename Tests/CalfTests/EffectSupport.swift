import Calf
import Foundation
import Synchronization

/// What the effects of the tests did: each attempt (its word, key and
/// number), each cancellation seen, and the gate blocking effects wait at.
enum EffectLog {
    struct Attempt: Sendable, Equatable {
        var word: String
        var key: String
        var number: Int
    }
    private static let attempts = Mutex<[Attempt]>([])
    private static let cancellations = Mutex<[String]>([])
    private static let open = Mutex<Set<String>>([])

    static func record(_ word: String, _ attempt: EffectAttempt) {
        attempts.withLock { $0.append(Attempt(word: word, key: attempt.key, number: attempt.number)) }
    }

    static func attempts(of word: String) -> [Attempt] { attempts.withLock { $0.filter { $0.word == word } } }

    static func cancelled(_ word: String) -> Bool { cancellations.withLock { $0.contains(word) } }

    /// Lets the effects of `word` waiting at the gate through.
    static func openGate(for word: String) { _ = open.withLock { $0.insert(word) } }

    /// Waits until the gate of `word` is open; notes a cancellation and throws it.
    static func waitAtGate(_ word: String) async throws {
        while !open.withLock({ $0.contains(word) }) {
            do {
                try await Task.sleep(for: .milliseconds(2))
            } catch {
                cancellations.withLock { $0.append(word) }
                throw error
            }
        }
    }
}

/// A failure a test effect throws, retryable unless `terminal`.
struct FlakyFailure: EffectError, CustomStringConvertible {
    var terminal = false
    var kind: String { terminal ? "refused" : "flaky" }
    var description: String { terminal ? "refused for good" : "not this time" }
}

/// The test effect: upper-cases a word, after failing its first attempts
/// (of each run) or waiting at its gate, as asked.
struct Shout: DurableEffect {
    var word: String
    var failingAttempts = 0
    var terminal = false
    var waits = false

    func run(_ attempt: EffectAttempt) async throws -> String {
        EffectLog.record(word, attempt)
        if waits { try await EffectLog.waitAtGate(word) }
        if attempt.number <= failingAttempts { throw FlakyFailure(terminal: terminal) }
        return word.uppercased()
    }
}

/// An effect type no behavior lists (the node cannot run it again after a restart).
struct Unlisted: DurableEffect {
    func run(_ attempt: EffectAttempt) async throws -> Int { 1 }
}

/// A durable process that asks for `Shout` effects and keeps what came back.
struct Shouter: DurableBehavior {
    static var effects: [any DurableEffect.Type] { [Shout.self] }

    enum Message: Codable, Sendable, EffectCompletionMessage {
        case shout(Shout)
        /// A shout whose retries wait a minute.
        case shoutSlowly(Shout)
        case cancelLast
        case unlisted
        case get
        case effectCompleted(EffectCompletion)
    }

    struct State: Codable, Equatable, Sendable {
        var asked: [UInt64] = []
        var results: [String: String] = [:]
        var failures: [String] = []
        var completions: [EffectCompletion] = []
    }

    func initialState() -> State { State() }

    func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .shout(let shout):
            let retry = RetryPolicy(maximumAttempts: 3, initialBackoff: .milliseconds(1), maximumBackoff: .milliseconds(5))
            state.asked.append(try context.perform(shout, retry: retry).id)
        case .shoutSlowly(let shout):
            let retry = RetryPolicy(maximumAttempts: 3, initialBackoff: .seconds(60), jitter: 0)
            state.asked.append(try context.perform(shout, retry: retry).id)
        case .cancelLast:
            if let last = state.asked.last { context.cancelEffect(EffectRef(id: last)) }
        case .unlisted:
            try context.perform(Unlisted())
        case .get:
            context.reply(state.completions.count)
        case .effectCompleted(let completion):
            state.completions.append(completion)
            switch completion.result(as: String.self) {
            case .success(let value): state.results[value.lowercased()] = value
            case .failure(let failure): state.failures.append(failure.kind)
            }
        }
    }
}

func shouterOptions(_ path: String, checkpointAtShutdown: Bool = false) -> DurableOptions {
    var options = DurableOptions(path: path, durability: .process, behaviors: [Shouter.self], checkpointInterval: .seconds(3600), mapSize: 1 << 20)
    options.checkpointAtShutdown = checkpointAtShutdown
    return options
}

/// The Shouter registered as `name`, once it has handled everything sent so far.
func shouterState(_ node: Node, _ name: String) async throws -> Shouter.State {
    guard let address = node.address(named: name, as: Shouter.Message.self) else { throw Boom(tag: "no \(name)") }
    let _: Int = try await node.call(address, .get)
    return try await node.state(of: address, as: Shouter.self)
}
