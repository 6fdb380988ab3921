import Calf
import CalfGraphs

/// A graph worker (an in-node reaction): the health of the tasks it
/// depends on, derived from their outcomes as they come. For each task:
/// runs seen, failures, the passing streak, the mean duration of its
/// last `window` runs, and the last failure with its last line of
/// output; a task that failed and then passed with the same causes counts
/// as flaky. Its state is journaled, so `state dev/health` (and `--at`)
/// shows it as it was at any point.
///
/// ```yaml
/// - worker: health
///   behavior: BuildHealth
///   config: { window: 20 }
///   dependsOn: { test: completed }
/// ```
public struct BuildHealth: GraphWorker {
    /// How many recent runs the mean duration is over (20 when not given).
    public var window: Int?

    /// Health over the last `window` runs.
    public init(window: Int? = nil) { self.window = window }

    /// What it takes.
    public enum Message: Codable, Sendable {
        /// An upstream task's run ended.
        case outcome(TaskOutcome)
        /// The health of every task (the reply).
        case report
    }

    /// One task's health.
    public struct TaskHealth: Codable, Sendable, Equatable {
        /// Runs seen, and how many did not succeed.
        public var runs = 0
        public var failures = 0
        /// Successes in a row, up to now.
        public var streak = 0
        /// Failures followed by a success of a run with the same causes (a test that passes when run again).
        public var flaky = 0
        /// The durations of its last runs, in milliseconds.
        public var durations: [Int64] = []
        /// Its last failure: the run, and its last line of output.
        public var lastFailure: String?
        /// The causes of its last failed run (to tell a flaky pass).
        public var failedCauses: [String]?

        /// The mean of `durations`.
        public var meanDurationMs: Int64 { durations.isEmpty ? 0 : durations.reduce(0, +) / Int64(durations.count) }
    }

    /// Each task's health, by name.
    public typealias State = [String: TaskHealth]

    /// The node's name for it.
    public static var behaviorName: String { "BuildHealth" }

    /// The message for an outcome.
    public static func message(_ outcome: TaskOutcome) -> Message { .outcome(outcome) }

    /// Nothing seen yet.
    public func initialState() -> State { [:] }

    /// Takes an outcome into its task's health.
    public func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .report:
            context.reply(state)
        case .outcome(let outcome):
            var health = state[outcome.task] ?? TaskHealth()
            health.runs += 1
            health.durations = Array((health.durations + [outcome.durationMs]).suffix(max(1, window ?? 20)))
            if outcome.status == .succeeded {
                if health.streak == 0, health.failedCauses == outcome.causes { health.flaky += 1 }
                health.streak += 1
                health.failedCauses = nil
            } else {
                health.failures += 1
                health.streak = 0
                health.failedCauses = outcome.causes
                health.lastFailure = "#\(outcome.run) \(outcome.status.rawValue)" + (outcome.tail.last.map { ": \($0)" } ?? "")
            }
            state[outcome.task] = health
        }
    }
}

/// The behaviors of the dev-loop example, for a node's registry.
public enum DevLoopExample {
    /// `BuildHealth`, the graph worker of `Supervisors/dev.yaml`.
    public static let registry = BehaviorRegistry(durable: [BuildHealth.self])
}
